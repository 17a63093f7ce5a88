"""PersonaMem (Jiang et al., 2025) loader and multiple-choice answerers.

Release format: a questions CSV (persona_id, question_id, question_type, topic, ...,
user_question_or_message, correct_answer like "(c)", all_options as the repr of a Python list
of "(a) ..." strings, shared_context_id, end_index_in_shared_context) and a JSONL of shared
contexts, one ``{"<shared_context_id>": [{"role", "content"}, ...]}`` per line.

A question may only see its context up to ``end_index_in_shared_context``, exclusive (the
slice ``messages[:end_index]``, as the reference evaluations do); later messages hold the
answers to later questions. :func:`visible_turns` is the one place that cuts the context.

Without a language model, :class:`RetrievalChooser` answers from the retrieved memories alone:
each option is scored by how well the evidence supports it,

    score(option) = max_j cos(option, memory_j) + 0.5 * bm25(option) / max_o bm25(o)

where cos uses all-MiniLM-L6-v2 vectors and bm25(option) is the best BM25+ score of the option
(as a query) against the retrieved memory texts (as documents); BM25+ because Okapi's IDF goes
negative on a corpus of a handful of memories. The option with the highest
score wins; ties go to the first option. With no memories the question itself is the only
evidence, so the no-memory baseline still picks the option closest to the question rather
than always "(a)". The weight 0.5 was set before looking at any result and is not tuned.
:class:`LLMChooser` instead asks a chat model with the memories in the prompt.
"""

from __future__ import annotations

import ast
import csv
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from graphmem.eval.baselines import CachedEncoder
from graphmem.eval.llm import BenchmarkChat, memory_block
from graphmem.eval.protocol import EvalTurn, Retrieved
from graphmem.retrieval.baselines import Bm25Index
from graphmem.text import bm25_tokens

_LABEL = re.compile(r"^\s*\(([a-zA-Z])\)\s*")
LEXICAL_WEIGHT = 0.5


@dataclass(frozen=True)
class PersonaMemQuestion:
    question_id: str
    persona_id: str
    question_type: str
    topic: str
    question: str
    correct_answer: str
    options: tuple[str, ...]
    shared_context_id: str
    end_index: int
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def correct_index(self) -> int:
        return label_index(self.correct_answer)

    @property
    def option_texts(self) -> list[str]:
        """Options without their "(a) " labels (what gets compared with memories)."""
        return [_LABEL.sub("", o, count=1).strip() for o in self.options]


def label_index(label: str) -> int:
    """0 for "(a)", "a" or "(a) some text"; raises on anything else."""
    found = _LABEL.match(label) or re.match(r"^\s*([a-zA-Z])\s*$", label)
    if found is None:
        raise ValueError(f"not an option label: {label!r}")
    return ord(found.group(1).lower()) - ord("a")


def parse_options(raw: str) -> tuple[str, ...]:
    """all_options is a Python list repr (single quotes), sometimes JSON; both are accepted."""
    try:
        value: Any = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = json.loads(raw)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"all_options is not a list of strings: {raw[:80]!r}")
    return tuple(value)


_CORE = {
    "question_id",
    "persona_id",
    "question_type",
    "topic",
    "user_question_or_message",
    "correct_answer",
    "all_options",
    "shared_context_id",
    "end_index_in_shared_context",
}


def load_questions(csv_path: Path) -> list[PersonaMemQuestion]:
    with csv_path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    questions = []
    for row in rows:
        missing = _CORE - row.keys()
        if missing:
            raise ValueError(f"{csv_path}: missing columns {sorted(missing)}")
        questions.append(
            PersonaMemQuestion(
                question_id=row["question_id"],
                persona_id=row["persona_id"],
                question_type=row["question_type"],
                topic=row["topic"],
                question=row["user_question_or_message"],
                correct_answer=row["correct_answer"].strip(),
                options=parse_options(row["all_options"]),
                shared_context_id=row["shared_context_id"],
                end_index=int(float(row["end_index_in_shared_context"])),
                extra={k: v for k, v in row.items() if k not in _CORE},
            )
        )
    return questions


def load_contexts(
    jsonl_path: Path, wanted: Iterable[str] | None = None
) -> dict[str, list[EvalTurn]]:
    """Shared contexts as turns with ids ``<context_id>:<position>``; only ``wanted`` if given."""
    keep = set(wanted) if wanted is not None else None
    contexts: dict[str, list[EvalTurn]] = {}
    with jsonl_path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            record: dict[str, list[dict[str, str]]] = json.loads(line)
            for context_id, messages in record.items():
                if keep is None or context_id in keep:
                    contexts[context_id] = [
                        EvalTurn(f"{context_id}:{i}", m["role"], m["content"])
                        for i, m in enumerate(messages)
                    ]
    return contexts


def visible_turns(
    question: PersonaMemQuestion, contexts: Mapping[str, Sequence[EvalTurn]]
) -> list[EvalTurn]:
    """The part of the question's context it may see: ``messages[:end_index]``."""
    context = contexts[question.shared_context_id]
    if not 0 <= question.end_index <= len(context):
        raise ValueError(
            f"question {question.question_id}: end index {question.end_index} outside a "
            f"context of {len(context)} messages"
        )
    return list(context[: question.end_index])


class Chooser(Protocol):
    name: str

    def choose(
        self, question: str, options: Sequence[str], memories: Sequence[Retrieved]
    ) -> int | None:
        """Index of the chosen option; None when no answer could be read (scored wrong)."""
        ...


class RetrievalChooser:
    """Picks the option the retrieved memories support best (formula in the module docstring)."""

    name = "retrieval"

    def __init__(self, encoder: CachedEncoder, lexical_weight: float = LEXICAL_WEIGHT) -> None:
        self._encoder = encoder
        self._lexical_weight = lexical_weight

    def scores(
        self, question: str, options: Sequence[str], memories: Sequence[Retrieved]
    ) -> list[float]:
        evidence = [m.text for m in memories if m.text.strip()] or [question]
        cosine = self._encoder(list(options)) @ self._encoder(evidence).T
        dense = cosine.max(axis=1)
        bm25 = Bm25Index([bm25_tokens(e) for e in evidence], variant="plus")
        lexical = np.array(
            [max(bm25.scores(bm25_tokens(o)), default=0.0) for o in options], dtype=float
        )
        top = lexical.max(initial=0.0)
        lexical = lexical / top if top > 0.0 else np.zeros_like(lexical)
        return [float(x) for x in dense + self._lexical_weight * lexical]

    def choose(
        self, question: str, options: Sequence[str], memories: Sequence[Retrieved]
    ) -> int | None:
        if not options:
            return None
        return int(np.argmax(self.scores(question, options, memories)))


_ANSWER_LABEL = re.compile(r"\(([a-zA-Z])\)")


class LLMChooser:
    """Asks a chat model to answer the multiple choice with the memories in the prompt."""

    name = "llm"

    def __init__(self, client: BenchmarkChat) -> None:
        self._client = client

    def choose(
        self, question: str, options: Sequence[str], memories: Sequence[Retrieved]
    ) -> int | None:
        listed = "\n".join(f"({chr(ord('a') + i)}) {o}" for i, o in enumerate(options))
        reply = self._client.complete(
            [
                {
                    "role": "system",
                    "content": (
                        "You are a personal assistant. What you remember about the user:\n"
                        f"{memory_block(memories)}"
                    ),
                },
                {
                    "role": "user",
                    "content": (
                        f"{question}\n\nPick the best response to the user from:\n{listed}\n"
                        "Reply with the label only, for example (b)."
                    ),
                },
            ],
            json_mode=False,
            max_tokens=16,
        ).text
        found = _ANSWER_LABEL.search(reply) or re.match(r"^\s*([a-zA-Z])\b", reply)
        if found is None:
            return None
        index = ord(found.group(1).lower()) - ord("a")
        return index if 0 <= index < len(options) else None
