"""Working memory: a per-session prediction of the cubes the next turn will need.

After each turn the session's latest turns name some entities (through the cubes extracted
from them); the cubes about those entities are what the conversation is likely to come back
to, so they are preloaded. Retrieval can serve them first or warm a cache with them; the
measured hit rate (share of what a real search then returned that had been preloaded) says
whether the prediction is worth its read query.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from graphmem.schedulers.heat import aware
from graphmem.schedulers.policy import SchedulerPolicy
from graphmem.store.protocol import Store


@dataclass(frozen=True)
class PreloadedCube:
    """A predicted cube: `score` = recent turns mentioning its entities (`via`)."""

    id: str
    score: float
    heat: float
    via: tuple[str, ...]


@dataclass
class WorkingMemoryStats:
    """Hit-rate bookkeeping. Only searches made while a prediction was in place count
    (`observations`); searches before the first preload are `cold_starts`."""

    user_id: str
    session_id: str
    actor: str = ""  # the principal whose searches this session's prediction serves
    observations: int = 0
    retrieved: int = 0
    preloaded_hits: int = 0
    cold_starts: int = 0
    preloads: int = 0
    preloaded: int = 0
    last_preload_at: datetime | None = None

    @property
    def hit_rate(self) -> float | None:
        """Share of retrieved cube ids that had been preloaded; None before any observation."""
        return self.preloaded_hits / self.retrieved if self.retrieved else None


class WorkingMemory:
    """The preloaded cube ids of one (actor, session) and how well they predicted searches.
    `user_id` is whose turns the prediction reads (the owner filter of the preload query)."""

    def __init__(self, user_id: str, session_id: str, actor: str = "") -> None:
        self.user_id = user_id
        self.session_id = session_id
        self.actor = actor
        self.cubes: list[PreloadedCube] = []
        self.loaded = False
        self._stats = WorkingMemoryStats(user_id, session_id, actor)

    @property
    def cube_ids(self) -> list[str]:
        return [c.id for c in self.cubes]

    def __contains__(self, cube_id: object) -> bool:
        return any(c.id == cube_id for c in self.cubes)

    def preload(self, store: Store, policy: SchedulerPolicy, *, actor: str,
                now: datetime) -> list[str]:
        """Replace the prediction from the session's latest turns (cypher/scheduler/preload)."""
        rows = store.read_query(
            "scheduler/preload", actor=actor, owner=self.user_id, session_id=self.session_id,
            turns=policy.preload_turns, limit=policy.preload_limit, now=aware(now),
            half_life_s=policy.half_life_s)
        self.load([PreloadedCube(str(r["id"]), float(r["score"]), float(r["heat"]),
                                 tuple(r["via"])) for r in rows], now=now)
        return self.cube_ids

    def load(self, cubes: Sequence[PreloadedCube], *, now: datetime) -> None:
        """Install a prediction made elsewhere (e.g. by the retrieval layer)."""
        self.cubes = list(cubes)
        self.loaded = True
        stats = self.stats()
        stats.preloads += 1
        stats.preloaded = len(self.cubes)
        stats.last_preload_at = now

    def observe(self, retrieved: Sequence[str]) -> float | None:
        """Score the current prediction against what a real search returned; returns this
        search's hit rate (None when nothing was preloaded yet or nothing was retrieved)."""
        stats = self.stats()
        ids = list(dict.fromkeys(retrieved))
        if not self.loaded:
            stats.cold_starts += 1
            return None
        if not ids:
            return None
        predicted = set(self.cube_ids)
        hits = sum(1 for cid in ids if cid in predicted)
        stats.observations += 1
        stats.retrieved += len(ids)
        stats.preloaded_hits += hits
        return hits / len(ids)

    def stats(self) -> WorkingMemoryStats:
        return self._stats


class WorkingMemories:
    """The working memories of the sessions seen in this process, least recently used
    dropped first, so a long-running server does not grow one entry per session forever.

    Keyed by the acting principal and the session id: a session id is a caller's string, so
    another principal naming the same session gets its own working memory and never reads or
    overwrites this one."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._sessions: OrderedDict[tuple[str, str], WorkingMemory] = OrderedDict()

    def get(self, actor: str, session_id: str, user_id: str | None = None) -> WorkingMemory:
        key = (actor, session_id)
        with self._lock:
            wm = self._sessions.get(key)
            if wm is None:
                wm = WorkingMemory(user_id or actor.partition(":")[2], session_id, actor)
                self._sessions[key] = wm
                while len(self._sessions) > self._capacity:
                    self._sessions.popitem(last=False)
            else:
                self._sessions.move_to_end(key)
            return wm

    def peek(self, actor: str, session_id: str) -> WorkingMemory | None:
        with self._lock:
            return self._sessions.get((actor, session_id))

    def all_stats(self, actor: str | None = None) -> list[WorkingMemoryStats]:
        """Every session's stats, or only the sessions of `actor`."""
        with self._lock:
            return [wm.stats() for (owner, _), wm in self._sessions.items()
                    if actor is None or owner == actor]
