"""The promotion queue: plaintext memory that is used constantly, queued to become cheaper to use.

MemOS moves hot plaintext memory down the stack: to activation memory (a precomputed KV cache,
for single cubes or small groups always retrieved together) and, hotter for longer, into
parametric memory (LoRA distillation). Building those artifacts is separate work; here the
scheduler only decides and queues, as (:PromotionRequest)-[:PROMOTES]->(:MemCube) nodes in
the graph, so the queue survives restarts, is visible in Browser next to the cubes it names,
and a builder in another process can take work from it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from graphmem.errors import Conflict, GraphMemError, InvalidInput, NotFound
from graphmem.policies import SchedulerPolicy
from graphmem.schedulers.heat import aware
from graphmem.store.protocol import AuditSpec, QueryStore

PromotionTarget = Literal["kv_cache", "lora"]
RequestStatus = Literal["queued", "done", "failed"]
TARGETS: tuple[str, ...] = get_args(PromotionTarget)
STATUSES: tuple[str, ...] = get_args(RequestStatus)
# Which statuses each status may be reached from: builders finish queued work; a failed
# request can be put back by hand (the scheduler re-queues it by itself after the retry delay).
_MOVES: dict[str, list[str]] = {"done": ["queued"], "failed": ["queued"], "queued": ["failed"]}


@dataclass(frozen=True)
class PromotionRequest:
    id: str
    target: str
    status: str
    cube_ids: list[str]
    reason: str
    scope: str
    created_at: datetime
    updated_at: datetime
    heat: float | None = None
    owner: str | None = None
    requested_by: str | None = None
    detail: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> PromotionRequest:
        return cls(
            id=row["id"], target=row["target"], status=row["status"],
            cube_ids=list(row.get("cube_ids") or []), reason=row.get("reason") or "",
            scope=row.get("scope") or "", created_at=row["created_at"],
            updated_at=row.get("updated_at") or row["created_at"], heat=row.get("heat"),
            owner=row.get("owner"), requested_by=row.get("requested_by"),
            detail=row.get("detail"),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["updated_at"] = self.updated_at.isoformat()
        return data


@dataclass(frozen=True)
class PlannedPromotion:
    """A request the policy wants; the queue write may still refuse it (already queued)."""

    target: str
    cube_ids: tuple[str, ...]
    reason: str
    heat: float | None = None


def _components(ids: Sequence[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Connected components in `ids` order, so the hottest cube leads its group."""
    seen: set[str] = set()
    out: list[list[str]] = []
    for start in ids:
        if start in seen:
            continue
        group, todo = [], [start]
        seen.add(start)
        while todo:
            cur = todo.pop()
            group.append(cur)
            for nxt in sorted(edges.get(cur, ())):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        out.append(sorted(group, key=ids.index))
    return out


class PromotionQueue:
    def __init__(self, store: QueryStore, policy: SchedulerPolicy,
                 clock: Callable[[], datetime]) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock

    def _retry_before(self, now: datetime) -> datetime:
        return now - timedelta(hours=self._policy.promotion_retry_hours)

    # --- policy -----------------------------------------------------------------------------

    def plan(self, now: datetime, *, actor: str | None = None,
             limit: int = 500) -> list[PlannedPromotion]:
        """What the policy would queue now: KV cache for sustained-hot cubes (as one group when
        they are repeatedly retrieved together, up to kv_group_max_size), and one LoRA request
        per scope for the cubes that stayed hotter for longer."""
        p, now = self._policy, aware(now)
        rows = self._store.read_query(
            "scheduler/promotion_candidates", actor=actor, now=now,
            half_life_s=p.half_life_s, kv_heat=p.kv_heat, kv_min_hits=p.kv_min_hits,
            kv_sustain_s=int(p.kv_sustain_hours * 3600), lora_heat=p.lora_heat,
            lora_min_hits=p.lora_min_hits, lora_sustain_s=int(p.lora_sustain_days * 86400),
            min_co_hits=p.kv_group_min_co_hits, retry_before=self._retry_before(now),
            limit=limit)
        by_id = {str(r["id"]): r for r in rows}
        planned: list[PlannedPromotion] = []
        kv_ids = [str(r["id"]) for r in rows if r["kv"]]
        edges: dict[str, set[str]] = {}
        for cid in kv_ids:
            for partner in by_id[cid]["partners"]:
                if partner in by_id and by_id[partner]["kv"] and partner != cid:
                    edges.setdefault(cid, set()).add(partner)
                    edges.setdefault(partner, set()).add(cid)
        for group in _components(kv_ids, edges):
            if 2 <= len(group) <= p.kv_group_max_size:
                heat = sum(float(by_id[c]["heat"]) for c in group)
                planned.append(PlannedPromotion(
                    "kv_cache", tuple(group), heat=heat,
                    reason=f"{len(group)} cubes retrieved together >= {p.kv_group_min_co_hits} "
                           f"times, each hot (heat >= {p.kv_heat}) for >= "
                           f"{p.kv_sustain_hours:g} h"))
            else:
                planned.extend(self._single(by_id[c], now) for c in group)
        lora_by_scope: dict[str, list[str]] = {}
        for r in rows:
            if r["lora"]:
                lora_by_scope.setdefault(str(r["scope"]), []).append(str(r["id"]))
        for scope, ids in lora_by_scope.items():
            planned.append(PlannedPromotion(
                "lora", tuple(ids), heat=sum(float(by_id[c]["heat"]) for c in ids),
                reason=f"{len(ids)} cubes of {scope} hot for >= {p.lora_sustain_days:g} days "
                       f"with heat >= {p.lora_heat} and >= {p.lora_min_hits} hits"))
        return planned

    def _single(self, row: dict[str, Any], now: datetime) -> PlannedPromotion:
        hot_for = (now - aware(row["hot_since"])).total_seconds() / 3600.0
        return PlannedPromotion(
            "kv_cache", (str(row["id"]),), heat=float(row["heat"]),
            reason=f"hot for {hot_for:.1f} h (>= {self._policy.kv_sustain_hours:g}): heat "
                   f"{float(row['heat']):.2f} >= {self._policy.kv_heat}, {row['hits']} hits "
                   f">= {self._policy.kv_min_hits}")

    def promote(self, now: datetime, *, actor: str | None = None) -> list[PromotionRequest]:
        """Plan and queue in one go (what a tick does)."""
        return self.queue_many(self.plan(now, actor=actor), now=now, actor=actor)

    # --- the queue ----------------------------------------------------------------------------

    def queue(self, target: str, cube_ids: Sequence[str], *, reason: str,
              actor: str | None = None, heat: float | None = None,
              now: datetime | None = None) -> PromotionRequest | None:
        """Queue one request by hand; None when a cube is already queued (or done) for the
        target, unreadable, not live, or the cubes span several scopes."""
        made = self.queue_many([PlannedPromotion(target, tuple(cube_ids), reason, heat)],
                               now=now, actor=actor)
        return made[0] if made else None

    def queue_many(self, planned: Sequence[PlannedPromotion], *, now: datetime | None = None,
                   actor: str | None = None) -> list[PromotionRequest]:
        """Queue several requests in one write; a cube appears in at most one of them per
        target (later duplicates are dropped here, earlier ones queued already are refused by
        the query's guard)."""
        now = aware(now or self._clock())
        rows: list[dict[str, Any]] = []
        claimed: set[tuple[str, str]] = set()
        for plan in planned:
            if plan.target not in TARGETS:
                raise InvalidInput(f"promotion target must be one of {TARGETS}; "
                                   f"got {plan.target!r}")
            ids = list(dict.fromkeys(plan.cube_ids))
            if not ids or any((plan.target, c) in claimed for c in ids):
                continue
            claimed.update((plan.target, c) for c in ids)
            rows.append({"id": f"prom_{uuid.uuid4().hex[:24]}", "target": plan.target,
                         "cube_ids": ids, "reason": plan.reason, "heat": plan.heat})
        if not rows:
            return []
        by = actor or self._policy.system_actor
        done = self._store.write_query(
            "scheduler/queue_promotions",
            audit=AuditSpec(actor=by, action="promotion:queue",
                            detail=", ".join(f"{r['target']}:{len(r['cube_ids'])}"
                                             for r in rows)),
            rows=rows, actor=actor, by=by, now=now, retry_before=self._retry_before(now))
        return [PromotionRequest.from_row(r["request"]) for r in done]

    def list_queue(self, *, actor: str | None = None, statuses: Sequence[str] | None = None,
                   targets: Sequence[str] | None = None,
                   limit: int = 100) -> list[PromotionRequest]:
        """Requests oldest first; with an actor, only those for scopes it may read."""
        rows = self._store.read_query(
            "scheduler/list_queue", actor=actor, limit=limit,
            statuses=list(statuses) if statuses else None,
            targets=list(targets) if targets else None)
        return [PromotionRequest.from_row(r["request"]) for r in rows]

    def mark(self, request_id: str, status: str, *, actor: str | None = None,
             detail: str | None = None, now: datetime | None = None) -> PromotionRequest:
        """A builder's report: queued -> done | failed, or failed -> queued to retry now."""
        if status not in _MOVES:
            raise InvalidInput(f"status must be one of {STATUSES}; got {status!r}")
        by = actor or self._policy.system_actor
        rows = self._store.write_query(
            "scheduler/mark_promotion",
            audit=AuditSpec(actor=by, action=f"promotion:{status}", targets=[request_id],
                            detail=detail),
            id=request_id, status=status, detail=detail, actor=actor, by=by,
            now=aware(now or self._clock()), **{"from": _MOVES[status]})
        if not rows:
            raise NotFound(f"no promotion request {request_id!r} in status "
                           f"{' or '.join(_MOVES[status])} that {by} may change")
        return PromotionRequest.from_row(rows[0]["request"])

    def work(self, target: str, build: Callable[[str, list[str]], str], *,
             actor: str | None = None, builder: str = "builder",
             lease: timedelta = timedelta(minutes=10), limit: int = 10) -> list[str]:
        """A builder's loop over `target`'s queued requests: claim one (a BuildClaim under a
        uniqueness constraint with a lease, so two builders never take the same request and a
        dead builder's claim expires), `build(actor, cube_ids)` it (as the request's owner
        unless an actor is given), mark it done (detail: the artifact id) or failed (detail:
        why), release the claim. Returns the artifact ids built."""
        built: list[str] = []
        for _ in range(limit):
            now = aware(self._clock())
            try:
                rows = self._store.write_query(
                    "scheduler/claim_promotion", target=target, actor=actor, by=builder,
                    now=now, lease_until=now + lease)
            except Conflict:
                continue  # another builder claimed the same request first
            if not rows:
                break
            request = rows[0]["request"]
            try:
                artifact = build(actor or f"user:{request.get('owner')}",
                                 list(request["cube_ids"]))
                built.append(artifact)
                self.mark(request["id"], "done", detail=artifact)
            except GraphMemError as exc:
                self.mark(request["id"], "failed", detail=str(exc)[:500])
            finally:
                self._store.write_query("scheduler/release_promotion", request=request["id"])
        return built

