"""The one interface every extractor implements, and the plain data it returns.

Extractors know nothing about Neo4j: they turn dialogue turns into entities, facts and
preferences; the memory pipeline then resolves entities and writes the subgraph in one
transaction. Keeping them pure makes them testable on datasets without a database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

EntityType = Literal[
    "person", "place", "organization", "product", "food", "activity", "date", "other"
]
MemoryKind = Literal["fact", "preference"]
Polarity = Literal["positive", "negative"]
PreferenceCategory = Literal[
    "like", "dislike", "constraint", "habit", "goal", "diet", "allergy", "budget", "other"
]


@dataclass(frozen=True)
class Turn:
    """One dialogue turn already stored as an Episode node (episode_id is its node id)."""

    episode_id: str
    role: str
    content: str
    timestamp: datetime | None = None


@dataclass
class ExtractedEntity:
    name: str
    type: EntityType = "other"
    aliases: list[str] = field(default_factory=list)


@dataclass
class ExtractedMemory:
    """A fact or preference, phrased as a standalone statement about the user or the world.

    `topic` names what a preference is about ("crowds", "window seats"); two preferences on the
    same topic with opposite polarity are a contradiction, and the newer one supersedes.
    """

    text: str
    kind: MemoryKind
    episode_ids: list[str]
    entities: list[str] = field(default_factory=list)
    polarity: Polarity | None = None
    category: PreferenceCategory | None = None
    strength: float = 0.5
    topic: str | None = None
    valid_from: datetime | None = None
    confidence: float = 0.5


@dataclass
class ExtractedRelation:
    source: str
    relation: str
    target: str
    episode_ids: list[str] = field(default_factory=list)


@dataclass
class Extraction:
    entities: list[ExtractedEntity] = field(default_factory=list)
    memories: list[ExtractedMemory] = field(default_factory=list)
    relations: list[ExtractedRelation] = field(default_factory=list)
    extractor: str = "unknown"
    extractor_version: str = "0"
    model: str | None = None
    prompt_version: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0


class Extractor(Protocol):
    """Turns a batch of turns of one user into an Extraction."""

    name: str
    version: str

    def extract(self, turns: Sequence[Turn], *, user_id: str) -> Extraction: ...
