"""A small store of KV caches in three tiers: GPU memory, pinned host memory, disk.

Each tier has a byte budget. Heat is a number the caller passes (the scheduler's access
score); a cache that does not fit pushes the coldest caches of that tier one tier down
(GPU -> host -> disk -> dropped), but never a cache hotter than itself: then it goes down a
tier instead. Disk is for durability: at about 1-3 GB/s a multi-GB cache of a large model can
take longer to read than to recompute (cost.py says when), so hot caches should stay in memory.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import torch

from graphmem.cubes.activation.manifest import KVManifest, check_compatible
from graphmem.cubes.activation.prefix import KVCache
from graphmem.cubes.activation.storage import load_cache, save_cache


class Tier(IntEnum):
    """Ordered fastest first; `Tier(t + 1)` is the tier a cache is demoted to."""

    GPU = 0
    HOST = 1
    DISK = 2


@dataclass
class _Entry:
    manifest: KVManifest
    nbytes: int
    heat: float
    tier: Tier
    kv: KVCache | None  # None on disk
    path: Path | None  # set once written to disk


class TieredKVStore:
    """Caches by key (e.g. the Activation MemCube id), placed by heat within byte budgets."""

    def __init__(self, *, gpu_bytes: int, host_bytes: int, disk_bytes: int, disk_dir: Path,
                 gpu_device: torch.device | str | None = None) -> None:
        self.budgets = {Tier.GPU: gpu_bytes, Tier.HOST: host_bytes, Tier.DISK: disk_bytes}
        self.disk_dir = disk_dir
        self.gpu_device = torch.device(gpu_device or ("cuda" if torch.cuda.is_available()
                                                      else "cpu"))
        # Pinned memory only exists with CUDA; without it the host tier is plain memory.
        self._pin = torch.cuda.is_available()
        self._entries: dict[str, _Entry] = {}

    # -- inspection ---------------------------------------------------------------------------
    def used(self, tier: Tier) -> int:
        return sum(e.nbytes for e in self._entries.values() if e.tier == tier)

    def tier_of(self, key: str) -> Tier | None:
        entry = self._entries.get(key)
        return entry.tier if entry else None

    def ids(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    # -- writes -------------------------------------------------------------------------------
    def put(self, key: str, kv: KVCache, heat: float, tier: Tier = Tier.GPU) -> Tier | None:
        """Store a cache at `tier` or the first lower tier where it fits; None if nowhere."""
        self.discard(key)
        entry = _Entry(kv.manifest, kv.nbytes, heat, tier, kv, None)
        return self._place(key, entry, tier)

    def set_heat(self, key: str, heat: float) -> None:
        self._entries[key].heat = heat

    def move(self, key: str, tier: Tier) -> Tier | None:
        """Move a cache to `tier` (up or down); returns where it ended up (None: dropped)."""
        entry = self._entries.pop(key)
        if entry.kv is None:
            if entry.path is None:
                raise RuntimeError(f"cache {key} has neither tensors nor a file")
            entry.kv = load_cache(entry.path, model_fingerprint=entry.manifest.model_fingerprint,
                                  adapter_id=entry.manifest.adapter_id, verify_checksum=True)
        return self._place(key, entry, tier)

    def discard(self, key: str) -> None:
        """Forget a cache and delete its file (a stale cache must not survive anywhere)."""
        entry = self._entries.pop(key, None)
        if entry is not None and entry.path is not None:
            shutil.rmtree(entry.path, ignore_errors=True)

    # -- reads --------------------------------------------------------------------------------
    def get(self, key: str, *, model_fingerprint: str, adapter_id: str | None) -> KVCache:
        """The cache as stored in its tier (a disk cache is read to the CPU), after checking
        that it belongs to this model and adapter. Callers must not mutate it (reuse.py copies)."""
        entry = self._entries[key]
        check_compatible(entry.manifest, model_fingerprint=model_fingerprint,
                         adapter_id=adapter_id)
        if entry.kv is not None:
            return entry.kv
        if entry.path is None:
            raise RuntimeError(f"cache {key} has neither tensors nor a file")
        return load_cache(entry.path, model_fingerprint=model_fingerprint,
                          adapter_id=adapter_id)

    # -- placement ----------------------------------------------------------------------------
    def _materialise(self, key: str, entry: _Entry, tier: Tier) -> None:
        """Put the entry's data in `tier`'s form."""
        if tier == Tier.DISK:
            if entry.path is None:
                if entry.kv is None:
                    raise RuntimeError(f"cache {key} has neither tensors nor a file")
                entry.path = save_cache(entry.kv, self.disk_dir / key)
            entry.kv = None
        else:
            if entry.kv is None:
                raise RuntimeError(f"cache {key} must be loaded before it moves up")
            target = self.gpu_device if tier == Tier.GPU else torch.device("cpu")
            want_pin = tier == Tier.HOST and self._pin
            if entry.kv.device != target or (want_pin and not entry.kv.keys[0].is_pinned()):
                entry.kv = entry.kv.to(target, pin_memory=want_pin)
            if entry.path is not None:  # memory tiers do not keep a disk copy
                shutil.rmtree(entry.path, ignore_errors=True)
                entry.path = None
        entry.tier = tier

    def _place(self, key: str, entry: _Entry, tier: Tier) -> Tier | None:
        for t in Tier:
            if t < tier:
                continue
            if self._make_room(t, entry.nbytes, entry.heat):
                self._materialise(key, entry, t)
                self._entries[key] = entry
                return t
        if entry.path is not None:
            shutil.rmtree(entry.path, ignore_errors=True)
        return None

    def _make_room(self, tier: Tier, nbytes: int, heat: float) -> bool:
        """Demote colder caches out of `tier` until nbytes fit; False (nothing moved) if the
        room could only come from caches at least as hot as `heat`."""
        budget = self.budgets[tier]
        if nbytes > budget:
            return False
        residents = sorted((e.heat, k) for k, e in self._entries.items() if e.tier == tier)
        free = budget - self.used(tier)
        victims: list[str] = []
        for victim_heat, victim in residents:
            if free >= nbytes:
                break
            if victim_heat >= heat:
                return False
            victims.append(victim)
            free += self._entries[victim].nbytes
        if free < nbytes:
            return False
        for victim in victims:
            demoted = self._entries.pop(victim)
            if tier == Tier.DISK:
                if demoted.path is not None:
                    shutil.rmtree(demoted.path, ignore_errors=True)
                continue
            self._place(victim, demoted, Tier(tier + 1))
        return True
