"""What a stored KV cache was built from, so that it is never used for anything else.

Keys and values depend on every weight of the model (and of a LoRA adapter merged into it), on
the dtype, and on the exact prefix token ids: a cache replayed under a different model, adapter
or prefix silently produces wrong answers rather than an error. The manifest records all of it
and `check_compatible` refuses a mismatch before any tensor is read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from graphmem.errors import GraphMemError

FORMAT = "graphmem-kv-cache"
FORMAT_VERSION = 1
# Tensors sampled per parameter for the weight fingerprint, and how many parameters are sampled.
_SAMPLES_PER_TENSOR = 64
_SAMPLED_PARAMETERS = 8


class CacheMismatch(GraphMemError, ValueError):
    """A stored cache was asked for under another model, adapter, dtype or prefix; not used."""


@dataclass(frozen=True)
class CubeRef:
    """One source cube of a cache, at the version whose text was rendered into the prefix."""

    id: str
    version: int


@dataclass(frozen=True)
class KVManifest:
    """Everything that decides whether a cache's keys and values are valid for a request."""

    model_id: str
    model_fingerprint: str
    dtype: str
    num_layers: int
    token_count: int
    prefix_sha256: str
    cubes: tuple[CubeRef, ...] = ()
    scope: str | None = None
    adapter_id: str | None = None
    template_version: int = 1
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    extra: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        """Byte-stable JSON (sorted keys) so that equal manifests hash equally."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> KVManifest:
        raw: dict[str, Any] = json.loads(text)
        if raw.get("format") != FORMAT or raw.get("format_version") != FORMAT_VERSION:
            raise CacheMismatch(
                f"not a {FORMAT} v{FORMAT_VERSION} manifest: "
                f"{raw.get('format')!r} v{raw.get('format_version')!r}")
        raw["cubes"] = tuple(CubeRef(id=str(c["id"]), version=int(c["version"]))
                             for c in raw.get("cubes", []))
        return cls(**raw)


def token_ids_sha256(ids: torch.Tensor | Sequence[int]) -> str:
    """sha256 of the token ids as little-endian int64: independent of device and tensor dtype."""
    if isinstance(ids, torch.Tensor):
        values = ids.detach().reshape(-1).to("cpu", torch.int64).tolist()
    else:
        values = [int(i) for i in ids]
    h = hashlib.sha256()
    h.update(len(values).to_bytes(8, "little"))
    for v in values:
        h.update(int(v).to_bytes(8, "little", signed=True))
    return h.hexdigest()


def _config_json(model: torch.nn.Module) -> str:
    config = getattr(model, "config", None)
    if config is None:
        return "{}"
    raw = dict(config.to_dict())
    # Volatile fields that do not change what the weights compute.
    for volatile in ("transformers_version", "_name_or_path", "_attn_implementation_autoset",
                     "_commit_hash", "attn_implementation", "use_cache"):
        raw.pop(volatile, None)
    return json.dumps(raw, sort_keys=True, default=str)


def model_fingerprint(model: torch.nn.Module) -> str:
    """A cheap identity of the model's weights: its config plus strided samples of a few tensors.

    Hashing all weights of a 7B model takes seconds; this reads a few hundred elements. Any
    retraining, a different checkpoint or a merged LoRA changes the sampled values with near
    certainty, while the same checkpoint always gives the same fingerprint (also across devices:
    raw bytes are hashed after moving the samples to the CPU). It is an identity check, not a
    tamper-proof digest: an adversary could change unsampled weights.
    """
    h = hashlib.sha256()
    h.update(_config_json(model).encode())
    named = sorted(model.state_dict().items())
    if named:
        step = max(1, len(named) // _SAMPLED_PARAMETERS)
        picks = [*named[::step][:_SAMPLED_PARAMETERS], named[-1]]
        for name, tensor in picks:
            flat = tensor.detach().reshape(-1)
            n = flat.numel()
            h.update(f"{name}|{tuple(tensor.shape)}|{tensor.dtype}".encode())
            if n == 0:
                continue
            k = min(n, _SAMPLES_PER_TENSOR)
            # integer strides: a float linspace rounds past the end of a 100M-element tensor
            idx = torch.arange(k, dtype=torch.int64) * (n - 1) // max(k - 1, 1)
            sample = flat[idx.to(flat.device)].to("cpu").contiguous()
            h.update(sample.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def check_compatible(manifest: KVManifest, *, model_fingerprint: str,
                     adapter_id: str | None, dtype: torch.dtype | None = None,
                     prefix_sha256: str | None = None) -> None:
    """Raise CacheMismatch unless the cache was built by this model, adapter (and dtype, prefix)."""
    problems: list[str] = []
    if manifest.model_fingerprint != model_fingerprint:
        problems.append("model weights fingerprint differs")
    if manifest.adapter_id != adapter_id:
        problems.append(f"adapter {manifest.adapter_id!r} != requested {adapter_id!r}")
    if dtype is not None and manifest.dtype != str(dtype):
        problems.append(f"dtype {manifest.dtype} != requested {dtype}")
    if prefix_sha256 is not None and manifest.prefix_sha256 != prefix_sha256:
        problems.append("prefix token ids differ")
    if problems:
        raise CacheMismatch("KV cache refused: " + "; ".join(problems))
