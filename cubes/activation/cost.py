"""When does reusing a KV cache beat recomputing it?

Reuse costs prefill(query) + cache_bytes / tier_bandwidth (the cache must reach the GPU, and
on the GPU tier attention still reads it once); recompute costs prefill(prefix + query).
Prefill time is modelled as a roofline: max(bytes the step must read / HBM bandwidth,
FLOPs / matrix rate) plus a fixed launch overhead. For a 0.5B model and a 1k prefix the two
sides are close and reuse can lose (measured: 32.7 ms cached vs 27.7 ms recompute in eager
transformers); for 7B at 16k reuse wins by >90%. Promotion should follow this model, with
Hardware's efficiency and cached_extra_s set from a measurement of the serving path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelShape:
    """The dimensions that decide prefill cost and cache size (a decoder-only transformer)."""

    layers: int
    hidden: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    head_dim: int | None = None
    dtype_bytes: int = 2
    tied_embeddings: bool = False

    @classmethod
    def from_config(cls, config: Any, dtype_bytes: int = 2) -> ModelShape:
        """The shape of a transformers model config (Llama/Qwen2-style attribute names)."""
        heads = int(config.num_attention_heads)
        return cls(layers=int(config.num_hidden_layers), hidden=int(config.hidden_size),
                   heads=heads,
                   kv_heads=int(getattr(config, "num_key_value_heads", None) or heads),
                   intermediate=int(config.intermediate_size), vocab=int(config.vocab_size),
                   head_dim=getattr(config, "head_dim", None), dtype_bytes=dtype_bytes,
                   tied_embeddings=bool(getattr(config, "tie_word_embeddings", False)))

    @property
    def hd(self) -> int:
        return self.head_dim or self.hidden // self.heads

    def layer_params(self) -> int:
        q = self.hidden * self.heads * self.hd + self.heads * self.hd  # with bias (Qwen2)
        kv = 2 * (self.hidden * self.kv_heads * self.hd + self.kv_heads * self.hd)
        o = self.heads * self.hd * self.hidden
        mlp = 3 * self.hidden * self.intermediate
        return q + kv + o + mlp + 2 * self.hidden

    def weight_bytes_read(self) -> int:
        """Bytes one forward step reads: all layers and the LM head (embedding lookup is a few
        rows, so an untied embedding table is not read)."""
        params = self.layers * self.layer_params() + self.vocab * self.hidden + self.hidden
        return params * self.dtype_bytes

    def kv_bytes_per_token(self) -> int:
        return 2 * self.layers * self.kv_heads * self.hd * self.dtype_bytes

    def prefill_flops(self, new_tokens: int, past_tokens: int = 0,
                      logits_tokens: int = 1) -> float:
        """Matmul FLOPs of a prefill of new_tokens after past_tokens (causal attention)."""
        linear = 2.0 * new_tokens * self.layers * self.layer_params()
        # Each new token i attends to past + i + 1 keys: QK^T and PV, 2 FLOPs per MAC.
        keys = new_tokens * past_tokens + new_tokens * (new_tokens + 1) / 2
        attn = 4.0 * self.layers * self.heads * self.hd * keys
        head = 2.0 * logits_tokens * self.vocab * self.hidden
        return linear + attn + head


@dataclass(frozen=True)
class Hardware:
    """Measured ceilings (bytes/s and FLOP/s) and how far real code stays from them.

    Defaults are an H200 as measured by benchmarks/kv_cache_gpu.py (HBM copy 4.1 TB/s, bf16
    matmul 784 TFLOP/s). There, transformers' full prefill reached about 0.7 of the roofline
    at 4k-32k tokens (efficiency), and the cached 64-token step cost its floor plus a fixed
    ~5-25 ms (cached_extra_s): ~5 ms (7B) to ~20 ms (32B) with the CUDA-graph runner, ~20-90 ms
    in eager transformers (Python, launches, the cache copy).
    """

    hbm_bytes_per_s: float = 4.1e12
    matmul_flops_per_s: float = 7.84e14
    launch_overhead_s: float = 0.0
    efficiency: float = 1.0
    cached_extra_s: float = 0.0


def prefill_seconds(shape: ModelShape, hw: Hardware, new_tokens: int,
                    past_tokens: int = 0) -> float:
    """Roofline floor of one prefill step: weights and the past cache read once, or FLOPs."""
    read = shape.weight_bytes_read() + past_tokens * shape.kv_bytes_per_token()
    return max(read / hw.hbm_bytes_per_s,
               shape.prefill_flops(new_tokens, past_tokens) / hw.matmul_flops_per_s
               ) / hw.efficiency + hw.launch_overhead_s


@dataclass(frozen=True)
class ReuseEstimate:
    recompute_s: float
    cached_s: float
    transfer_s: float

    @property
    def pays(self) -> bool:
        return self.cached_s < self.recompute_s

    @property
    def reduction(self) -> float:
        return 1.0 - self.cached_s / self.recompute_s


def estimate_reuse(shape: ModelShape, hw: Hardware, prefix_tokens: int, query_tokens: int,
                   tier_bytes_per_s: float | None) -> ReuseEstimate:
    """Predicted TTFT with the cache (prefill(query) + bytes/bandwidth) vs recomputing.

    tier_bytes_per_s: the bandwidth that brings the cache to the GPU (host-to-device or disk);
    None for a cache already in GPU memory, whose one read is part of the query step.
    """
    cache_bytes = prefix_tokens * shape.kv_bytes_per_token()
    transfer = 0.0 if tier_bytes_per_s is None else cache_bytes / tier_bytes_per_s
    cached = prefill_seconds(shape, hw, query_tokens, prefix_tokens) + transfer + hw.cached_extra_s
    recompute = prefill_seconds(shape, hw, prefix_tokens + query_tokens)
    return ReuseEstimate(recompute_s=recompute, cached_s=cached, transfer_s=transfer)


def reuse_pays(shape: ModelShape, hw: Hardware, prefix_tokens: int, query_tokens: int,
               tier_bytes_per_s: float | None, margin: float = 0.8) -> bool:
    """Promote only where the cached path is predicted at most `margin` of recompute: the
    model is a floor for both sides and misses overheads, so demand a clear win."""
    est = estimate_reuse(shape, hw, prefix_tokens, query_tokens, tier_bytes_per_s)
    return est.cached_s <= margin * est.recompute_s
