"""What the artifact kinds share: reading the source memories an artifact is built from, and
the file digest their manifests record (KV caches, LoRA adapters, bundles)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from graphmem.errors import NotFound
from graphmem.store.protocol import CubeStore, StoredCube


def read_sources(store: CubeStore, actor: str, cube_ids: Sequence[str]) -> list[StoredCube]:
    """The cubes, in the order given, as the actor may read them; NotFound names any that is
    missing or unreadable (an artifact is never built from memories its builder cannot read)."""
    by_id = {c.props["id"]: c for c in store.get_cubes(actor, list(cube_ids))}
    missing = [i for i in cube_ids if i not in by_id]
    if missing:
        raise NotFound(f"cubes {missing} not found (or not readable by {actor})")
    return [by_id[i] for i in cube_ids]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()
