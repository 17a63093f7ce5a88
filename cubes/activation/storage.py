"""Store and load KV caches: safetensors for the tensors (never pickle), JSON for the manifest.

A directory per cache: `kv.safetensors` (keys `k.<layer>`, `v.<layer>`, `prefix_ids`) and
`manifest.json` (the KVManifest plus the tensor file's size and sha256). The manifest is read
and checked first, so a cache for another model or adapter is refused without reading tensors.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from graphmem.cubes.activation.manifest import (
    CacheMismatch,
    KVManifest,
    check_compatible,
    token_ids_sha256,
)
from graphmem.cubes.activation.prefix import KVCache
from graphmem.cubes.artifacts import sha256_file

TENSORS = "kv.safetensors"
MANIFEST = "manifest.json"




def save_cache(kv: KVCache, directory: Path) -> Path:
    """Write the cache; the manifest is written last (atomically), so a half-written cache has
    no manifest and is never loaded."""
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {"prefix_ids": kv.prefix_ids.contiguous().cpu()}
    for i, (k, v) in enumerate(zip(kv.keys, kv.values, strict=True)):
        tensors[f"k.{i}"] = k.contiguous().cpu()  # no-op for a host-tier cache
        tensors[f"v.{i}"] = v.contiguous().cpu()
    path = directory / TENSORS
    save_file(tensors, str(path), metadata={"format": kv.manifest.format})
    record = {"manifest": json.loads(kv.manifest.to_json()),
              "tensors": {"file": TENSORS, "bytes": path.stat().st_size,
                          "sha256": sha256_file(path)}}
    tmp = directory / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(record, sort_keys=True, indent=1), encoding="utf-8")
    os.replace(tmp, directory / MANIFEST)
    return directory


def read_manifest(directory: Path) -> KVManifest:
    record = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    return KVManifest.from_json(json.dumps(record["manifest"]))


def load_cache(directory: Path, *, model_fingerprint: str, adapter_id: str | None,
               device: torch.device | str = "cpu", dtype: torch.dtype | None = None,
               verify_checksum: bool = True) -> KVCache:
    """Load a cache for the given model fingerprint and adapter, or raise CacheMismatch.

    verify_checksum re-hashes the tensor file (one extra read of it); the disk-tier benchmark
    turns it off to time the load alone. safetensors itself rejects a truncated file.
    """
    record = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    manifest = KVManifest.from_json(json.dumps(record["manifest"]))
    check_compatible(manifest, model_fingerprint=model_fingerprint, adapter_id=adapter_id,
                     dtype=dtype)
    path = directory / record["tensors"]["file"]
    if path.stat().st_size != record["tensors"]["bytes"]:
        raise CacheMismatch(f"{path} has the wrong size: truncated or replaced")
    if verify_checksum and sha256_file(path) != record["tensors"]["sha256"]:
        raise CacheMismatch(f"{path} does not match its manifest's sha256")
    tensors = load_file(str(path), device=str(device))
    prefix_ids = tensors.pop("prefix_ids").to("cpu", torch.long)
    if token_ids_sha256(prefix_ids) != manifest.prefix_sha256:
        raise CacheMismatch("stored prefix ids do not match the manifest's hash")
    n = manifest.num_layers
    keys = tuple(tensors[f"k.{i}"] for i in range(n))
    values = tuple(tensors[f"v.{i}"] for i in range(n))
    return KVCache(keys, values, prefix_ids, manifest)
