"""LoCoMo (Maharana et al., ACL 2024) loaders and the two-speaker ingestion protocol.

The protocol mirrors MemOS's and Mem0's LoCoMo scripts, so numbers are comparable with what
memory systems report:

* Each conversation is added twice, once as each speaker's memory. In speaker X's memory X's
  turns are ``role=user`` and the other speaker's ``role=assistant``; every turn's content is
  ``"Speaker: text"`` (image captions are not added, as in those scripts), its id the turn's
  ``dia_id`` and its timestamp the session's ``session_N_date_time``.
* Questions of categories 1-4 are asked; 5 (adversarial: no answer in the conversation) is
  skipped. Category names follow MemOS's scripts (:data:`CATEGORIES`).
* A question's relevant turns are its ``evidence`` dia_ids. The public file has a few malformed
  ones; :func:`clean_evidence` repairs the mechanical damage ("D8:6; D9:17" is two ids,
  "D:11:26" is D11:26) and drops ids that name no turn of the conversation ("D", or a turn
  past a session's end). A question left without evidence is kept out of recall (and counted):
  there is nothing to recall.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from graphmem.eval.protocol import EvalTurn
from graphmem.formats import locomo_datetime

CATEGORIES: dict[int, str] = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
ADVERSARIAL = 5
_SESSION_KEY = re.compile(r"session_(\d+)")
_EVIDENCE_ID = re.compile(r"D:?(\d+):(\d+)")
_EVIDENCE_SPLIT = re.compile(r"[;,\s]+")


@dataclass(frozen=True)
class LocomoTurn:
    """One turn as LoCoMo stores it, with the date of its session."""

    dia_id: str
    speaker: str
    text: str
    session: int
    timestamp: datetime | None


@dataclass(frozen=True)
class LocomoQuestion:
    """A question of categories 1-4 with its cleaned evidence turn ids."""

    sample_id: str
    index: int
    question: str
    answer: str
    category: int
    evidence: frozenset[str]

    @property
    def category_name(self) -> str:
        return CATEGORIES[self.category]


@dataclass(frozen=True)
class LocomoConversation:
    """One LoCoMo sample: two speakers, their dated turns in order, and its questions."""

    sample_id: str
    speakers: tuple[str, str]
    turns: tuple[LocomoTurn, ...]
    questions: tuple[LocomoQuestion, ...]
    skipped_no_evidence: int = 0
    dropped_evidence_ids: tuple[str, ...] = ()

    def turn_dates(self) -> dict[str, datetime]:
        """dia_id → session date, for putting a date beside a retrieved turn in a prompt."""
        return {t.dia_id: t.timestamp for t in self.turns if t.timestamp is not None}


def speaker_memory(conversation: LocomoConversation, speaker: str) -> list[EvalTurn]:
    """The conversation as ``speaker``'s memory (the protocol in the module docstring)."""
    if speaker not in conversation.speakers:
        raise ValueError(f"{speaker!r} is not a speaker of {conversation.sample_id}")
    return [
        EvalTurn(
            id=t.dia_id,
            role="user" if t.speaker == speaker else "assistant",
            content=f"{t.speaker}: {t.text}",
            timestamp=t.timestamp,
            session=f"s{t.session}",
            speaker=t.speaker,
        )
        for t in conversation.turns
        if t.text.strip()
    ]


def clean_evidence(raw: Iterable[str], known: Iterable[str]) -> tuple[list[str], list[str]]:
    """(evidence ids that name a turn, raw pieces that do not), in order, without repeats."""
    valid = set(known)
    kept: list[str] = []
    dropped: list[str] = []
    for entry in raw:
        for piece in _EVIDENCE_SPLIT.split(str(entry).strip()):
            if not piece:
                continue
            match = _EVIDENCE_ID.fullmatch(piece)
            dia_id = f"D{match.group(1)}:{match.group(2)}" if match else piece
            if dia_id in valid:
                if dia_id not in kept:
                    kept.append(dia_id)
            else:
                dropped.append(piece)
    return kept, dropped


def _turns(conversation: dict[str, Any]) -> list[LocomoTurn]:
    sessions = sorted(
        (int(m.group(1)), key)
        for key in conversation
        if (m := _SESSION_KEY.fullmatch(key)) and isinstance(conversation[key], list)
    )
    turns: list[LocomoTurn] = []
    for number, key in sessions:
        when = locomo_datetime(conversation.get(f"{key}_date_time"))
        for raw in conversation[key]:
            turns.append(
                LocomoTurn(str(raw["dia_id"]), str(raw["speaker"]), str(raw.get("text", "")),
                           number, when)
            )
    return turns


def parse_sample(sample: dict[str, Any]) -> LocomoConversation:
    """One sample of locomo10.json; questions of category 5 and without evidence left out."""
    convo = sample["conversation"]
    sample_id = str(sample.get("sample_id", "locomo"))
    turns = _turns(convo)
    known = [t.dia_id for t in turns]
    questions: list[LocomoQuestion] = []
    skipped = 0
    dropped: list[str] = []
    for index, qa in enumerate(sample.get("qa", [])):
        category = int(qa["category"])
        if category == ADVERSARIAL or category not in CATEGORIES:
            continue
        evidence, bad = clean_evidence(qa.get("evidence", []), known)
        dropped.extend(bad)
        if not evidence:
            skipped += 1
            continue
        questions.append(
            LocomoQuestion(sample_id, index, str(qa["question"]), str(qa.get("answer", "")),
                           category, frozenset(evidence))
        )
    return LocomoConversation(
        sample_id=sample_id,
        speakers=(str(convo["speaker_a"]), str(convo["speaker_b"])),
        turns=tuple(turns),
        questions=tuple(questions),
        skipped_no_evidence=skipped,
        dropped_evidence_ids=tuple(dropped),
    )


def locomo_file(data: Path) -> Path:
    """``data`` itself, or the one LoCoMo JSON file in the folder ``data``."""
    if data.is_file():
        return data
    found = sorted(p for p in data.glob("*.json") if p.name.lower().startswith("locomo"))
    if len(found) != 1:
        raise FileNotFoundError(
            f"expected one locomo*.json in {data}, found {[p.name for p in found]}"
        )
    return found[0]


def load_conversations(
    data: Path, select: Sequence[str] | None = None, limit: int | None = None
) -> list[LocomoConversation]:
    """Conversations of ``data`` in file order; ``select`` keeps those named by position in the
    file (0-based) or by sample id; ``limit`` keeps the first N of what is left."""
    with locomo_file(data).open(encoding="utf-8") as fh:
        raw: Any = json.load(fh)
    samples: list[dict[str, Any]] = raw if isinstance(raw, list) else [raw]
    chosen = list(enumerate(samples))
    if select is not None:
        wanted = set(select)
        chosen = [(i, s) for i, s in chosen
                  if str(i) in wanted or str(s.get("sample_id")) in wanted]
        found = {str(i) for i, _ in chosen} | {str(s.get("sample_id")) for _, s in chosen}
        missing = wanted - found
        if missing:
            raise ValueError(f"no conversation {sorted(missing)} in {data}")
    conversations = [parse_sample(s) for _, s in chosen]
    return conversations[:limit] if limit is not None else conversations
