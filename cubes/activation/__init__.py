"""Activation memory: hot memory sets kept as KV caches of one model (MemOS's second type).

Model-agnostic machinery over transformers objects the caller loads: build a prefix cache
(prefix.py), store it with a manifest (storage.py), reuse it exactly (reuse.py, and the
static-cache / CUDA-graph fast path in static.py), keep caches in GPU / pinned-host / disk
tiers (tiers.py), and decide whether reuse pays at all (cost.py).
"""

from graphmem.cubes.activation.cost import (
    Hardware,
    ModelShape,
    ReuseEstimate,
    estimate_reuse,
    prefill_seconds,
    reuse_pays,
)
from graphmem.cubes.activation.manifest import (
    CacheMismatch,
    CubeRef,
    KVManifest,
    check_compatible,
    model_fingerprint,
    token_ids_sha256,
)
from graphmem.cubes.activation.prefix import (
    KVCache,
    build_prefix_cache,
    build_prefix_cache_from_ids,
    render_prefix,
    tokenize_prefix,
)
from graphmem.cubes.activation.reuse import (
    extend_ids,
    generate_with_cache,
    next_token_logits,
    prefill_with_cache,
    working_copy,
)
from graphmem.cubes.activation.storage import load_cache, read_manifest, save_cache
from graphmem.cubes.activation.tiers import Tier, TieredKVStore

__all__ = [
    "CacheMismatch",
    "CubeRef",
    "Hardware",
    "KVCache",
    "KVManifest",
    "ModelShape",
    "ReuseEstimate",
    "Tier",
    "TieredKVStore",
    "build_prefix_cache",
    "build_prefix_cache_from_ids",
    "check_compatible",
    "estimate_reuse",
    "extend_ids",
    "generate_with_cache",
    "load_cache",
    "model_fingerprint",
    "next_token_logits",
    "prefill_seconds",
    "prefill_with_cache",
    "read_manifest",
    "render_prefix",
    "reuse_pays",
    "save_cache",
    "token_ids_sha256",
    "tokenize_prefix",
    "working_copy",
]
