"""The fast path for a cached prefix: a static cache, a split-KV attention, one CUDA graph.

Measured with plain transformers (eager, SDPA) on an H200, the cached 64-token step of a
7B-class model at 16k sits about 10x above its physical limit. Three costs make the gap, and
each has a lever here:

* per-call work on the host (Python, hundreds of kernel launches, a DynamicCache that copies
  the prefix with every torch.cat): a StaticCache sized prefix + query, written only past the
  prefix, and the whole step captured once as a CUDA graph and replayed;
* with a mask, transformers' SDPA path expands the grouped K/V to every query head
  (repeat_kv: a 7x copy of the cache per layer for Qwen2.5-7B): the split attention reads
  each KV head once;
* 64 queries against 16k keys give the attention kernel few blocks: the prefix's keys can
  be split into chunks attended in parallel (flash-decoding) and merged by log-sum-exp; on
  the H200 that merge cost more than it gained, so by default the prefix is one chunk.

The stored cache stays untouched: the runner copies it into its own buffers (or is itself
the GPU-resident copy) and every step writes only positions prefix..prefix+query-1, so
resetting to the prefix is setting the write position back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from graphmem.cubes.activation._compat import forward_kwargs
from graphmem.cubes.activation.manifest import CacheMismatch
from graphmem.cubes.activation.prefix import KVCache

SPLIT_ATTENTION = "graphmem_prefix_split"
# Split the prefix until about this many attention blocks run (and no chunk is shorter than
# _MIN_CHUNK keys). Measured on an H200 (benchmarks/results/kv_cache_gpu.json, split_sweep,
# Qwen2.5-7B at 16k): 1 chunk 10.5 ms, 2: 10.7, 16: 11.7, 32: 13.2, 64: 16.7. Merging the
# partial outputs costs more than the parallelism gains, so the default is not to split;
# the grouped query rows (no repeat_kv) are what pays. Kept as a knob for other shapes.
_TARGET_BLOCKS = 1
_MIN_CHUNK = 256


def _partial(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
             causal: bool, scale: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention output [B,H,L,D] and its log-sum-exp [B,H,L] (float32), via flash kernels."""
    if q.device.type == "cuda":
        out = torch.ops.aten._scaled_dot_product_flash_attention(
            q, k, v, 0.0, causal, False, scale=scale)
        return out[0], out[1]
    o, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
        q, k, v, 0.0, causal, scale=scale)
    return o, lse


def _chunks(prefix: int, kv_heads: int, rows: int) -> int:
    m_blocks = -(-rows // 128)
    s = 1
    while (kv_heads * s * m_blocks < _TARGET_BLOCKS and prefix % (2 * s) == 0
           and prefix // (2 * s) >= _MIN_CHUNK):
        s *= 2
    return s


def split_prefix_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor,
                           value: torch.Tensor, attention_mask: torch.Tensor | None,
                           dropout: float = 0.0, scaling: float | None = None,
                           **kwargs: Any) -> tuple[torch.Tensor, None]:
    """Causal attention of q new tokens that sit at the END of key/value (no padding).

    The q queries see all p = kv - q prefix keys and, causally, the q new keys. The prefix
    part groups each KV head's query heads into one row block (no K/V expansion) and splits
    the prefix into chunks; the new part is an ordinary causal block. Falls back to
    transformers' SDPA where the layout does not hold (full prefill, batches, training).
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    b, h, q, d = query.shape
    kvh, kv_len = key.shape[1], key.shape[2]
    p = kv_len - q
    if b != 1 or p <= 0 or dropout or module.training or h % kvh:
        return sdpa_attention_forward(module, query, key, value, attention_mask,
                                      dropout=dropout, scaling=scaling, **kwargs)
    g = h // kvh
    s = _chunks(p, kvh, g * q)
    c = p // s
    # [1, h, q, d] -> [kvh, 1, g*q, d]: the g query heads of a KV head become rows.
    qg = query.reshape(kvh, g * q, d).unsqueeze(1).expand(kvh, s, g * q, d).contiguous()
    # The prefix as [kvh, s, c, d] views of the cache buffer (batch = KV head, head = chunk).
    ks = key[0, :, :p].reshape(kvh, s, c, d)
    vs = value[0, :, :p].reshape(kvh, s, c, d)
    o1, lse1 = _partial(qg, ks, vs, False, scaling)  # [kvh, s, g*q, d], [kvh, s, g*q]
    o1 = o1.reshape(kvh, s, g, q, d).permute(1, 0, 2, 3, 4).reshape(s, h, q, d)
    lse1 = lse1[..., : g * q].reshape(kvh, s, g, q).permute(1, 0, 2, 3).reshape(s, h, q)
    # New tokens: causal among themselves (equal lengths, so top-left = bottom-right).
    kn = key[:, :, p:].repeat_interleave(g, dim=1)
    vn = value[:, :, p:].repeat_interleave(g, dim=1)
    o2, lse2 = _partial(query.contiguous(), kn, vn, True, scaling)  # [1, h, q, d], [1, h, q]
    lse = torch.cat([lse1, lse2[:, :, :q]], dim=0).float()  # [s+1, h, q]
    weights = torch.softmax(lse, dim=0).unsqueeze(-1)
    out = (torch.cat([o1, o2], dim=0).float() * weights).sum(dim=0)  # [h, q, d]
    return out.to(query.dtype).transpose(0, 1).unsqueeze(0).contiguous(), None


def _register() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(SPLIT_ATTENTION, split_prefix_attention)


@contextmanager
def attention_implementation(model: torch.nn.Module, name: str) -> Iterator[None]:
    """Run the model with another registered attention function, then restore it."""
    config: Any = model.config
    previous = config._attn_implementation
    if name == SPLIT_ATTENTION:
        _register()
    config._attn_implementation = name
    try:
        yield
    finally:
        config._attn_implementation = previous


class StaticPrefixRunner:
    """A static cache of prefix_len + query_len positions and a fixed-shape query step.

    load() copies a KVCache into positions [0, prefix_len); step() writes the query's keys and
    values into the positions after it and returns next-token logits. One runner serves any
    number of steps over the same prefix: the prefix positions are never written. With
    cuda_graph=True the step is captured once and replayed (the host then only copies the
    query ids into a static buffer).
    """

    def __init__(self, model: torch.nn.Module, prefix_len: int, query_len: int, *,
                 attention: str = "sdpa", cuda_graph: bool = False) -> None:
        from transformers import StaticCache

        self.model = model
        self.prefix_len = prefix_len
        self.query_len = query_len
        self.attention = attention
        config: Any = model.config
        param = next(model.parameters())
        self.device = param.device
        head_dim = getattr(config, "head_dim", None) or (
            config.hidden_size // config.num_attention_heads)
        self.cache: Any = StaticCache(config=config, max_cache_len=prefix_len + query_len)
        self.cache.early_initialization(batch_size=1, num_heads=config.num_key_value_heads,
                                        head_dim=head_dim, dtype=param.dtype, device=self.device)
        for layer in self.cache.layers:
            if getattr(layer, "is_sliding", False) or not hasattr(layer, "cumulative_length"):
                raise NotImplementedError("static prefix reuse needs full-attention StaticLayers")
        self.input_ids = torch.zeros(1, query_len, dtype=torch.long, device=self.device)
        self.position_ids = torch.arange(prefix_len, prefix_len + query_len,
                                         device=self.device).unsqueeze(0)
        rows = torch.arange(query_len, device=self.device).unsqueeze(1)
        cols = torch.arange(prefix_len + query_len, device=self.device).unsqueeze(0)
        self.mask = {"full_attention": (cols <= prefix_len + rows).view(1, 1, query_len, -1)}
        self.prefix_ids: torch.Tensor | None = None
        self._graph: torch.cuda.CUDAGraph | None = None
        self._logits: torch.Tensor | None = None
        if cuda_graph:
            if self.device.type != "cuda":
                raise ValueError("cuda_graph needs the model on a CUDA device")
            self._capture()

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size()
                   for layer in self.cache.layers for t in (layer.keys, layer.values))

    def release(self) -> None:
        """Free the graph and the buffers now, not at garbage collection (a 32B-class model's
        runner for 32k tokens holds about 8.6 GB)."""
        self._graph = None
        self._logits = None
        self.cache = None
        self.prefix_ids = None

    def load(self, kv: KVCache, non_blocking: bool = True) -> None:
        """Copy a prefix cache into the static buffers (from any device; pinned host memory
        copies asynchronously on the current stream, ordered before the next step)."""
        if kv.token_count != self.prefix_len or len(kv.keys) != len(self.cache.layers):
            raise CacheMismatch(f"runner holds {self.prefix_len} tokens x "
                                f"{len(self.cache.layers)} layers; cache has "
                                f"{kv.token_count} x {len(kv.keys)}")
        p = self.prefix_len
        for layer, k, v in zip(self.cache.layers, kv.keys, kv.values, strict=True):
            layer.keys[:, :, :p].copy_(k, non_blocking=non_blocking)
            layer.values[:, :, :p].copy_(v, non_blocking=non_blocking)
        self.prefix_ids = kv.prefix_ids

    def _forward(self) -> torch.Tensor:
        for layer in self.cache.layers:  # back to the prefix: the next writes go after it
            layer.cumulative_length.fill_(self.prefix_len)
        with attention_implementation(self.model, self.attention):
            out = self.model(input_ids=self.input_ids, attention_mask=self.mask,
                             position_ids=self.position_ids,
                             **forward_kwargs(self.model, self.cache))
        logits: torch.Tensor = out.logits[:, -1, :]
        return logits

    @torch.inference_mode()
    def _capture(self) -> None:
        # warm-up: kernels chosen, workspaces allocated
        self._graph, self._logits = capture_cuda_graph(self._forward, warmups=2)

    @torch.inference_mode()
    def step(self, query_ids: torch.Tensor) -> torch.Tensor:
        """Next-token logits [1, vocab] after prefix + query_ids ([1, query_len])."""
        if tuple(query_ids.shape) != (1, self.query_len):
            raise ValueError(f"query must be [1, {self.query_len}]")
        self.input_ids.copy_(query_ids, non_blocking=True)
        if self._graph is not None and self._logits is not None:
            self._graph.replay()
            return self._logits.clone()
        return self._forward().clone()

    def check_prefix(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The query part of input_ids [1, P+Q] after checking its prefix is the loaded one."""
        if self.prefix_ids is None:
            raise CacheMismatch("no prefix loaded")
        if not torch.equal(input_ids[0, : self.prefix_len].cpu(), self.prefix_ids):
            raise CacheMismatch("input ids do not start with the loaded prefix")
        return input_ids[:, self.prefix_len:]




def capture_cuda_graph(forward: Callable[[], torch.Tensor], *, warmups: int
                       ) -> tuple[torch.cuda.CUDAGraph, torch.Tensor]:
    """One step captured as a CUDA graph, after `warmups` runs on a side stream (kernels
    chosen or compiled, workspaces allocated, as capture requires); returns the graph and
    the output tensor it writes on every replay."""
    side = torch.cuda.Stream()  # type: ignore[no-untyped-call]
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(warmups):
            forward()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = forward()
    return graph, out
