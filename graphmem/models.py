"""Public data model: the MemCube and the messages that feed it.

These pydantic models sit at the edges (API, CLI, bundles) and validate everything a caller
hands in, so the store below only ever sees well-formed rows. A MemCube round-trips to the
{"meta": ..., "payload": ...} JSON shape of the MemOS paper.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from graphmem.validation import storable_datetime

MemoryType = Literal["plaintext", "activation", "parametric"]
Priority = Literal["low", "mid", "high"]
Role = Literal["user", "assistant", "system", "tool"]


class CubeKind(StrEnum):
    """What a cube holds; each kind also becomes a Neo4j label on the cube node."""

    FACT = "fact"
    PREFERENCE = "preference"
    EPISODE = "episode"
    NOTE = "note"
    KV_CACHE = "kv_cache"
    LORA_ADAPTER = "lora_adapter"


class Status(StrEnum):
    """MemOS lifecycle states. Only generated/activated cubes are returned by search."""

    GENERATED = "generated"
    ACTIVATED = "activated"
    MERGED = "merged"
    ARCHIVED = "archived"
    FROZEN = "frozen"


SEARCHABLE_STATUSES: tuple[str, ...] = (Status.GENERATED.value, Status.ACTIVATED.value)

KIND_LABELS: dict[str, str] = {
    CubeKind.FACT: "Fact",
    CubeKind.PREFERENCE: "Preference",
    CubeKind.EPISODE: "EpisodeCube",
    CubeKind.NOTE: "Note",
    CubeKind.KV_CACHE: "KVCache",
    CubeKind.LORA_ADAPTER: "LoRAAdapter",
}

MEMORY_TYPE_OF_KIND: dict[str, MemoryType] = {
    CubeKind.KV_CACHE: "activation",
    CubeKind.LORA_ADAPTER: "parametric",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def content_hash(*parts: str) -> str:
    """Stable hash used for idempotent writes (same text in the same scope = same cube)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()[:32]


class Message(BaseModel):
    """One dialogue turn, as agent frameworks hand them over (OpenAI chat shape plus ids)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    role: Role
    content: str = Field(min_length=1)
    timestamp: datetime | None = None
    id: str | None = Field(default=None, min_length=1, max_length=200)
    # OpenAI's optional participant name: who spoke, when the role alone does not say (a
    # transcript of two people). A question that names the speaker finds their turns first.
    name: str | None = Field(default=None, min_length=1, max_length=100)

    _storable_timestamp = field_validator("timestamp")(storable_datetime)


class Provenance(BaseModel):
    """Where a cube came from: the turns, the extractor and the principal that wrote it."""

    model_config = ConfigDict(extra="forbid")

    episode_ids: list[str] = Field(default_factory=list)
    extractor: str | None = None
    extractor_version: str | None = None
    created_by: str | None = None
    session_id: str | None = None
    extracted_at: datetime | None = None


class CubeMeta(BaseModel):
    """The MemCube metadata header (MemOS §5): identity, lifecycle, access, provenance."""

    model_config = ConfigDict(extra="forbid")

    id: str
    memory_type: MemoryType = "plaintext"
    kind: CubeKind = CubeKind.FACT
    created: datetime
    updated: datetime
    source: str | None = None
    provenance: Provenance = Field(default_factory=Provenance)
    model: str | None = None
    priority: Priority = "mid"
    expires: datetime | None = None
    access: list[str] = Field(default_factory=list)
    status: Status = Status.GENERATED
    version: int = 1
    current: bool = True
    owner: str | None = None
    scope: str
    agent_id: str | None = None
    session_id: str | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    superseded_by: str | None = None
    heat: float = 0.0
    hits: int = 0


class CubePayload(BaseModel):
    """The memory itself. Plaintext cubes carry text; KV/LoRA cubes point at an artifact."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["explicit", "implicit"] = "explicit"
    format: Literal["text", "kv", "lora"] = "text"
    content: str
    attributes: dict[str, Any] = Field(default_factory=dict)


class MemCube(BaseModel):
    model_config = ConfigDict(extra="forbid")

    meta: CubeMeta
    payload: CubePayload

    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def text(self) -> str:
        return self.payload.content

    def to_memos_json(self) -> dict[str, Any]:
        """The MemOS paper's {"meta", "payload"} JSON (datetimes as ISO strings)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_memos_json(cls, data: dict[str, Any]) -> MemCube:
        return cls.model_validate(data)


class NewCube(BaseModel):
    """What a caller (or an extractor) asks to store; ids, times and versions are assigned."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: str = Field(min_length=1)
    kind: CubeKind = CubeKind.FACT
    priority: Priority = "mid"
    expires: datetime | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    entities: list[str] = Field(default_factory=list)
    episode_ids: list[str] = Field(default_factory=list)
    valid_from: datetime | None = None

    _storable_times = field_validator("expires", "valid_from")(storable_datetime)

    @field_validator("entities")
    @classmethod
    def _strip_entities(cls, v: list[str]) -> list[str]:
        return [e.strip() for e in v if e and e.strip()]


class SearchHit(BaseModel):
    cube: MemCube
    score: float
    scores: dict[str, float] = Field(default_factory=dict)
    explanation: str = ""


class CubeVersion(BaseModel):
    """One entry of a cube's history: the version, its text and who made it from what."""

    cube: MemCube
    previous_version: int | None = None


class AddResult(BaseModel):
    user_id: str
    scope: str
    extractor: str
    episodes_written: int
    cubes: list[MemCube]
    entities: list[str] = Field(default_factory=list)
    skipped_duplicates: int = 0
    superseded: list[str] = Field(default_factory=list)


class Conversation(BaseModel):
    """One conversation for GraphMem.add_many: the arguments of one `add` call."""

    model_config = ConfigDict(extra="forbid")

    messages: list[dict[str, Any] | Message] | str
    user_id: str | None = None
    session_id: str | None = None
    agent_id: str | None = None
    scope: str | None = None
    metadata: dict[str, Any] | None = None
