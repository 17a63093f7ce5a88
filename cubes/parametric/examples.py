"""Training examples for distillation, built from memory texts by a few fixed templates.

Why templates and not free generation: the examples decide what the adapter learns, so they must
be reproducible (same cubes, same examples, same hash in the manifest) and inspectable. The set is
deliberately small and says what it does:

- ``statement``: the memory text itself as plain text (continued pre-training on the memory);
- ``recall``: "What do you know about {subject}?" answered with the whole text;
- ``question``: for copular sentences ("S is O", "S are O", "S was O", "S were O"):
  "What is S?" answered with the whole sentence;
- ``cloze``: the first half of the words given, the rest to be completed.

The subject is the caller's (``MemoryText.subject``, e.g. the cube's entity) or else the part
before the copula; texts with neither get no ``recall`` form. Paraphrases of the questions come
from an optional callable (an LLM later); their output is part of the examples, hence of the hash,
so a different paraphraser yields a different, honestly labelled adapter.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

Form = Literal["statement", "recall", "question", "cloze", "paraphrase"]

#: Takes a question, returns other phrasings of it (possibly none).
Paraphraser = Callable[[str], Sequence[str]]

_COPULA = re.compile(r"^(?P<s>.+?)\s+(?P<cop>is|are|was|were)\s+(?P<o>.+?)[.!]?$", re.IGNORECASE)


@dataclass(frozen=True)
class MemoryText:
    """One memory to distil: a cube's id, version and text (plus an optional subject)."""

    cube_id: str
    version: int
    text: str
    subject: str | None = None


@dataclass(frozen=True)
class TrainingExample:
    """A prompt and the answer the adapter must produce. ``chat`` says whether the prompt is a
    question to format for the model's chat template (Q/A forms) or raw text (statements)."""

    cube_id: str
    form: Form
    prompt: str
    answer: str
    chat: bool = True


@dataclass(frozen=True)
class ExampleSet:
    examples: tuple[TrainingExample, ...]
    sha256: str
    cubes: tuple[tuple[str, int], ...]


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "!", "?")) else text + "."


def examples_for(memory: MemoryText,
                 paraphrase: Paraphraser | None = None) -> list[TrainingExample]:
    """The template examples of one memory, in a fixed order."""
    text = _sentence(memory.text)
    cid = memory.cube_id
    out = [TrainingExample(cid, "statement", "", text, chat=False)]
    questions: list[str] = []
    match = _COPULA.match(text)
    subject = memory.subject or (match.group("s") if match else None)
    if subject:
        questions.append(f"What do you know about {subject}?")
        out.append(TrainingExample(cid, "recall", questions[-1], text))
    if match:
        questions.append(f"What {match.group('cop').lower()} {match.group('s')}?")
        out.append(TrainingExample(cid, "question", questions[-1], text))
    words = text.split()
    if len(words) >= 4:
        half = len(words) // 2
        out.append(TrainingExample(cid, "cloze", "Complete from memory: "
                                   + " ".join(words[:half]) + " ...", " ".join(words[half:])))
    if paraphrase is not None:
        seen = set(questions)
        for q in questions:
            for p in paraphrase(q):
                p = " ".join(p.split())
                if p and p not in seen:
                    seen.add(p)
                    out.append(TrainingExample(cid, "paraphrase", p, text))
    return out


def build_examples(memories: Sequence[MemoryText],
                   paraphrase: Paraphraser | None = None) -> ExampleSet:
    """All examples of ``memories`` (in the order given) and their sha256 over a canonical JSON
    form, which the manifest records so that an adapter can be traced to exactly what it saw."""
    if not memories:
        raise ValueError("no memories to build examples from")
    examples = tuple(e for m in memories for e in examples_for(m, paraphrase))
    return ExampleSet(examples, examples_sha256(examples),
                      tuple((m.cube_id, m.version) for m in memories))


def examples_sha256(examples: Sequence[TrainingExample]) -> str:
    blob = json.dumps([asdict(e) for e in examples], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
