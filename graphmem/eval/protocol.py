"""The contract between the benchmarks and the memory systems they compare.

Benchmarks only ever talk to a :class:`MemorySystem`, so GraphMem, the in-process baselines and
any future system are scored by the same code path. Turn ids travel through the system and come
back on what it retrieves; that is what lets recall be judged by provenance rather than by
guessing from text alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class EvalTurn:
    """One message of a benchmark conversation; ``id`` is unique within one user's history.

    ``timestamp`` and ``session`` are for benchmarks whose conversations are dated and split
    into sessions (LoCoMo); systems that keep no time or sessions ignore them.
    """

    id: str
    role: str
    content: str
    timestamp: datetime | None = None
    session: str | None = None
    speaker: str | None = None  # who said it, where the benchmark names people (LoCoMo)


@dataclass(frozen=True)
class Retrieved:
    """One memory a system returned, with the turns it was derived from (may be empty)."""

    text: str
    source_turn_ids: list[str] = field(default_factory=list)
    score: float = 0.0


@runtime_checkable
class MemorySystem(Protocol):
    """What a benchmark needs from a memory system.

    ``ingest`` appends to what the user already has: benchmarks rely on that to replay a long
    conversation once and query it at several lengths (see ``runner``).
    """

    name: str

    def reset(self, user_id: str) -> None:
        """Forget everything stored for ``user_id``."""
        ...

    def ingest(self, user_id: str, turns: Sequence[EvalTurn]) -> None:
        """Add ``turns`` (in conversation order) to the user's memory."""
        ...

    def retrieve(self, user_id: str, query: str, k: int) -> list[Retrieved]:
        """Return at most ``k`` memories for ``query``, best first."""
        ...
