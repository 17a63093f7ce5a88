"""MemScheduler: the one object retrieval and operators talk to.

Retrieval calls `on_retrieval` after every search (hits are buffered, the session's working
memory is scored and re-predicted); a timer or `graphmem scheduler tick` calls `tick` to run
the lifecycle and promotion policies; `status` reports. The clock is injected so heat decay,
TTLs and sustained-heat windows can be tested (and replayed) without waiting.

A scheduler is scoped per call: with `actor` it only changes memory in scopes that principal
may write (and only reports what it may read); without, it maintains the whole graph and its
audit events name `policy.system_actor`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from graphmem.errors import GraphMemError
from graphmem.models import utcnow
from graphmem.policies import SchedulerPolicy
from graphmem.principals import Principal
from graphmem.schedulers.heat import Clock, FlushResult, HitRecorder, aware
from graphmem.schedulers.lifecycle import Decay, Lifecycle, Merge, Transition
from graphmem.schedulers.promotion import PromotionQueue, PromotionRequest
from graphmem.schedulers.working_memory import (
    WorkingMemories,
    WorkingMemory,
    WorkingMemoryStats,
)
from graphmem.store.protocol import QueryStore

log = logging.getLogger(__name__)


def _json_object(value: dict[str, Any]) -> dict[str, Any]:
    """Datetimes as ISO strings, so `json.dumps` takes reports as they are."""
    return {k: _jsonable(v) for k, v in value.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


@dataclass
class RetrievalNote:
    """What `on_retrieval` did: hits buffered (a full batch is written by a background flush,
    see HitRecorder), this search's working-memory hit rate, and the prediction now loaded for
    the session's next turn."""

    recorded: int
    hit_rate: float | None = None
    preloaded: list[str] = field(default_factory=list)


@dataclass
class TickReport:
    """Everything one tick changed. Counts are of cubes (or requests) actually changed: rows
    that a concurrent writer moved first are not counted."""

    now: datetime
    actor: str | None
    flushed: FlushResult
    decay: Decay
    archived: Transition
    activated: Transition
    merge: Merge
    queued: list[PromotionRequest]
    seconds: float = 0.0

    @property
    def changed(self) -> int:
        return (self.archived.count + self.activated.count + self.merge.count
                + len(self.queued))

    def summary(self) -> dict[str, int]:
        return {
            "hits_flushed": self.flushed.hits,
            "heat_updated": self.decay.updated,
            "hot": self.decay.hot,
            "activated": self.activated.count,
            "archived": self.archived.count,
            **{f"archived_{k}": v for k, v in sorted(self.archived.reasons.items())},
            "merged": self.merge.count,
            "merge_compared": self.merge.compared,
            "queued_kv_cache": sum(1 for r in self.queued if r.target == "kv_cache"),
            "queued_lora": sum(1 for r in self.queued if r.target == "lora"),
        }

    def to_dict(self) -> dict[str, Any]:
        return _json_object({
            "now": self.now, "actor": self.actor, "seconds": round(self.seconds, 3),
            "summary": self.summary(),
            "activated": self.activated.ids, "archived": self.archived.ids,
            "archived_reasons": self.archived.reasons, "merged": self.merge.merged,
            "queued": [r.to_dict() for r in self.queued],
        })


@dataclass(frozen=True)
class HotCube:
    id: str
    kind: str
    status: str
    scope: str
    text: str
    heat: float
    hits: int
    last_hit_at: datetime | None = None
    hot_since: datetime | None = None


@dataclass
class SchedulerStatus:
    """A snapshot: cubes per status, promotion requests per target and status, the queue,
    the hottest cubes, and the working-memory hit rates of the sessions this process saw."""

    now: datetime
    actor: str | None
    cubes_by_status: dict[str, int]
    requests: dict[str, dict[str, int]]
    queue: list[PromotionRequest]
    hottest: list[HotCube]
    working_memory: list[WorkingMemoryStats]
    pending_hits: int
    # Activation and parametric memory built from the queue: KV caches and LoRA adapters.
    artifacts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def hit_rate(self) -> float | None:
        """Pooled over sessions: preloaded hits / retrieved ids."""
        retrieved = sum(s.retrieved for s in self.working_memory)
        hits = sum(s.preloaded_hits for s in self.working_memory)
        return hits / retrieved if retrieved else None

    def to_dict(self) -> dict[str, Any]:
        return _json_object({
            "now": self.now, "actor": self.actor, "cubes_by_status": self.cubes_by_status,
            "requests": self.requests, "queue": [r.to_dict() for r in self.queue],
            "hottest": [asdict(h) for h in self.hottest],
            "working_memory": [dict(asdict(s), hit_rate=s.hit_rate)
                               for s in self.working_memory],
            "hit_rate": self.hit_rate, "pending_hits": self.pending_hits,
            "artifacts": self.artifacts,
        })


class MemScheduler:
    def __init__(self, store: QueryStore, policy: SchedulerPolicy | None = None, *,
                 clock: Clock = utcnow) -> None:
        self.store = store
        self.policy = policy or SchedulerPolicy()
        self._clock = clock
        self.hits = HitRecorder(store, self.policy, self.now)
        self.lifecycle = Lifecycle(store, self.policy)
        self.promotions = PromotionQueue(store, self.policy, self.now)
        self._sessions = WorkingMemories(self.policy.max_sessions)

    def now(self) -> datetime:
        return aware(self._clock())

    # --- the retrieval hook -----------------------------------------------------------------

    def on_retrieval(self, actor: str, user_id: str | None, session_id: str | None,
                     query: str, cube_ids: Sequence[str]) -> RetrievalNote:
        """Call after every search with the returned cube ids, best first.

        Never raises for a store problem: bookkeeping must not fail a search that succeeded;
        a failed hit flush (on its own thread) is logged and the hits stay buffered for the
        next flush. `query` is kept
        for the log only: the prediction comes from the session's turns, which the search's
        own query is usually one of.
        """
        now = self.now()
        ids = list(dict.fromkeys(cube_ids))
        note = RetrievalNote(recorded=len(ids))
        wm = self._sessions.get(actor, session_id, user_id) if session_id else None
        if wm is not None:
            note.hit_rate = wm.observe(ids)
        self.hits.record(actor, ids, at=now, background=True)  # a failed flush only logs
        if wm is not None and self.policy.preload_enabled:
            try:
                note.preloaded = wm.preload(self.store, self.policy, actor=actor, now=now)
            except GraphMemError as exc:
                log.warning("scheduler: preload for session %s failed: %s", session_id, exc)
        log.debug("scheduler: %s searched %r: %d hits, wm hit rate %s", actor, query[:80],
                  len(ids), note.hit_rate)
        return note

    def working_memory(self, actor: str, session_id: str) -> WorkingMemory:
        """The working memory of `actor`'s session ("user:maya", or a bare user id)."""
        return self._sessions.get(Principal.parse(actor).id, session_id)

    def preloaded(self, actor: str, session_id: str) -> list[str]:
        """The cube ids predicted for the session's next turn (empty before its first search)."""
        wm = self._sessions.peek(Principal.parse(actor).id, session_id)
        return wm.cube_ids if wm is not None else []

    def flush(self) -> FlushResult:
        return self.hits.flush()

    # --- policies ------------------------------------------------------------------------------

    def tick(self, now: datetime | None = None, *, actor: str | None = None) -> TickReport:
        """Run every policy once, in an order where each sees the previous one's result:
        flush hits, bring heat up to date, archive (expiry beats heat), activate, merge
        near-duplicates among what is still live, then queue promotions."""
        started = time.perf_counter()
        at = aware(now or self.now())
        flushed = self.hits.flush()
        decay = self.lifecycle.decay(at, actor=actor)
        archived = self.lifecycle.archive(at, actor=actor)
        activated = self.lifecycle.activate(at, actor=actor)
        merge = self.lifecycle.merge(at, actor=actor)
        queued = self.promotions.promote(at, actor=actor)
        report = TickReport(at, actor, flushed, decay, archived, activated, merge, queued,
                            seconds=time.perf_counter() - started)
        log.info("scheduler tick (%s): %s in %.2fs", actor or "all scopes", report.summary(),
                 report.seconds)
        return report

    def status(self, *, actor: str | None = None, now: datetime | None = None,
               hottest: int = 10, queue_limit: int = 50) -> SchedulerStatus:
        at = aware(now or self.now())
        counts = self.store.read_query("scheduler/status_counts", actor=actor)
        row = counts[0] if counts else {"cubes": [], "requests": []}
        requests: dict[str, dict[str, int]] = {}
        for r in row["requests"]:
            requests.setdefault(str(r["target"]), {})[str(r["status"])] = int(r["n"])
        hot = self.store.read_query("scheduler/hottest", actor=actor, now=at, limit=hottest,
                                    half_life_s=self.policy.half_life_s)
        return SchedulerStatus(
            now=at, actor=actor,
            cubes_by_status={str(r["status"]): int(r["n"]) for r in row["cubes"]},
            requests=requests,
            queue=self.promotions.list_queue(actor=actor, statuses=["queued"],
                                             limit=queue_limit),
            hottest=[HotCube(str(h["id"]), str(h["kind"]), str(h["status"]), str(h["scope"]),
                             str(h["text"]), float(h["heat"]), int(h["hits"]),
                             h.get("last_hit_at"), h.get("hot_since")) for h in hot],
            working_memory=self._sessions.all_stats(actor),
            pending_hits=self.hits.pending,
            artifacts=self.store.read_query("artifacts/list", actor=actor, kinds=None,
                                            limit=queue_limit),
        )

    def close(self) -> None:
        """Write what is still buffered; call before closing the store."""
        self.hits.flush()
