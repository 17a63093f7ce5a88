"""Build a KV cache for an ordered set of memories: render, tokenise, one prefill.

The ordered set is cached as ONE prefix. Caches built separately per memory cannot simply be
concatenated: each would restart its positions at 0 and none could attend across memories, so
the result differs from prefilling the texts together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from graphmem.cubes.activation._compat import forward_kwargs, output_cache
from graphmem.cubes.activation.manifest import (
    CubeRef,
    KVManifest,
    model_fingerprint,
    token_ids_sha256,
)

TEMPLATE_VERSION = 1
_HEADER = "Relevant memories (oldest first):\n"
_FOOTER = "End of memories.\n"


def render_prefix(texts: Sequence[str]) -> str:
    """The memory prefix: one fixed template, so equal memory lists give byte-equal prefixes.

    Line breaks inside a memory become spaces so that every memory is exactly one line and no
    memory text can forge another entry. Nothing else is normalised: the caller decides the
    texts and their order (the cache key includes both through the token ids' hash).
    """
    lines = [f"[{i + 1}] {' '.join(t.splitlines()).strip()}\n" for i, t in enumerate(texts)]
    return _HEADER + "".join(lines) + _FOOTER


@dataclass(frozen=True)
class KVCache:
    """Per-layer keys and values of one prefix, shape [batch=1, kv_heads, tokens, head_dim].

    Immutable by contract: every use works on a copy (reuse.py) or writes only past the
    prefix (static.py), so one stored cache can serve any number of requests.
    """

    keys: tuple[torch.Tensor, ...]
    values: tuple[torch.Tensor, ...]
    prefix_ids: torch.Tensor  # int64 [tokens], on the CPU
    manifest: KVManifest

    @property
    def token_count(self) -> int:
        return int(self.prefix_ids.numel())

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.keys, *self.values))

    @property
    def device(self) -> torch.device:
        return self.keys[0].device

    def to(self, device: torch.device | str, *, pin_memory: bool = False,
           non_blocking: bool = False) -> KVCache:
        """A copy on another device (tiers move caches with this). pin_memory applies to CPU."""
        target = torch.device(device)

        def move(t: torch.Tensor) -> torch.Tensor:
            if pin_memory and target.type == "cpu":
                out = torch.empty(t.shape, dtype=t.dtype, device="cpu", pin_memory=True)
                return out.copy_(t, non_blocking=non_blocking)
            return t.to(target, non_blocking=non_blocking, copy=True)
        return KVCache(tuple(move(k) for k in self.keys), tuple(move(v) for v in self.values),
                       self.prefix_ids, self.manifest)


def _layer_tensors(cache: Any) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    layers = getattr(cache, "layers", None)
    if layers is None:
        raise TypeError(f"expected a transformers Cache with .layers, got {type(cache).__name__}")
    keys: list[torch.Tensor] = []
    values: list[torch.Tensor] = []
    for layer in layers:
        if getattr(layer, "is_sliding", False):
            # A sliding layer keeps only its window: reusing it needs window-aware positions.
            raise NotImplementedError("KV caches of sliding-window layers are not supported")
        if layer.keys is None or layer.values is None:
            raise ValueError("the prefill left a cache layer empty")
        keys.append(layer.keys)
        values.append(layer.values)
    return tuple(keys), tuple(values)


@torch.inference_mode()
def build_prefix_cache_from_ids(
    model: torch.nn.Module,
    prefix_ids: torch.Tensor | Sequence[int],
    *,
    model_id: str,
    cubes: Sequence[CubeRef] = (),
    scope: str | None = None,
    adapter_id: str | None = None,
    fingerprint: str | None = None,
) -> KVCache:
    """One prefill of the prefix token ids with use_cache=True; the keys/values it leaves.

    `fingerprint` may be passed when the caller already computed model_fingerprint(model)
    (it is cheap, but a builder handling many requests need not repeat it).
    """
    ids = torch.as_tensor(prefix_ids, dtype=torch.long).reshape(-1).cpu()
    if ids.numel() == 0:
        raise ValueError("an empty prefix has no cache")
    device = next(model.parameters()).device
    from transformers import DynamicCache

    cache = DynamicCache(config=getattr(model, "config", None))
    out = model(input_ids=ids.unsqueeze(0).to(device), **forward_kwargs(model, cache))
    keys, values = _layer_tensors(output_cache(out) or cache)
    manifest = KVManifest(
        model_id=model_id,
        model_fingerprint=fingerprint or model_fingerprint(model),
        dtype=str(keys[0].dtype),
        num_layers=len(keys),
        token_count=int(ids.numel()),
        prefix_sha256=token_ids_sha256(ids),
        cubes=tuple(cubes),
        scope=scope,
        adapter_id=adapter_id,
        template_version=TEMPLATE_VERSION,
    )
    return KVCache(keys, values, ids, manifest)


def tokenize_prefix(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """Token ids of the rendered prefix (with the tokenizer's own special tokens, e.g. BOS)."""
    encoded = tokenizer(render_prefix(texts), add_special_tokens=True)
    return [int(i) for i in encoded["input_ids"]]


def build_prefix_cache(
    model: torch.nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    model_id: str,
    cubes: Sequence[CubeRef] = (),
    scope: str | None = None,
    adapter_id: str | None = None,
) -> KVCache:
    """Render the ordered memory texts, tokenise them and prefill once.

    Queries must then be tokenised separately and appended to `cache.prefix_ids` (see
    reuse.extend_ids): tokenising prefix+query as one string can merge tokens across the
    boundary, and the cached prefix would no longer be a prefix of the ids.
    """
    if cubes and len(cubes) != len(texts):
        raise ValueError("one CubeRef per memory text")
    return build_prefix_cache_from_ids(
        model, tokenize_prefix(tokenizer, texts), model_id=model_id, cubes=cubes,
        scope=scope, adapter_id=adapter_id)
