"""The bundle format: a directory with cubes.jsonl, episodes.jsonl and manifest.json.

cubes.jsonl holds one MemCube per line in the MemOS {"meta", "payload"} shape (every version,
so history survives the trip) plus its embedding; the manifest records the sha256 of each
file, so a truncated or edited bundle is refused before anything is imported.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from graphmem.cubes.artifacts import sha256_file
from graphmem.errors import InvalidInput
from graphmem.models import MemCube, utcnow
from graphmem.principals import Principal
from graphmem.records import labels_for, props_from_cube
from graphmem.settings import Settings
from graphmem.store.protocol import CubeRow

FORMAT = "graphmem-bundle"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # v1 bundles (user export, no MemStore fields) still install


class Selection(BaseModel):
    """Which cubes a bundle holds: the filters it was exported with (null = any)."""

    user: str | None = None
    scope: str | None = None
    kinds: list[str] | None = None
    topic: str | None = None


class BundleProvenance(BaseModel):
    """Where a bundle came from: the exporting principal, the Neo4j it was read from (URI
    and database, not credentials) and the GraphMem graph schema version there."""

    exported_by: str | None = None
    instance: str | None = None
    graphmem_version: str | None = None


class BundleManifest(BaseModel):
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    name: str | None = None
    description: str = ""
    licence: str | None = None
    user_id: str | None = None
    created: str
    schema_version: str | None = Field(default=None, description="the graph schema "
                                       "fingerprint of the exporting instance")
    embedding_model: str
    embedding_dim: int
    selection: Selection = Field(default_factory=Selection)
    provenance: BundleProvenance = Field(default_factory=BundleProvenance)
    counts: dict[str, int]
    sha256: dict[str, str]




def _jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, sort_keys=True, default=str) + "\n")


def write_bundle(path: Path, user_id: str | None,
                 cubes: list[tuple[MemCube, list[float] | None]],
                 episodes: list[dict[str, Any]], settings: Settings, *,
                 about: dict[str, Any] | None = None) -> BundleManifest:
    """`about`: the MemStore fields (name, description, licence, schema_version, selection,
    provenance) of the manifest."""
    path.mkdir(parents=True, exist_ok=True)
    _jsonl(path / "cubes.jsonl",
           [{**c.to_memos_json(), "embedding": emb} for c, emb in cubes])
    _jsonl(path / "episodes.jsonl", episodes)
    manifest = BundleManifest(
        user_id=user_id,
        created=utcnow().isoformat(),
        embedding_model=settings.embedding_model,
        embedding_dim=settings.embedding_dim,
        counts={"cubes": len(cubes), "episodes": len(episodes)},
        sha256={name: sha256_file(path / name) for name in ("cubes.jsonl", "episodes.jsonl")},
        **(about or {}),
    )
    (path / "manifest.json").write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
    return manifest


@dataclass
class Bundle:
    manifest: BundleManifest
    cubes: list[tuple[MemCube, list[float] | None]]
    episodes: list[dict[str, Any]]
    episode_map: dict[str, str] = field(default_factory=dict)

    def row_for(self, cube: MemCube, embedding: list[float], owner: Principal) -> CubeRow:
        props = props_from_cube(cube)
        props["owner"], props["owner_id"] = owner.name, owner.id
        return CubeRow(
            props=props,
            labels=labels_for(cube.meta.kind.value, cube.meta.memory_type),
            embedding=embedding,
            episode_ids=[self.episode_map.get(e, e) for e in cube.meta.provenance.episode_ids],
        )


def read_manifest(path: Path) -> BundleManifest:
    """The manifest, after checking every file against its sha256 (nothing is trusted from
    a bundle whose files were truncated or edited)."""
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise InvalidInput(f"{path} is not a GraphMem bundle (no manifest.json)")
    try:
        manifest = BundleManifest.model_validate_json(manifest_path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise InvalidInput(f"invalid bundle manifest: {exc}") from exc
    if manifest.format != FORMAT or manifest.format_version not in READABLE_VERSIONS:
        raise InvalidInput(f"unsupported bundle format {manifest.format} "
                           f"v{manifest.format_version}")
    missing = {"cubes.jsonl", "episodes.jsonl"} - set(manifest.sha256)
    if missing:
        raise InvalidInput(f"bundle manifest has no sha256 for {', '.join(sorted(missing))}; "
                           "nothing was imported")
    for name, digest in manifest.sha256.items():
        file = path / name
        if not file.is_file() or sha256_file(file) != digest:
            raise InvalidInput(f"bundle file {name} is missing or does not match its sha256; "
                               "nothing was imported")
    return manifest


def read_bundle(path: Path, settings: Settings, *, remap_ids: bool = False) -> Bundle:
    """Verify and parse a bundle; remap_ids gives every cube and episode a fresh id. The
    embeddings are kept only when the bundle was embedded by this instance's model."""
    manifest = read_manifest(path)
    same_model = (manifest.embedding_model == settings.embedding_model
                  and manifest.embedding_dim == settings.embedding_dim)
    cubes: list[tuple[MemCube, list[float] | None]] = []
    try:
        for line in (path / "cubes.jsonl").read_text(encoding="utf-8").splitlines():
            data = json.loads(line)
            embedding = data.pop("embedding", None)
            cubes.append((MemCube.from_memos_json(data), embedding if same_model else None))
        episodes = [json.loads(line) for line in
                    (path / "episodes.jsonl").read_text(encoding="utf-8").splitlines()]
    except (ValidationError, json.JSONDecodeError, UnicodeDecodeError, AttributeError,
            TypeError) as exc:
        raise InvalidInput(f"bundle content is malformed: {exc}") from exc
    for i, episode in enumerate(episodes):
        if not isinstance(episode, dict) or not isinstance(episode.get("id"), str) \
                or not episode["id"]:
            raise InvalidInput(f"bundle episode {i} has no string id; nothing was imported")
    bundle = Bundle(manifest, cubes, episodes)
    if remap_ids:
        _remap(bundle)
    return bundle


def _remap(bundle: Bundle) -> None:
    cube_ids = {c.meta.id: "cube_" + uuid.uuid4().hex[:24] for c, _ in bundle.cubes}
    bundle.episode_map = {e["id"]: "ep_" + uuid.uuid4().hex[:24] for e in bundle.episodes}
    for cube, _ in bundle.cubes:
        cube.meta.id = cube_ids[cube.meta.id]
        if cube.meta.superseded_by in cube_ids:
            cube.meta.superseded_by = cube_ids[cube.meta.superseded_by]
    for episode in bundle.episodes:
        episode["id"] = bundle.episode_map[episode["id"]]
