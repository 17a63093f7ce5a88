"""PrefEval (arXiv 2502.09597) loaders: items, relevance labels and distractor turns.

The conversation a memory system sees follows the official benchmark code: the turn(s) that
carry the preference first, then the first N distractor turns, then the question (which is the
retrieval query, never ingested). Distractor turns are taken in order from the concatenation of
every conversation in ``filtered_inter_turns.json``; a turn is one user + assistant message
pair, so N turns are the first 2N messages.

Preference forms and the messages that count as relevant (recall is judged against them):

* ``explicit``: the user states the preference. The benchmark lets the evaluated model answer
  it; without a model a fixed neutral acknowledgement (:data:`EXPLICIT_ACK`) stands in. Only the
  user message is relevant: the acknowledgement says nothing about the preference.
* ``implicit-choice``: a query, the assistant's options, the user's pick and the assistant's
  acknowledgement. All four messages are relevant (the options and the pick only reveal the
  preference together).
* ``implicit-persona``: a 5-6 turn chat in which one user message reveals the preference,
  usually paraphrased. :func:`locate_preference_turns` finds it: the user message containing the
  normalised preference; otherwise the user message(s) whose best sentence covers the largest
  IDF-weighted share of the preference's stems (IDF over the topic file's persona messages, so
  "prefer" weighs less than "gadget"; ties all count); when no sentence shares a stem with the
  preference, every user message of the chat counts, as for the choice-based form. The
  lexical rule is deliberate (an embedding locator would favour the dense baseline); spot checks
  show it picks a wrong or extra message for roughly 5% of persona items, where the preference
  is paraphrased with no shared word ("heights" / "high places").
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from graphmem.eval.protocol import EvalTurn, Retrieved
from graphmem.eval.text import best_sentence_coverage, contains_statement, normalise, stem_idf

EXPLICIT_ACK = "Thanks for telling me. I'll keep that in mind."
INTER_TURNS_FILE = "filtered_inter_turns.json"
SETTINGS: tuple[int, ...] = (0, 10, 70, 300)


class Form(StrEnum):
    EXPLICIT = "explicit"
    IMPLICIT_CHOICE = "implicit-choice"
    IMPLICIT_PERSONA = "implicit-persona"


FORM_DIRS: dict[Form, str] = {
    Form.EXPLICIT: "explicit_preference",
    Form.IMPLICIT_CHOICE: "implicit_preference/choice-based",
    Form.IMPLICIT_PERSONA: "implicit_preference/persona-driven",
}


class LocateRule(StrEnum):
    """How the relevant messages of an item were found (kept for auditing the labels)."""

    GIVEN = "given"
    SUBSTRING = "substring"
    OVERLAP = "overlap"
    WHOLE_CHAT = "whole-chat"


@dataclass(frozen=True)
class PrefEvalItem:
    """One benchmark question with the turns that carry its preference."""

    topic: str
    index: int
    form: Form
    preference: str
    question: str
    explanation: str
    turns: tuple[EvalTurn, ...]
    relevant_turn_ids: frozenset[str]
    locate_rule: LocateRule
    mcq_options: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        """Stable id of the item, safe to use inside user ids."""
        return f"{self.form.value}-{self.topic}-{self.index}"

    def is_hit(self, memory: Retrieved) -> bool:
        """Hit if provenance points at a relevant message or the text states the preference."""
        if self.relevant_turn_ids.intersection(memory.source_turn_ids):
            return True
        return contains_statement(memory.text, self.preference)

    def mcq(self, seed: int = 0) -> tuple[list[str], int]:
        """The four MCQ options shuffled per item, and the index of the preference-following one.

        PrefEval ships the aligned option first; the shuffle is seeded by the item so every
        run and every system sees the same order.
        """
        options = list(self.mcq_options)
        if not options:
            raise ValueError(f"item {self.key} has no mcq options")
        correct = options[0]
        random.Random(f"{seed}:{self.topic}:{self.index}").shuffle(options)
        return options, options.index(correct)


def topics(data_dir: Path) -> list[str]:
    """Topics present for every form (file stems of explicit_preference/)."""
    return sorted(p.stem for p in (data_dir / FORM_DIRS[Form.EXPLICIT]).glob("*.json"))


def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def locate_preference_turns(
    preference: str, user_texts: Sequence[str], idf: Mapping[str, float] | None = None
) -> tuple[list[int], LocateRule]:
    """Indices of the user messages that reveal ``preference`` (rule in the module docstring)."""
    target = f" {normalise(preference)} "
    exact = [i for i, t in enumerate(user_texts) if target in f" {normalise(t)} "]
    if exact:
        return exact, LocateRule.SUBSTRING
    scores = [best_sentence_coverage(preference, t, idf) for t in user_texts]
    best = max(scores, default=0.0)
    if best <= 0.0:
        return list(range(len(user_texts))), LocateRule.WHOLE_CHAT
    return [i for i, s in enumerate(scores) if s == best], LocateRule.OVERLAP


_Built = tuple[list[EvalTurn], set[str], LocateRule]


def _explicit(raw: dict[str, Any], prefix: str, idf: Mapping[str, float]) -> _Built:
    turns = [
        EvalTurn(f"{prefix}-0", "user", raw["preference"]),
        EvalTurn(f"{prefix}-1", "assistant", EXPLICIT_ACK),
    ]
    return turns, {turns[0].id}, LocateRule.GIVEN


def _choice(raw: dict[str, Any], prefix: str, idf: Mapping[str, float]) -> _Built:
    conv = raw["conversation"]
    parts = [
        ("user", conv["query"]),
        ("assistant", conv["assistant_options"]),
        ("user", conv["user_selection"]),
        ("assistant", conv["assistant_acknowledgment"]),
    ]
    turns = [EvalTurn(f"{prefix}-{i}", role, text) for i, (role, text) in enumerate(parts)]
    return turns, {t.id for t in turns}, LocateRule.GIVEN


def _persona(raw: dict[str, Any], prefix: str, idf: Mapping[str, float]) -> _Built:
    conv = raw["conversation"]
    turns: list[EvalTurn] = []
    user_turns: list[EvalTurn] = []
    for n, key in enumerate(sorted(conv, key=int)):
        user = EvalTurn(f"{prefix}-{2 * n}", "user", conv[key]["user"])
        turns += [user, EvalTurn(f"{prefix}-{2 * n + 1}", "assistant", conv[key]["assistant"])]
        user_turns.append(user)
    found, rule = locate_preference_turns(raw["preference"], [t.content for t in user_turns], idf)
    return turns, {user_turns[i].id for i in found}, rule


_BUILDERS: dict[Form, Callable[[dict[str, Any], str, Mapping[str, float]], _Built]] = {
    Form.EXPLICIT: _explicit,
    Form.IMPLICIT_CHOICE: _choice,
    Form.IMPLICIT_PERSONA: _persona,
}


def _persona_idf(raws: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Stem IDF over every persona user message of one topic file (all items, not a slice).

    Computed per file so an item's label never depends on --topics or --limit.
    """
    return stem_idf(turn["user"] for raw in raws for turn in raw.get("conversation", {}).values())


def load_items(
    data_dir: Path,
    forms: Iterable[Form] = tuple(Form),
    topic_names: Iterable[str] | None = None,
    limit: int | None = None,
) -> list[PrefEvalItem]:
    """Load items form by form, topic by topic (sorted), at most ``limit`` per form and topic."""
    chosen = list(topic_names) if topic_names is not None else topics(data_dir)
    items: list[PrefEvalItem] = []
    for form in forms:
        for topic in chosen:
            path = data_dir / FORM_DIRS[form] / f"{topic}.json"
            if not path.is_file():
                raise FileNotFoundError(f"no PrefEval file for topic {topic!r}: {path}")
            raws: list[dict[str, Any]] = _read_json(path)
            mcq_path = data_dir / "mcq_options" / f"{topic}.json"
            mcqs: list[dict[str, Any]] = _read_json(mcq_path) if mcq_path.is_file() else []
            idf = _persona_idf(raws) if form is Form.IMPLICIT_PERSONA else {}
            for index, raw in enumerate(raws[:limit] if limit is not None else raws):
                prefix = f"pref-{form.value}-{topic}-{index}"
                turns, relevant, rule = _BUILDERS[form](raw, prefix, idf)
                options = mcqs[index]["classification_task_options"] if index < len(mcqs) else []
                items.append(
                    PrefEvalItem(
                        topic=topic,
                        index=index,
                        form=form,
                        preference=raw["preference"],
                        question=raw["question"],
                        explanation=raw.get("explanation", ""),
                        turns=tuple(turns),
                        relevant_turn_ids=frozenset(relevant),
                        locate_rule=rule,
                        mcq_options=tuple(options),
                        extra={k: v for k, v in raw.items() if k in ("persona", "aligned_op")},
                    )
                )
    return items


def load_inter_turns(data_dir: Path) -> list[EvalTurn]:
    """All distractor messages, concatenated in file order, with ids ``inter-<n>``."""
    conversations: list[dict[str, Any]] = _read_json(data_dir / INTER_TURNS_FILE)
    messages = [m for conv in conversations for m in conv["conversation"]]
    return [EvalTurn(f"inter-{n}", m["role"], m["content"]) for n, m in enumerate(messages)]


def distractors(inter_messages: Sequence[EvalTurn], n_turns: int) -> list[EvalTurn]:
    """The first ``n_turns`` user+assistant turns (2 * n_turns messages)."""
    if n_turns < 0:
        raise ValueError("n_turns must be >= 0")
    needed = 2 * n_turns
    if needed > len(inter_messages):
        raise ValueError(
            f"{n_turns} distractor turns requested but only {len(inter_messages) // 2} exist"
        )
    chunk = list(inter_messages[:needed])
    if chunk and chunk[-1].role != "assistant":
        raise ValueError("distractor turns must end with an assistant message")
    return chunk


def conversation(
    item: PrefEvalItem, inter_messages: Sequence[EvalTurn], n_turns: int
) -> list[EvalTurn]:
    """What a system ingests for ``item`` at a setting: preference turns, then distractors."""
    return [*item.turns, *distractors(inter_messages, n_turns)]
