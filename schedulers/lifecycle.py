"""Lifecycle transitions the scheduler drives: decay, activate, archive, merge.

Each transition is a read that decides (with the reason) and, only when there is something to
do, one batched write that re-checks every row and records one audit event
("lifecycle:activate", "lifecycle:archive", "lifecycle:merge"). Deciding in a read keeps a
quiet tick from writing anything, and re-checking in the write keeps a cube that a user
changed in between from being moved on stale information. Frozen cubes are excluded by every
query: freezing is how a user pins a memory against the scheduler.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from graphmem.policies import SchedulerPolicy
from graphmem.schedulers.heat import aware
from graphmem.store.protocol import AuditSpec, QueryStore

LIVE = ["generated", "activated"]


@dataclass
class Transition:
    """What one transition changed: cube ids, and how many for each reason."""

    ids: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.ids)


@dataclass
class Merge:
    """Near-duplicates merged: loser id -> survivor id, and how many cubes were compared."""

    merged: dict[str, str] = field(default_factory=dict)
    compared: int = 0

    @property
    def count(self) -> int:
        return len(self.merged)


@dataclass
class Decay:
    """Cubes whose heat was brought up to date, and how many of them are hot (hot_since set)."""

    updated: int = 0
    hot: int = 0


@dataclass(frozen=True)
class _Side:
    vid: str
    id: str
    heat: float
    created_at: datetime | None

    def rank(self) -> tuple[float, datetime]:
        """Survivor order: hotter wins, then newer (the latest phrasing of a memory)."""
        return (round(self.heat, 9), aware(self.created_at) if self.created_at else _EPOCH)


_EPOCH = aware(datetime(1970, 1, 1))


class Lifecycle:
    def __init__(self, store: QueryStore, policy: SchedulerPolicy) -> None:
        self._store = store
        self._policy = policy

    def _scope(self, actor: str | None, now: datetime) -> dict[str, Any]:
        return {"actor": actor, "now": aware(now), "half_life_s": self._policy.half_life_s}

    def _by(self, actor: str | None) -> str:
        return actor or self._policy.system_actor

    def decay(self, now: datetime, *, actor: str | None = None) -> Decay:
        """Persist decayed heat and start or stop each cube's hot_since clock (not audited:
        bookkeeping, not a change of what a memory is)."""
        rows = self._store.write_query(
            "scheduler/decay", floor=self._policy.heat_floor, hot_heat=self._policy.kv_heat,
            **self._scope(actor, now))
        return Decay(int(rows[0]["decayed"]), int(rows[0]["hot"] or 0)) if rows else Decay()

    def activate(self, now: datetime, *, actor: str | None = None) -> Transition:
        """generated -> activated for cubes whose heat reached policy.activate_heat."""
        rows = self._store.read_query("scheduler/activation_candidates",
                                      min_heat=self._policy.activate_heat,
                                      **self._scope(actor, now))
        return self._apply(rows, "activated", ["generated"], "lifecycle:activate", now, actor,
                           detail=f"activate_heat={self._policy.activate_heat}")

    def archive(self, now: datetime, *, actor: str | None = None) -> Transition:
        """Live cubes -> archived when expired, past their kind's TTL and not hot, or cold."""
        p = self._policy
        rows = self._store.read_query(
            "scheduler/archive_candidates",
            ttl_s={k: int(d * 86400) for k, d in p.ttl_days.items() if d is not None},
            ttl_keep_heat=p.ttl_keep_heat,
            cold_heat=p.archive_heat,
            cold_after_s=None if p.archive_after_days is None else int(
                p.archive_after_days * 86400),
            exempt=sorted(p.archive_exempt_priorities),
            **self._scope(actor, now))
        return self._apply(rows, "archived", LIVE, "lifecycle:archive", now, actor,
                           detail=f"archive_heat={p.archive_heat} archive_after_days="
                                  f"{p.archive_after_days} ttl_days={p.ttl_days}")

    def _apply(self, rows: list[dict[str, Any]], to: str, from_: list[str], action: str,
               now: datetime, actor: str | None, *, detail: str) -> Transition:
        if not rows:
            return Transition()
        reasons = Counter(str(r["reason"]) for r in rows)
        done = self._store.write_query(
            "scheduler/transition",
            audit=AuditSpec(actor=self._by(actor), action=action,
                            detail=f"{dict(reasons)} {detail}"),
            rows=[{"vid": r["vid"], "reason": r["reason"]} for r in rows],
            to=to, by=self._by(actor), **{"from": from_}, **self._scope(actor, now))
        return Transition(ids=[str(r["id"]) for r in done],
                          reasons=dict(Counter(str(r["reason"]) for r in done)))

    def merge(self, now: datetime, *, actor: str | None = None) -> Merge:
        """Merge near-duplicates (cosine >= policy.merge_cosine, same scope and kind): the
        colder, then older, cube becomes `merged` with MERGED_INTO the survivor."""
        found = self._store.read_query(
            "scheduler/merge_pairs", batch=self._policy.merge_batch,
            min_score=self._policy.merge_min_score, **self._scope(actor, now))
        if not found:
            return Merge()
        plan = self.plan_merges(found)
        spec = AuditSpec(actor=self._by(actor), action="lifecycle:merge",
                         detail=f"merge_cosine={self._policy.merge_cosine}") if plan else None
        done = self._store.write_query(
            "scheduler/merge", audit=spec, rows=plan, checked=[r["vid"] for r in found],
            by=self._by(actor), **self._scope(actor, now))
        return Merge(merged={str(r["id"]): str(r["survivor"]) for r in done},
                     compared=len(found))

    @staticmethod
    def plan_merges(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Greedy star clustering: the best-ranked cube absorbs every near-duplicate of it that
        is not already taken, then the next best still free does the same. No chains: a cube is
        merged only into one it is itself similar to, never A into C through B."""
        sides: dict[str, _Side] = {}
        near: dict[str, dict[str, float]] = {}
        for row in found:
            sides[row["vid"]] = _Side(row["vid"], row["id"], float(row["heat"]),
                                      row.get("created_at"))
            for o in row["near"]:
                sides.setdefault(o["vid"], _Side(o["vid"], o["id"], float(o["heat"]),
                                                 o.get("created_at")))
                score = float(o["score"])
                near.setdefault(row["vid"], {})[o["vid"]] = score
                near.setdefault(o["vid"], {})[row["vid"]] = score
        taken: set[str] = set()
        plan: list[dict[str, Any]] = []
        for vid in sorted(near, key=lambda v: (sides[v].rank(), v), reverse=True):
            if vid in taken:
                continue
            taken.add(vid)
            for other, score in sorted(near[vid].items()):
                if other in taken:
                    continue
                taken.add(other)
                plan.append({"loser": other, "survivor": vid, "cosine": 2.0 * score - 1.0})
        return plan
