"""Serving adapters: an LRU of loaded adapters on one base model, each served to its owner only.

Why one base with many adapters: a 7B base is 15 GB and an adapter tens of MB, so every user's
adapter rides on a single copy of the base, and peft switches between resident adapters without
touching the base weights. The budget bounds the adapters' GPU memory; past it the least
recently used one is deleted and must be loaded from disk again.

Isolation: the cache records each adapter's owner (from its manifest, which must agree with the
owner the caller names at load) and every use names the acting principal. Another principal's
adapter is answered exactly like a missing one (``AdapterNotServed``, a ``NotFound``), so adapter
ids of other users cannot be probed. Batched generation checks every row before any compute.

Swapping: peft's ``set_adapter`` walks every module of the model and resets ``requires_grad``
on every matrix of every resident adapter (165 ms per swap with 32 adapters on a 0.5B model, on
the H200 machine). Adapters served here are frozen, so the cache keeps the list of LoRA layers
and sets their active adapter directly, which is what ``set_adapter`` does besides the gradient
flags; the tests check that both give the same outputs.

Not thread-safe: peft's active adapter is model-wide state, so one serving loop owns a cache.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphmem.cubes.parametric.manifest import AdapterManifest, peft_name, weight_fingerprint
from graphmem.errors import InvalidInput, NotFound

#: peft's name for "no adapter on this row" in a mixed batch.
BASE = "__base__"


class AdapterNotServed(NotFound):
    """No such adapter is loaded for this principal (absent and foreign are not told apart)."""


@dataclass(frozen=True)
class LoadedAdapter:
    adapter_id: str
    owner: str
    name: str
    path: Path
    manifest: AdapterManifest


@dataclass(frozen=True)
class GenerationRequest:
    """One row of a batch: who asks, the prompt's token ids, and the adapter (None: base)."""

    principal: str
    prompt_ids: Sequence[int]
    adapter_id: str | None = None


class AdapterCache:
    """Adapters resident on ``base`` (a transformers model, or a PeftModel), at most ``budget``."""

    def __init__(self, base: Any, *, budget: int, base_fingerprint: str | None = None) -> None:
        if budget < 1:
            raise ValueError("budget must be at least 1")
        from peft import PeftModel

        self.budget = budget
        self._base = base
        self._peft: Any = base if isinstance(base, PeftModel) else None
        self.fingerprint = base_fingerprint or weight_fingerprint(base)
        self._entries: OrderedDict[str, LoadedAdapter] = OrderedDict()
        self._layers: list[Any] = []  # peft's LoRA layers in the model, refreshed on load/delete
        self.evictions = 0

    @property
    def peft(self) -> Any:
        """The PeftModel holding the resident adapters (None before the first load): new
        adapters are trained on it, so the base is never wrapped twice."""
        return self._peft

    @property
    def model(self) -> Any:
        """The model to generate with: the PeftModel while an adapter is loaded, else the base
        (peft cannot run a PeftModel with no adapter; its emptied LoRA layers pass through)."""
        return self._peft if self._has_adapters() else self._base

    def _has_adapters(self) -> bool:
        return self._peft is not None and bool(self._peft.peft_config)

    def loaded(self, owner: str | None = None) -> list[str]:
        """Adapter ids resident now, least recently used first (one owner's, or all)."""
        return [a for a, e in self._entries.items() if owner is None or e.owner == owner]

    def _refuse(self, principal: str, adapter_id: str) -> AdapterNotServed:
        return AdapterNotServed(f"no adapter {adapter_id!r} is loaded for {principal!r}")

    def get(self, principal: str, adapter_id: str) -> LoadedAdapter:
        """The resident adapter, if ``principal`` owns it; marks it recently used."""
        entry = self._entries.get(adapter_id)
        if entry is None or entry.owner != principal:
            raise self._refuse(principal, adapter_id)
        self._entries.move_to_end(adapter_id)
        return entry

    def load(self, owner: str, adapter_id: str, path: Path) -> LoadedAdapter:
        """Make ``owner``'s adapter resident (a no-op if it is), evicting past the budget.

        Refused when the manifest names another owner or adapter id (the files are not this
        owner's) or another base model (the adapter would compute garbage on this one)."""
        if adapter_id in self._entries:
            return self.get(owner, adapter_id)
        manifest = AdapterManifest.read(path)
        if manifest.owner != owner or manifest.adapter_id != adapter_id:
            raise self._refuse(owner, adapter_id)
        if manifest.base_fingerprint != self.fingerprint:
            raise InvalidInput(f"adapter {adapter_id!r} was trained on another base model "
                               f"({manifest.base_model_id}, fingerprint differs)")
        name = peft_name(adapter_id)
        if self._peft is None:
            from peft import PeftModel

            # low_cpu_mem_usage: the new layers start on the meta device and take the saved
            # weights, instead of being initialised at random and then overwritten
            self._peft = PeftModel.from_pretrained(self._base, str(path), adapter_name=name,
                                                   low_cpu_mem_usage=True)
        else:
            self._peft.load_adapter(str(path), adapter_name=name, low_cpu_mem_usage=True)
        self._peft.eval()
        self._refresh_layers()
        entry = LoadedAdapter(adapter_id, owner, name, path, manifest)
        self._entries[adapter_id] = entry
        while len(self._entries) > self.budget:
            _, old = self._entries.popitem(last=False)
            self._delete(old)
            self.evictions += 1
        return entry

    def unload(self, owner: str, adapter_id: str) -> None:
        """Free an owner's resident adapter (e.g. after it went stale or was purged)."""
        entry = self.get(owner, adapter_id)
        del self._entries[adapter_id]
        self._delete(entry)

    def clear(self) -> None:
        """Free every resident adapter (e.g. before the base model is given to another use)."""
        while self._entries:
            _, entry = self._entries.popitem()
            self._delete(entry)

    def _delete(self, entry: LoadedAdapter) -> None:
        self._peft.delete_adapter(entry.name)
        self._refresh_layers()

    def _refresh_layers(self) -> None:
        from peft.tuners.tuners_utils import BaseTunerLayer

        self._layers = [m for m in self._peft.modules() if isinstance(m, BaseTunerLayer)]

    def _set_active(self, name: str | None) -> None:
        """Activate one resident adapter on every LoRA layer (None: run as the base model)."""
        for layer in self._layers:
            layer._disable_adapters = name is None
            if name is not None:
                layer._active_adapter = [name]
        if name is not None:
            self._peft.active_adapter = name
            self._peft.base_model.active_adapter = name

    def activate(self, principal: str, adapter_id: str | None) -> None:
        """Make one adapter (or, with None, none) the active one for single-adapter calls."""
        if adapter_id is None:
            if self._has_adapters():
                self._set_active(None)
            return
        self._set_active(self.get(principal, adapter_id).name)

    def generate(self, requests: Sequence[GenerationRequest], *, max_new_tokens: int,
                 pad_token_id: int, eos_token_id: int | None = None,
                 **generate_kwargs: Any) -> list[list[int]]:
        """Greedy generation for a batch whose rows may each use a different owner's adapter.

        Rows are left-padded into one batch. A batch of one adapter (or none) activates it for the
        whole batch; a mixed batch goes through peft's per-row ``adapter_names``. Returns each
        row's new tokens, cut before the first ``eos_token_id``."""
        import torch

        if not requests:
            return []
        names = [BASE if r.adapter_id is None else self.get(r.principal, r.adapter_id).name
                 for r in requests]  # every row is checked before anything runs
        width = max(len(r.prompt_ids) for r in requests)
        ids = torch.full((len(requests), width), pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(requests), width), dtype=torch.long)
        for i, r in enumerate(requests):
            n = len(r.prompt_ids)
            if n == 0:
                raise InvalidInput("empty prompt")
            ids[i, width - n:] = torch.tensor(list(r.prompt_ids))
            mask[i, width - n:] = 1
        model = self.model
        device = next(model.parameters()).device
        kwargs: dict[str, Any] = {
            "input_ids": ids.to(device), "attention_mask": mask.to(device),
            "max_new_tokens": max_new_tokens, "do_sample": False,
            "pad_token_id": pad_token_id, "eos_token_id": eos_token_id, **generate_kwargs}
        distinct = set(names)
        with torch.no_grad():
            if not self._has_adapters():
                out = model.generate(**kwargs)
            elif len(distinct) == 1:
                only = requests[0]
                self.activate(only.principal, only.adapter_id)
                try:
                    out = model.generate(**kwargs)
                finally:
                    if only.adapter_id is None:  # mixed batches need the layers enabled
                        for layer in self._layers:
                            layer._disable_adapters = False
            else:
                out = model.generate(**kwargs, adapter_names=names)
        rows: list[list[int]] = []
        for row in out[:, width:].tolist():
            if eos_token_id is not None and eos_token_id in row:
                row = row[:row.index(eos_token_id)]
            rows.append(row)
        return rows
