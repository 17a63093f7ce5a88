"""Activation memory in the graph: KV caches of hot memory sets as Activation MemCubes, built
from the scheduler's kv_cache promotion requests and used by chat.

A cache is the prefill of chat's own first system message (graphmem.chat: the memory block for
an ordered set of memories), so a chat whose retrieval returns that set, in that order, starts
generating after its question's tokens only. The node (cypher/activation/) decides whether a
cache may be used: it lives in its sources' scope, points at their exact versions, and goes
stale in the same transaction that updates, archives or merges a source or changes the scope's
ACL; purge deletes it with its principal, and `sweep` deletes the files of stale caches. The
manifest (model fingerprint, adapter, prefix token ids' hash) decides whether the tensors fit
the model asking.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import torch

from graphmem.chat import system_message
from graphmem.cubes.activation.cost import Hardware, ModelShape, reuse_pays
from graphmem.cubes.activation.manifest import (
    CacheMismatch,
    CubeRef,
    model_fingerprint,
    token_ids_sha256,
)
from graphmem.cubes.activation.prefix import KVCache, build_prefix_cache_from_ids
from graphmem.cubes.activation.storage import load_cache, save_cache
from graphmem.cubes.activation.tiers import Tier, TieredKVStore
from graphmem.cubes.artifacts import read_sources
from graphmem.errors import Conflict, GraphMemError, InvalidInput
from graphmem.schedulers.promotion import PromotionQueue
from graphmem.store.protocol import AuditSpec, CubeStore, QueryStore

log = logging.getLogger(__name__)


class ActivationStore(CubeStore, QueryStore, Protocol):
    """The store pieces activation memory uses: reading the source cubes, its own queries."""


class LocalModel(Protocol):
    """What a cache is built and used with: a local model whose keys and values we can hold."""

    model: str

    def load(self) -> tuple[Any, Any]: ...
    def system_prefix_ids(self, system: str) -> list[int]: ...


@dataclass
class ActivationStats:
    hits: int = 0
    misses: int = 0
    built: int = 0
    failed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


class ActivationMemory:
    def __init__(self, store: ActivationStore, backend: LocalModel, root: Path, *,
                 gpu_bytes: int = 0, host_bytes: int = 1 << 30,
                 adapter_id: str | None = None, lease: timedelta = timedelta(minutes=10),
                 promotions: PromotionQueue | None = None, hardware: Hardware | None = None,
                 query_tokens: int = 64) -> None:
        self._store = store
        self._hardware = hardware
        self._query_tokens = query_tokens
        self._promotions = promotions
        self._backend = backend
        self._root = root
        self._adapter_id = adapter_id
        self._lease = lease
        self._fingerprint: str | None = None
        self._tiers = TieredKVStore(gpu_bytes=gpu_bytes, host_bytes=host_bytes, disk_bytes=0,
                                    disk_dir=root / "tier")
        self.stats = ActivationStats()

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = model_fingerprint(self._backend.load()[1])
        return self._fingerprint

    # --- use -----------------------------------------------------------------------------------

    def lookup(self, actor: str, system: str, *, adapter_id: str | None = None
               ) -> KVCache | None:
        """The fresh cache of this first system message for this model and adapter (a LoRA
        on the k/v projections changes keys and values) that the actor may read, or None (a
        miss, counted with its reason)."""
        ids = self._backend.system_prefix_ids(system)
        rows = self._store.read_query(
            "activation/find_fresh", actor=actor, prefix_sha256=token_ids_sha256(ids),
            model_fingerprint=self.fingerprint, adapter_id=adapter_id or self._adapter_id)
        if not rows:
            self._miss("no fresh cache")
            return None
        kv_id, path = str(rows[0]["id"]), Path(str(rows[0]["path"]))
        try:
            if kv_id not in self._tiers:
                kv = load_cache(path, model_fingerprint=self.fingerprint,
                                adapter_id=adapter_id or self._adapter_id)
                self._tiers.put(kv_id, kv, 1.0, Tier.GPU if torch.cuda.is_available()
                                else Tier.HOST)
            kv = self._tiers.get(kv_id, model_fingerprint=self.fingerprint,
                                 adapter_id=adapter_id or self._adapter_id)
        except (CacheMismatch, OSError, KeyError) as exc:
            self._miss(f"unusable files: {exc}")
            return None
        self._store.write_query("activation/record_use", id=kv_id)
        self.stats.hits += 1
        return kv

    def _miss(self, reason: str) -> None:
        self.stats.misses += 1
        self.stats.reasons[reason] = self.stats.reasons.get(reason, 0) + 1
        return None

    # --- build ---------------------------------------------------------------------------------

    def build(self, actor: str, cube_ids: Sequence[str], *, user: str | None = None) -> str:
        """Prefill chat's system message for these memories, in this order; store the tensors
        and the Activation MemCube. Returns the cube's id. NotFound when a source is not
        readable by the actor; Conflict when the sources are not one scope's current memories.
        """
        ordered = read_sources(self._store, actor, cube_ids)
        texts = [str(c.props["text"]) for c in ordered]
        system = system_message(texts, user or str(ordered[0].props.get("owner") or ""))
        ids = self._backend.system_prefix_ids(system)
        _, model = self._backend.load()
        self._check_reuse_pays(model, len(ids))
        kv_id = "kv_" + uuid.uuid4().hex[:24]
        refs = [CubeRef(str(c.props["id"]), int(c.props["version"])) for c in ordered]
        kv = build_prefix_cache_from_ids(model, ids, model_id=self._backend.model, cubes=refs,
                                         scope=str(ordered[0].props["scope"]),
                                         adapter_id=self._adapter_id,
                                         fingerprint=self.fingerprint)
        path = save_cache(kv, self._root / kv_id)
        rows = self._store.write_query(
            "activation/create", actor=actor, id=kv_id,
            source_vids=[str(c.props["vid"]) for c in ordered],
            description=f"KV cache of {len(ordered)} memories for {self._backend.model}",
            model_id=self._backend.model, model_fingerprint=self.fingerprint,
            adapter_id=self._adapter_id, prefix_sha256=kv.manifest.prefix_sha256,
            token_count=kv.token_count, bytes=kv.nbytes, path=str(path),
            audit=AuditSpec(actor=actor, action="build_kv_cache", targets=[kv_id]))
        if not rows:
            shutil.rmtree(path, ignore_errors=True)
            raise Conflict("the memories are not one scope's current, live memories any more; "
                           "no cache was stored")
        self.stats.built += 1
        log.info("activation: built %s (%d tokens, %d bytes) from %d cubes", kv_id,
                 kv.token_count, kv.nbytes, len(ordered))
        return kv_id

    def _check_reuse_pays(self, model: Any, prefix_tokens: int) -> None:
        """With a calibrated Hardware, refuse caches the cost model says would not beat
        recomputing the prefix (short prefixes on small models)."""
        if self._hardware is None:
            return
        shape = ModelShape.from_config(model.config,
                                       dtype_bytes=next(model.parameters()).element_size())
        tier = None if torch.cuda.is_available() else self._hardware.hbm_bytes_per_s
        if not reuse_pays(shape, self._hardware, prefix_tokens, self._query_tokens, tier):
            raise InvalidInput(f"reuse does not pay for a {prefix_tokens}-token prefix on this "
                               "model and hardware (cubes/activation/cost.py); no cache built")

    def build_queued(self, actor: str | None = None, *, limit: int = 10) -> list[str]:
        """Build the queued kv_cache promotion requests (PromotionQueue.work: claimed under a
        lease, marked done or failed); returns the ids of the caches built."""
        if self._promotions is None:
            raise InvalidInput("building from the queue needs the scheduler's PromotionQueue")

        def build(owner: str, cube_ids: list[str]) -> str:
            try:
                return self.build(owner, cube_ids)
            except GraphMemError:
                self.stats.failed += 1
                raise

        return self._promotions.work("kv_cache", build, actor=actor,
                                     builder="activation-builder", lease=self._lease,
                                     limit=limit)

    # --- cleanup -------------------------------------------------------------------------------

    def sweep(self) -> int:
        """Delete the files and nodes of stale caches (never used again); returns how many."""
        rows = self._store.read_query("artifacts/stale_paths", principal=None, scopes=[])
        for row in rows:
            self._tiers.discard(str(row["id"]))
            shutil.rmtree(str(row["path"]), ignore_errors=True)
        if rows:
            self._store.write_query("artifacts/forget", ids=[str(r["id"]) for r in rows])
        return len(rows)
