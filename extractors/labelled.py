"""Score any extractor against hand-labelled dialogue turns: facts, entities, relations, dates.

The labels (tests/data/extraction_labels.jsonl, one turn a line) were written by a person
reading each turn, never by running an extractor. 106 user-side turns: 47 from the LoCoMo
development conversations 0-4 (conv-26, -30, -41, -42, -43; text and session date copied
verbatim by dia_id from locomo10.json, CC BY-NC 4.0, Maharana et al. 2024), the 10 user turns
of graphmem/data/demo_conversation.json, and 49 written for the project (43 statements and 6
turns with nothing worth keeping, which measure what an extractor stores that it should not).
They cover where people live and work, family and pets, events with a time, plans, relations
between other people, places and things, and preferences.

Each turn carries its message timestamp and:
- facts: a short normalised statement, its kind (event, state, plan, preference) and its key
  terms. A key is a list of groups; a group is "a|b|c", alternatives of which one must occur.
  The statement itself must satisfy its own key (load_labels checks), so the key never asks
  for words the fact does not need.
- entities: people, places, organisations and things ("a|b" names accepted alternatives).
  Dates are not entities here; they are scored on their own.
- relations: (subject, relation, object); "I" is the speaker, the relation lists accepted
  verbs ("moved_to|lives_in").
- dates: every time phrase resolved against the timestamp to an inclusive ISO day range
  ("yesterday" on 2023-05-08 is 2023-05-07..2023-05-07, "last week" the ISO week before the
  timestamp's, "last year" the calendar year, "five years ago" that year).

Scoring (all text normalised by graphmem.text.bm25_tokens: lowercased content words, lightly
stemmed), each turn extracted on its own, as the user:
- fact recall: a labelled fact counts when one memory (fact or preference) of the turn holds
  every key group.
- entity recall and precision: a labelled and an extracted entity match when the extracted
  name holds every word of one accepted name and at most two more words ("the Berlin half
  marathon" matches "Berlin half marathon"; "Lisbon" does not match "Lisbon marathon").
  Precision leaves out the speaker's own name (the user node). A person only greeted ("Hey
  John") is not labelled, so extracting them costs precision.
- relation recall: an extracted edge joins the two labelled endpoints (either direction);
  typed recall also wants its name to share a verb with the label (first four letters of the
  first word: MOVE_TO meets "moved_to").
- date accuracy: a labelled date counts when a memory of the turn has valid_from in its range;
  a valid_from outside every labelled range of its turn is a date error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from graphmem.text import bm25_tokens, words

from .base import Extraction, Extractor, Turn

DEFAULT_LABELS = Path(__file__).resolve().parents[1] / "tests" / "data" / "extraction_labels.jsonl"
SPEAKER = "I"
FactKind = Literal["event", "state", "plan", "preference"]
Source = Literal["locomo", "demo", "written"]


class LabelError(ValueError):
    """The labels file is unreadable or a row breaks the labelling rules (with its line)."""


# --- the file's rows (pydantic: this is the edge) ----------------------------------------


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class FactRow(_Row):
    text: str = Field(min_length=1)
    key: list[str] = Field(min_length=1)
    kind: FactKind


class EntityRow(_Row):
    name: str = Field(min_length=1)
    type: str = "other"


class RelationRow(_Row):
    subject: str = Field(min_length=1)
    relation: str = Field(min_length=1)
    object: str = Field(min_length=1)


class DateRow(_Row):
    phrase: str = Field(min_length=1)
    start: date
    end: date


class TurnRow(_Row):
    id: str = Field(min_length=1)
    source: Source
    ref: str = Field(min_length=1)
    speaker: str = Field(min_length=1)
    timestamp: datetime
    text: str = Field(min_length=1)
    facts: list[FactRow] = Field(default_factory=list)
    entities: list[EntityRow] = Field(default_factory=list)
    relations: list[RelationRow] = Field(default_factory=list)
    dates: list[DateRow] = Field(default_factory=list)

    @field_validator("dates")
    @classmethod
    def _ordered(cls, v: list[DateRow]) -> list[DateRow]:
        for d in v:
            if d.end < d.start:
                raise ValueError(f"date {d.phrase!r} ends before it starts")
        return v


# --- labels as the scorer sees them ------------------------------------------------------


@dataclass(frozen=True)
class Names:
    """Accepted alternatives ("a|b c"), each as its set of normalised words."""

    raw: str
    options: tuple[frozenset[str], ...]

    @classmethod
    def parse(cls, raw: str) -> Names:
        options = tuple(frozenset(bm25_tokens(part)) for part in raw.split("|"))
        if not all(options):
            raise ValueError(f"{raw!r} has an alternative with no content word")
        return cls(raw, options)

    @property
    def first(self) -> str:
        return self.raw.split("|")[0].strip()

    def found_in(self, tokens: frozenset[str]) -> bool:
        """Some alternative's words all occur in `tokens`."""
        return any(option <= tokens for option in self.options)

    def names(self, name: str) -> bool:
        """An entity name matches: it holds an alternative's words and at most two more."""
        tokens = frozenset(bm25_tokens(name))
        return any(option <= tokens and len(tokens - option) <= 2 for option in self.options)


@dataclass(frozen=True)
class LabelledFact:
    text: str
    key: tuple[Names, ...]
    kind: FactKind


@dataclass(frozen=True)
class LabelledEntity:
    names: Names
    type: str


@dataclass(frozen=True)
class LabelledRelation:
    subject: Names | None  # None: the speaker
    verbs: tuple[str, ...]
    object: Names | None


@dataclass(frozen=True)
class LabelledDate:
    phrase: str
    start: date
    end: date

    def holds(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True)
class LabelledTurn:
    id: str
    source: Source
    ref: str
    speaker: str
    timestamp: datetime
    text: str
    facts: tuple[LabelledFact, ...] = ()
    entities: tuple[LabelledEntity, ...] = ()
    relations: tuple[LabelledRelation, ...] = ()
    dates: tuple[LabelledDate, ...] = ()

    def as_turn(self, *, speaker_prefix: bool = False) -> Turn:
        """The turn as an extractor receives it; with `speaker_prefix`, "Name: text", as the
        LoCoMo ingestion writes two-speaker conversations."""
        content = f"{self.speaker}: {self.text}" if speaker_prefix else self.text
        return Turn(self.id, "user", content, self.timestamp)


def load_labels(path: Path = DEFAULT_LABELS) -> list[LabelledTurn]:
    """Every row, validated; LabelError names the line of the first bad one."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise LabelError(f"labels file {path} cannot be read: {err}") from err
    turns: list[LabelledTurn] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            turn = _turn(TurnRow.model_validate(json.loads(line)))
        except (ValueError, ValidationError) as err:
            raise LabelError(f"{path}:{number}: {err}") from err
        if turn.id in seen:
            raise LabelError(f"{path}:{number}: duplicate id {turn.id!r}")
        seen.add(turn.id)
        turns.append(turn)
    if not turns:
        raise LabelError(f"labels file {path} has no rows")
    return turns


def _turn(row: TurnRow) -> LabelledTurn:
    facts = []
    for f in row.facts:
        key = tuple(Names.parse(group) for group in f.key)
        if not _holds(key, frozenset(bm25_tokens(f.text))):
            raise ValueError(f"fact {f.text!r} does not contain its own key {f.key}")
        facts.append(LabelledFact(f.text, key, f.kind))
    return LabelledTurn(
        row.id, row.source, row.ref, row.speaker, row.timestamp, row.text, tuple(facts),
        tuple(LabelledEntity(Names.parse(e.name), e.type) for e in row.entities),
        tuple(LabelledRelation(_endpoint(r.subject), _verbs(r.relation), _endpoint(r.object))
              for r in row.relations),
        tuple(LabelledDate(d.phrase, d.start, d.end) for d in row.dates),
    )


def _endpoint(raw: str) -> Names | None:
    return None if raw == SPEAKER else Names.parse(raw)


def _verbs(raw: str) -> tuple[str, ...]:
    verbs = tuple(dict.fromkeys(v for v in (_verb(part) for part in raw.split("|")) if v))
    if not verbs:
        raise ValueError(f"relation {raw!r} names no verb")
    return verbs


def _verb(name: str) -> str:
    """The comparable part of a relation name: the first four letters of its first word."""
    found = words(name.replace("_", " "))
    return found[0][:4] if found else ""


def _holds(key: Sequence[Names], tokens: frozenset[str]) -> bool:
    return all(group.found_in(tokens) for group in key)


# --- scoring -----------------------------------------------------------------------------


@dataclass
class TurnOutcome:
    """What one turn's extraction got right, item by item (in label order)."""

    turn: LabelledTurn
    memories: list[str]
    facts: list[bool]
    entities: list[bool]
    extracted_entities: list[tuple[str, bool]]
    entity_types: list[bool]
    relations: list[bool]
    relations_typed: list[bool]
    dates: list[bool]
    date_errors: int
    dated_memories: int

    def to_dict(self) -> dict[str, Any]:
        t = self.turn
        return {
            "id": t.id, "memories": self.memories,
            "facts_missed": [f.text for f, hit in zip(t.facts, self.facts, strict=True)
                             if not hit],
            "entities_missed": [e.names.raw for e, hit in
                                zip(t.entities, self.entities, strict=True) if not hit],
            "entities_extra": [n for n, ok in self.extracted_entities if not ok],
            "relations_missed": [_relation_text(r) for r, hit in
                                 zip(t.relations, self.relations, strict=True) if not hit],
            "dates_missed": [d.phrase for d, hit in zip(t.dates, self.dates, strict=True)
                             if not hit],
            "date_errors": self.date_errors,
        }


def _relation_text(rel: LabelledRelation) -> str:
    ends = [SPEAKER if e is None else e.raw for e in (rel.subject, rel.object)]
    return f"({ends[0]}, {'|'.join(rel.verbs)}, {ends[1]})"


def _share(hits: Iterable[bool]) -> float | None:
    flags = list(hits)
    return round(sum(flags) / len(flags), 4) if flags else None


@dataclass
class LabelledScores:
    extractor: str
    outcomes: list[TurnOutcome]
    seconds: float
    speaker_prefix: bool = False
    model: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def _flat(self, attr: str) -> list[bool]:
        return [hit for o in self.outcomes for hit in getattr(o, attr)]

    @property
    def fact_recall(self) -> float | None:
        return _share(self._flat("facts"))

    @property
    def entity_recall(self) -> float | None:
        return _share(self._flat("entities"))

    @property
    def entity_precision(self) -> float | None:
        return _share(ok for o in self.outcomes for _, ok in o.extracted_entities)

    @property
    def relation_recall(self) -> float | None:
        return _share(self._flat("relations"))

    @property
    def relation_typed_recall(self) -> float | None:
        return _share(self._flat("relations_typed"))

    @property
    def date_accuracy(self) -> float | None:
        return _share(self._flat("dates"))

    @property
    def date_errors(self) -> int:
        return sum(o.date_errors for o in self.outcomes)

    @property
    def msgs_per_s(self) -> float | None:
        return round(len(self.outcomes) / self.seconds, 1) if self.seconds > 0 else None

    def fact_recall_by(self, attr: Literal["kind", "source"]) -> dict[str, float | None]:
        groups: dict[str, list[bool]] = {}
        for o in self.outcomes:
            for fact, hit in zip(o.turn.facts, o.facts, strict=True):
                label = fact.kind if attr == "kind" else o.turn.source
                groups.setdefault(label, []).append(hit)
        return {k: _share(v) for k, v in sorted(groups.items())}

    def summary(self) -> dict[str, Any]:
        empty = [o for o in self.outcomes if not o.turn.facts]
        memories = [m for o in self.outcomes for m in o.memories]
        return {
            "extractor": self.extractor, "model": self.model,
            "speaker_prefix": self.speaker_prefix,
            "turns": len(self.outcomes),
            "facts": len(self._flat("facts")), "entities": len(self._flat("entities")),
            "relations": len(self._flat("relations")), "dates": len(self._flat("dates")),
            "fact_recall": self.fact_recall,
            "fact_recall_by_kind": self.fact_recall_by("kind"),
            "fact_recall_by_source": self.fact_recall_by("source"),
            "entity_recall": self.entity_recall, "entity_precision": self.entity_precision,
            "entities_extracted": sum(len(o.extracted_entities) for o in self.outcomes),
            "entity_type_agreement": _share(self._flat("entity_types")),
            "relation_recall": self.relation_recall,
            "relation_typed_recall": self.relation_typed_recall,
            "date_accuracy": self.date_accuracy, "date_errors": self.date_errors,
            "dated_memories": sum(o.dated_memories for o in self.outcomes),
            "memories": len(memories),
            "mean_memory_words": round(sum(len(words(m)) for m in memories) / len(memories), 1)
            if memories else None,
            "memories_on_empty_turns": sum(len(o.memories) for o in empty),
            "empty_turns": len(empty),
            "seconds": round(self.seconds, 3), "msgs_per_s": self.msgs_per_s,
            **self.notes,
        }


def score(extractor: Extractor, turns: Sequence[LabelledTurn], *,
          speaker_prefix: bool = False, user_id: str = "labelled-user") -> LabelledScores:
    """Extract every turn on its own (entities carry no turn, so one call per turn is what
    lets them be attributed) and compare with its labels; `seconds` is the extraction time."""
    outcomes: list[TurnOutcome] = []
    spent = 0.0
    model: str | None = None
    for turn in turns:
        started = time.perf_counter()
        extraction = extractor.extract([turn.as_turn(speaker_prefix=speaker_prefix)],
                                       user_id=user_id)
        spent += time.perf_counter() - started
        model = model or extraction.model
        outcomes.append(compare(turn, extraction, user_id=user_id))
    return LabelledScores(extractor.name, outcomes, spent, speaker_prefix, model)


def compare(turn: LabelledTurn, extraction: Extraction, *, user_id: str) -> TurnOutcome:
    """One turn's labels against one extraction of it."""
    memories = [m for m in extraction.memories if turn.id in m.episode_ids or not m.episode_ids]
    texts = [frozenset(bm25_tokens(m.text)) for m in memories]
    facts = [any(_holds(f.key, t) for t in texts) for f in turn.facts]
    speaker = frozenset({user_id.casefold(), "user", "i", "me", turn.speaker.casefold()})
    entities, judged, types = _entities(turn, extraction, speaker)
    relations, typed = _relations(turn, extraction, speaker)
    days = [m.valid_from.date() for m in memories if m.valid_from is not None]
    dates = [any(d.holds(day) for day in days) for d in turn.dates]
    errors = sum(not any(d.holds(day) for d in turn.dates) for day in days)
    return TurnOutcome(turn, [m.text for m in memories], facts, entities, judged, types,
                       relations, typed, dates, errors, len(days))


def _entities(turn: LabelledTurn, extraction: Extraction, speaker: frozenset[str]
              ) -> tuple[list[bool], list[tuple[str, bool]], list[bool]]:
    """(labelled entity found, (extracted name, labelled), type agrees for each found one).
    Dates are scored on their own, and the speaker is the user node, not an entity of theirs."""
    extracted = [e for e in extraction.entities
                 if e.type != "date" and e.name.casefold() not in speaker]
    found, types = [], []
    for label in turn.entities:
        match = next((e for e in extracted if label.names.names(e.name)), None)
        found.append(match is not None)
        if match is not None:
            types.append(match.type == label.type)
    judged = [(e.name, any(label.names.names(e.name) for label in turn.entities))
              for e in extracted]
    return found, judged, types


def _relations(turn: LabelledTurn, extraction: Extraction, speaker: frozenset[str]
               ) -> tuple[list[bool], list[bool]]:
    """(an edge joins the labelled endpoints, and also shares the label's verb) per label."""

    def joins(end: Names | None, name: str) -> bool:
        return name.casefold() in speaker if end is None else end.names(name)

    edges = [r for r in extraction.relations if turn.id in r.episode_ids or not r.episode_ids]
    found, typed = [], []
    for rel in turn.relations:
        linking = [r for r in edges
                   if (joins(rel.subject, r.source) and joins(rel.object, r.target))
                   or (joins(rel.subject, r.target) and joins(rel.object, r.source))]
        found.append(bool(linking))
        typed.append(any(_verb(r.relation) in rel.verbs for r in linking))
    return found, typed
