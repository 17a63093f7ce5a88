"""Use a prefix cache: prefill only the new tokens, then decode greedily.

The stored cache is never handed to the model: forward() extends the Cache object it is given,
so each call builds a fresh DynamicCache holding copies of the prefix tensors (one device copy,
small next to the prefill it saves). The attention mask covers prefix plus new tokens.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

from graphmem.cubes.activation._compat import forward_kwargs, output_cache
from graphmem.cubes.activation.manifest import CacheMismatch
from graphmem.cubes.activation.prefix import KVCache


def working_copy(kv: KVCache, model: torch.nn.Module) -> Any:
    """A DynamicCache over copies of the prefix keys/values, on the model's device."""
    from transformers import DynamicCache

    device = next(model.parameters()).device
    cache = DynamicCache(config=getattr(model, "config", None))
    for i, (k, v) in enumerate(zip(kv.keys, kv.values, strict=True)):
        # .to(copy=True) guarantees fresh storage whatever DynamicLayer.update does with it.
        cache.update(k.to(device, copy=True), v.to(device, copy=True), i)
    return cache


def extend_ids(kv: KVCache, tokenizer: Any, query: str) -> torch.Tensor:
    """Prefix ids followed by the query's own tokens, as [1, P+Q] (see build_prefix_cache)."""
    q = tokenizer(query, add_special_tokens=False)["input_ids"]
    return torch.cat([kv.prefix_ids, torch.as_tensor(q, dtype=torch.long)]).unsqueeze(0)


def _split(kv: KVCache, input_ids: torch.Tensor) -> torch.Tensor:
    """The new tokens of input_ids [1, P+Q], after checking that they start with the prefix."""
    if input_ids.dim() != 2 or input_ids.shape[0] != 1:
        raise ValueError("input_ids must be [1, tokens] (one sequence, no padding)")
    p = kv.token_count
    if input_ids.shape[1] <= p:
        raise ValueError(f"input has {input_ids.shape[1]} tokens, not more than the prefix's {p}")
    if not torch.equal(input_ids[0, :p].to("cpu", torch.long), kv.prefix_ids):
        raise CacheMismatch("input ids do not start with the cached prefix")
    return input_ids[:, p:]


@torch.inference_mode()
def prefill_with_cache(model: torch.nn.Module, kv: KVCache,
                       input_ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
    """Next-token logits [1, vocab] for input_ids = prefix + new, and the extended working cache.

    Only the new tokens go through the model; positions continue from the prefix length and
    the mask is all ones over prefix + new (one unpadded sequence).
    """
    device = next(model.parameters()).device
    new = _split(kv, input_ids).to(device)
    p, q = kv.token_count, new.shape[1]
    cache = working_copy(kv, model)
    out = model(
        input_ids=new,
        attention_mask=torch.ones(1, p + q, dtype=torch.long, device=device),
        position_ids=torch.arange(p, p + q, device=device).unsqueeze(0),
        **forward_kwargs(model, cache),
    )
    return out.logits[:, -1, :], output_cache(out) or cache


def next_token_logits(model: torch.nn.Module, kv: KVCache,
                      input_ids: torch.Tensor) -> torch.Tensor:
    """Logits of the token after input_ids, computed with the cache (for exactness checks)."""
    return prefill_with_cache(model, kv, input_ids)[0]


class Streamer(Protocol):
    """What generate() hands tokens to (transformers' BaseStreamer): the prompt first, then
    each new token, then end()."""

    def put(self, value: torch.Tensor) -> None: ...

    def end(self) -> None: ...


@torch.inference_mode()
def generate_with_cache(model: torch.nn.Module, kv: KVCache, input_ids: torch.Tensor,
                        max_new_tokens: int, eos_token_id: int | None = None,
                        streamer: Streamer | None = None) -> torch.Tensor:
    """Greedy decoding after prefix + new tokens; returns the generated ids [1, n]. A
    `streamer` is fed like generate() feeds one (the prompt, each token as soon as it is
    known, end), so the same streamer serves a cached and a full prefill."""
    if streamer is not None:
        streamer.put(input_ids)
    logits, cache = prefill_with_cache(model, kv, input_ids)
    device = logits.device
    length = input_ids.shape[1]
    generated: list[torch.Tensor] = []
    token = logits.argmax(dim=-1, keepdim=True)
    for _ in range(max_new_tokens):
        generated.append(token)
        if streamer is not None:
            streamer.put(token.cpu())
        if eos_token_id is not None and int(token) == eos_token_id:
            break
        if len(generated) == max_new_tokens:
            break
        out = model(
            input_ids=token,
            attention_mask=torch.ones(1, length + 1, dtype=torch.long, device=device),
            position_ids=torch.tensor([[length]], device=device),
            **forward_kwargs(model, cache),
        )
        cache = output_cache(out) or cache
        length += 1
        token = out.logits[:, -1, :].argmax(dim=-1, keepdim=True)
    if streamer is not None:
        streamer.end()
    return torch.cat(generated, dim=1)
