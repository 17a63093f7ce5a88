"""LLM-driven extraction: a versioned prompt, validated JSON, and two ways to reach a model.

The model is asked for one JSON object per batch of turns; the object is repaired when the
damage is mechanical (fences, trailing commas, truncation) and validated with pydantic. When
it still does not fit, the model is shown its error and asked again, up to llm_max_retries
times, and then ExtractionError says what came back. The prompt lives in prompts/ as a file
with a version id that every Extraction records, so a stored memory can be traced to the exact
instructions that produced it.

The model is reached through graphmem.llm (the one chat interface and the one place that
decides which model is configured).
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from graphmem.llm import ChatBackend, Message, backend_from_settings

from .base import (
    EntityType,
    ExtractedEntity,
    ExtractedMemory,
    ExtractedRelation,
    Extraction,
    PreferenceCategory,
    Turn,
)
from .dates import parse_date
from .errors import ExtractionError
from .json_salvage import parse_json_object

if TYPE_CHECKING:
    from graphmem.settings import Settings

log = logging.getLogger(__name__)

VERSION = "1"
DEFAULT_PROMPT = "extract_v1"
PROMPT_DIR = Path(__file__).parent / "prompts"
_USER_ROLES = frozenset({"user", "human"})


# --- the prompt -------------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    """A prompt file: its version id, the system text and the user-message template."""

    version: str
    system: str
    user_template: string.Template

    @classmethod
    def load(cls, name: str = DEFAULT_PROMPT, directory: Path = PROMPT_DIR) -> Prompt:
        path = directory / f"{name}.md"
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ExtractionError(f"prompt file {path} cannot be read: {err}") from err
        version = re.search(r"<!--\s*prompt_version:\s*([\w.-]+)\s*-->", raw)
        parts = re.split(r"<!--\s*(system|user)\s*-->\n?", raw)
        sections = dict(zip(parts[1::2], parts[2::2], strict=True))
        if version is None or set(sections) != {"system", "user"}:
            raise ExtractionError(
                f"prompt file {path} needs a prompt_version comment and system/user sections"
            )
        return cls(version.group(1), sections["system"].strip(),
                   string.Template(sections["user"].strip()))

    def messages(self, turns: Sequence[Turn], user_id: str) -> list[Message]:
        lines = [_turn_line(i, t) for i, t in enumerate(turns, start=1)]
        user = self.user_template.substitute(user_id=user_id, turns="\n".join(lines))
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


def _turn_line(number: int, turn: Turn) -> str:
    when = turn.timestamp.date().isoformat() if turn.timestamp else "unknown date"
    text = " ".join(turn.content.split())
    return f"[{number}] {turn.role} ({when}): {text}"


# --- the answer's schema ----------------------------------------------------------------

_ENTITY_TYPES: frozenset[str] = frozenset(get_args(EntityType))
_CATEGORIES: frozenset[str] = frozenset(get_args(PreferenceCategory))


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class EntityOut(_Lenient):
    name: str = Field(min_length=1)
    type: EntityType = "other"
    aliases: list[str] = Field(default_factory=list)

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, v: object) -> str:
        text = str(v or "other").strip().lower()
        return text if text in _ENTITY_TYPES else "other"


class RelationOut(_Lenient):
    source: str = Field(min_length=1)
    relation: str = Field(min_length=1)
    target: str = Field(min_length=1)
    turns: list[int] = Field(default_factory=list)

    @field_validator("relation")
    @classmethod
    def _snake(cls, v: str) -> str:
        return re.sub(r"[^A-Z0-9]+", "_", v.upper()).strip("_") or "RELATED_TO"


class _Scored(_Lenient):
    text: str = Field(min_length=1)
    entities: list[str] = Field(default_factory=list)
    turns: list[int] = Field(default_factory=list)
    confidence: float = 0.7

    @field_validator("confidence", mode="before")
    @classmethod
    def _clamp_confidence(cls, v: object) -> float:
        return _clamp(v, 0.7)


class PreferenceOut(_Scored):
    topic: str = Field(min_length=1)
    polarity: Literal["positive", "negative"]
    category: PreferenceCategory = "other"
    strength: float = 0.5

    @field_validator("polarity", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("category", mode="before")
    @classmethod
    def _known_category(cls, v: object) -> str:
        text = str(v or "other").strip().lower()
        return text if text in _CATEGORIES else "other"

    @field_validator("strength", mode="before")
    @classmethod
    def _clamp_strength(cls, v: object) -> float:
        return _clamp(v, 0.5)


class FactOut(_Scored):
    valid_from: str | None = None


class ExtractionOut(_Lenient):
    """What the prompt asks for. Unknown labels degrade to "other"; a missing polarity or
    topic is an error, because a preference without them cannot supersede anything."""

    entities: list[EntityOut] = Field(default_factory=list)
    relations: list[RelationOut] = Field(default_factory=list)
    preferences: list[PreferenceOut] = Field(default_factory=list)
    facts: list[FactOut] = Field(default_factory=list)


def _clamp(v: object, default: float) -> float:
    if v is None:
        return default
    try:
        number = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return min(1.0, max(0.0, number))


# --- the extractor ----------------------------------------------------------------------


class LLMExtractor:
    """Extraction by a chat model, batch_turns turns per request."""

    name = "llm"
    version = VERSION

    def __init__(self, settings: Settings, *, backend: ChatBackend | None = None,
                 batch_turns: int = 8, prompt: str = DEFAULT_PROMPT) -> None:
        if batch_turns < 1:
            raise ValueError("batch_turns must be at least 1")
        self.backend = backend or backend_from_settings(settings)
        self.prompt = Prompt.load(prompt)
        self._batch_turns = batch_turns
        self._max_retries = max(0, settings.llm_max_retries)

    def extract(self, turns: Sequence[Turn], *, user_id: str) -> Extraction:
        out = Extraction(extractor=self.name, extractor_version=VERSION,
                         model=self.backend.model, prompt_version=self.prompt.version)
        for start in range(0, len(turns), self._batch_turns):
            batch = turns[start : start + self._batch_turns]
            if not any(t.role.lower() in _USER_ROLES for t in batch):
                continue
            answer = self._ask(batch, user_id, out)
            _merge(out, answer, batch, user_id)
        return out

    def _ask(self, batch: Sequence[Turn], user_id: str, out: Extraction) -> ExtractionOut:
        """One request, then up to max_retries corrections showing the model its error."""
        messages = self.prompt.messages(batch, user_id)
        error = ""
        for _ in range(self._max_retries + 1):
            result = self.backend.complete(messages, schema=ExtractionOut)
            out.tokens_in += result.tokens_in
            out.tokens_out += result.tokens_out
            try:
                return ExtractionOut.model_validate(parse_json_object(result.text))
            except (ValueError, ValidationError) as err:
                error = _short_error(err)
                log.info("LLM output rejected (%s); asking again", error)
                messages = [*messages, {"role": "assistant", "content": result.text},
                            {"role": "user", "content": "Your last output was invalid JSON: "
                             f"{error}. Answer again with JSON only."}]
        raise ExtractionError(
            f"model {self.backend.model!r} gave no valid extraction JSON in "
            f"{self._max_retries + 1} attempts (prompt {self.prompt.version}); last error: "
            f"{error}"
        )


def _short_error(err: Exception) -> str:
    if isinstance(err, ValidationError):
        # Every problem (up to five), so one correction can fix them all.
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                             for e in err.errors()[:5])
        return f"{err.error_count()} schema error(s): {problems}"
    return str(err)


def _merge(out: Extraction, answer: ExtractionOut, batch: Sequence[Turn], user_id: str) -> None:
    """Add one batch's answer; items citing no user turn are dropped, since only the user's
    own words may become their memories. "user" in relations becomes the user id, as the
    offline extractor writes it."""
    known = {e.name.casefold() for e in out.entities}
    for ent in answer.entities:
        if ent.name.casefold() not in known:
            known.add(ent.name.casefold())
            out.entities.append(ExtractedEntity(ent.name, ent.type, list(ent.aliases)))
    for pref in answer.preferences:
        ids = _user_episodes(pref.turns, batch)
        if ids:
            _add_memory(out, ExtractedMemory(
                text=pref.text, kind="preference", episode_ids=ids, entities=pref.entities,
                polarity=pref.polarity, category=pref.category, strength=pref.strength,
                topic=pref.topic, confidence=pref.confidence,
            ))
    for fact in answer.facts:
        ids = _user_episodes(fact.turns, batch)
        if ids:
            _add_memory(out, ExtractedMemory(
                text=fact.text, kind="fact", episode_ids=ids, entities=fact.entities,
                valid_from=_valid_from(fact.valid_from, _reference(fact.turns, batch)),
                confidence=fact.confidence,
            ))
    for rel in answer.relations:
        ids = [batch[n - 1].episode_id for n in rel.turns if 1 <= n <= len(batch)]
        source, target = (user_id if n.casefold() == "user" else n
                          for n in (rel.source, rel.target))
        out.relations.append(ExtractedRelation(source, rel.relation, target, ids))


def _add_memory(out: Extraction, mem: ExtractedMemory) -> None:
    """One memory per (kind, text) across batches, citing every turn that stated it."""
    for known in out.memories:
        if (known.kind, known.text) == (mem.kind, mem.text):
            known.episode_ids.extend(e for e in mem.episode_ids if e not in known.episode_ids)
            return
    out.memories.append(mem)


def _user_episodes(numbers: list[int], batch: Sequence[Turn]) -> list[str]:
    """Episode ids of the cited user turns; with no citation, every user turn of the batch."""
    cited = [batch[n - 1] for n in numbers if 1 <= n <= len(batch)]
    pool = cited or list(batch)
    return [t.episode_id for t in pool if t.role.lower() in _USER_ROLES]


def _reference(numbers: list[int], batch: Sequence[Turn]) -> datetime | None:
    for n in numbers:
        if 1 <= n <= len(batch) and batch[n - 1].timestamp is not None:
            return batch[n - 1].timestamp
    return next((t.timestamp for t in batch if t.timestamp is not None), None)


def _valid_from(value: str | None, reference: datetime | None) -> datetime | None:
    """ISO dates as the prompt asks; other phrasings through the offline date parser."""
    if not value:
        return None
    tz = reference.tzinfo if reference and reference.tzinfo else UTC
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            day = date.fromisoformat(value[:10])
        except ValueError:
            return parse_date(value, reference)
        parsed = datetime(day.year, day.month, day.day)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
