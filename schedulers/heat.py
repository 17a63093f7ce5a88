"""Heat: a decayed, rank-weighted count of how often a cube is retrieved.

Hits are buffered in process and written in batches (cypher/scheduler/record_hits.cypher),
because retrieval is latency-sensitive and a write round trip per search would double its cost.
The buffer is folded per (actor, cube) before it is sent, with the same decay the graph
applies, so one flush of N hits is one query whatever N is.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graphmem.errors import GraphMemError
from graphmem.policies import SchedulerPolicy
from graphmem.store.protocol import QueryStore

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
RankedIds = Sequence[str] | Sequence[tuple[str, int]]


def aware(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC: Neo4j stores them as LocalDateTime, which neither
    compares with the zoned times the graph holds nor has an epoch."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def decayed(heat: float, heat_at: datetime | None, now: datetime, half_life_s: float) -> float:
    """Heat as of `now`; the same formula the Cypher files use, for callers that hold a row."""
    if heat_at is None or heat <= 0:
        return max(heat, 0.0)
    lives = (aware(now) - aware(heat_at)).total_seconds() / half_life_s
    return float(heat * 0.5 ** max(lives, 0.0))


@dataclass(frozen=True)
class Retrieval:
    """One search's result list as the recorder keeps it until the next flush."""

    actor: str
    at: datetime
    ranked: tuple[tuple[str, int], ...]


@dataclass
class FlushResult:
    """What one flush did: `hits` buffered hits were sent, `cubes` cubes were updated (fewer
    when ids were unreadable by their actor, archived since, or repeated)."""

    hits: int = 0
    cubes: int = 0
    queries: int = 0
    heat: dict[str, float] = field(default_factory=dict)


def _ranked(cube_ids_with_rank: RankedIds) -> tuple[tuple[str, int], ...]:
    """Accept plain ids (rank = position) or (id, rank) pairs; the first rank of an id wins."""
    out: dict[str, int] = {}
    for position, item in enumerate(cube_ids_with_rank):
        if isinstance(item, str):
            cube_id, rank = item, position
        else:
            cube_id, rank = str(item[0]), int(item[1])
        if cube_id and cube_id not in out:
            out[cube_id] = rank
    return tuple(out.items())


class HitRecorder:
    """Buffers retrieval hits and flushes them in one batched, ACL-scoped write.

    Thread-safe: a server may record from many request threads; the buffer is swapped out under
    a lock and written outside it, so recording never waits on Neo4j unless it triggers the
    flush itself. A search records with `background=True`: the flush its hits trigger then
    runs on a thread of its own, since a write transaction inline (~20 ms on two cores) landed
    on every sixth or seventh search and set the search's p95. Flushes are serialised, so an
    explicit `flush()` (tick, close, status) returns only once an earlier one is written.
    """

    def __init__(self, store: QueryStore, policy: SchedulerPolicy, clock: Clock) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._buffer: list[Retrieval] = []
        self._pending = 0
        self._flusher: threading.Thread | None = None

    @property
    def pending(self) -> int:
        """Hits recorded but not yet written."""
        return self._pending

    def record(self, actor: str, cube_ids_with_rank: RankedIds,
               at: datetime | None = None, *, background: bool = False) -> FlushResult | None:
        """Buffer one search's results; flushes (and returns what it wrote) once the buffer
        holds `policy.hit_batch_size` hits, or with `background` starts that flush on its own
        thread and returns None."""
        ranked = _ranked(cube_ids_with_rank)
        if not ranked:
            return None
        with self._lock:
            self._buffer.append(Retrieval(actor, aware(at or self._clock()), ranked))
            self._pending += len(ranked)
            full = self._pending >= self._policy.hit_batch_size
            start = full and background and (self._flusher is None
                                              or not self._flusher.is_alive())
            if start:
                self._flusher = threading.Thread(target=self._flush_quietly,
                                                 name="graphmem-heat", daemon=True)
                self._flusher.start()
        return self.flush() if full and not background else None

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except GraphMemError as exc:
            log.warning("scheduler: hit flush failed, hits kept for the next flush: %s", exc)

    def flush(self) -> FlushResult:
        """Write every buffered hit in one query. On a store error the hits go back into the
        buffer (up to ten batches' worth, so an outage cannot grow it without bound)."""
        with self._flush_lock:
            return self._flush()

    def _flush(self) -> FlushResult:
        with self._lock:
            taken, self._buffer = self._buffer, []
            count, self._pending = self._pending, 0
        if not taken:
            return FlushResult()
        try:
            rows = self._store.write_query(
                "scheduler/record_hits", rows=self.rows(taken),
                half_life_s=self._policy.half_life_s)
        except GraphMemError:
            with self._lock:
                keep = taken + self._buffer
                limit = self._policy.hit_batch_size * 10
                dropped = sum(len(r.ranked) for r in keep[:-limit]) if len(keep) > limit else 0
                self._buffer = keep[-limit:]
                self._pending = sum(len(r.ranked) for r in self._buffer)
            if dropped:
                log.warning("hit buffer over its bound during a store outage: dropped %d hits",
                            dropped)
            raise
        return FlushResult(hits=count, cubes=len(rows), queries=1,
                           heat={str(r["id"]): float(r["heat"]) for r in rows})

    def rows(self, retrievals: Sequence[Retrieval]) -> list[dict[str, Any]]:
        """The `$rows` of record_hits.cypher: per actor, hits folded per cube (weights decayed
        to the latest hit) and co-retrieval pairs among each search's top results."""
        half_life = self._policy.half_life_s
        top_n = self._policy.co_retrieval_top_n
        hits: dict[str, dict[str, list[tuple[datetime, float]]]] = {}
        pairs: dict[str, dict[tuple[str, str], tuple[datetime, int]]] = {}
        for r in retrievals:
            per_cube = hits.setdefault(r.actor, {})
            for cube_id, rank in r.ranked:
                per_cube.setdefault(cube_id, []).append((r.at, self._policy.rank_weight(rank)))
            top = sorted(cid for cid, rank in sorted(r.ranked, key=lambda x: x[1])[:top_n])
            per_pair = pairs.setdefault(r.actor, {})
            for i, a in enumerate(top):
                for b in top[i + 1:]:
                    last, n = per_pair.get((a, b), (r.at, 0))
                    per_pair[(a, b)] = (max(last, r.at), n + 1)
        out: list[dict[str, Any]] = []
        for actor, per_cube in hits.items():
            folded = []
            for cube_id, events in per_cube.items():
                latest = max(at for at, _ in events)
                add = sum(w * 0.5 ** ((latest - at).total_seconds() / half_life)
                          for at, w in events)
                folded.append({"id": cube_id, "at": latest, "add": add, "count": len(events)})
            out.append({
                "actor": actor,
                "hits": folded,
                "pairs": [{"a": a, "b": b, "at": at, "count": n}
                          for (a, b), (at, n) in pairs.get(actor, {}).items()],
            })
        return out
