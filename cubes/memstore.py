"""MemStore: memory bundles as installables (MemOS's "memory as installable modules").

Export a selection (a user's cubes, a scope's, some kinds, a topic) with a manifest that says
what it is (name, description, licence), where it came from (exporting principal, instance,
graph schema version), which model embedded it, and the sha256 of each file. Install it into
a scope of this instance: under ids derived from the target scope and the bundle's ids (so a
second install of the same bundle meets its first one instead of copying it twice, and a
bundle never grafts versions onto another principal's cube), re-embedded when this instance
embeds with another model, with conflicts handled as asked (skip, new version, fail) and a
dry run that writes nothing. A published bundle is installed into a shared scope its
publisher owns and subscribers are granted read on, so they read it and cannot change it.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import graphmem
from graphmem.cubes.bundle import (
    Bundle,
    BundleManifest,
    BundleProvenance,
    Selection,
    read_bundle,
    read_manifest,
    write_bundle,
)
from graphmem.embeddings import Embedder
from graphmem.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from graphmem.ingest import cube_hash
from graphmem.models import MemCube
from graphmem.principals import Principal
from graphmem.records import cube_from_stored
from graphmem.settings import Settings
from graphmem.store.protocol import CubeRow, Store, StoredCube

ConflictMode = Literal["skip", "new-version", "fail"]
CONFLICT_MODES: tuple[str, ...] = ("skip", "new-version", "fail")


@dataclass
class InstallReport:
    """What an install did (or, with dry_run, would do), per logical cube id of the bundle."""

    scope: str
    owner: str
    bundle: str | None
    dry_run: bool
    reembedded: bool  # the bundle's model is not this instance's: current versions re-embedded
    created: list[str] = field(default_factory=list)  # new cube ids in the target scope
    new_versions: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # bundle cube id -> why
    conflicts: dict[str, str] = field(default_factory=dict)  # bundle cube id -> what it met
    versions_written: int = 0


def installed_id(scope: str, bundle_id: str, prefix: str = "cube_") -> str:
    """The id a bundle's cube (or episode) gets in a target scope: stable, so reinstalling
    meets the first install, and distinct per scope, so installs never collide."""
    return prefix + hashlib.sha256(f"{scope}|{bundle_id}".encode()).hexdigest()[:24]


class MemStore:
    def __init__(self, store: Store, embedder: Embedder, settings: Settings) -> None:
        self._store = store
        self._embedder = embedder
        self._settings = settings

    # --- export -------------------------------------------------------------------------------

    def export(self, path: Path, *, actor: Principal, user: str | None = None,
               scope: str | None = None, kinds: list[str] | None = None,
               topic: str | None = None, name: str | None = None, description: str = "",
               licence: str | None = None) -> BundleManifest:
        if user is None and scope is None:
            raise InvalidInput("name what to export: a user, a scope, or both")
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise InvalidInput(f"{path} exists and is not an empty directory; export writes a "
                               "new bundle directory")
        rows = self._store.read_query("cubes/export_selection", actor=actor.id, owner=user,
                                      scope=scope, kinds=kinds)
        stored = [self._stored(r) for r in rows]
        if topic:
            wanted = topic.casefold()
            ids = {s.props["id"] for s in stored
                   if wanted in str(s.props.get("text", "")).casefold()
                   or any(wanted in e.casefold() for e in s.entities)}
            stored = [s for s in stored if s.props["id"] in ids]
        if not stored:
            raise NotFound(f"no cubes readable by {actor.id} match the selection")
        cubes = [(cube_from_stored(s), s.embedding) for s in stored]
        if scope is None and kinds is None and not topic and user is not None:
            episodes = self._store.read_query("cubes/export_episodes", actor=actor.id,
                                              user_id=user)
        else:
            wanted_eps = sorted({e for c, _ in cubes for e in c.meta.provenance.episode_ids})
            episodes = self._store.read_query("cubes/export_selected_episodes",
                                              actor=actor.id, ids=wanted_eps)
        self._store.audit(actor.id, "export", targets=sorted({c.id for c, _ in cubes}),
                          scope=scope, subject=user, result="ok", detail=name)
        about: dict[str, Any] = {
            "name": name, "description": description, "licence": licence,
            "schema_version": self._store.schema_version(),
            "selection": Selection(user=user, scope=scope, kinds=kinds, topic=topic),
            "provenance": BundleProvenance(
                exported_by=actor.id, graphmem_version=graphmem.__version__,
                instance=f"{self._settings.neo4j_uri}/{self._settings.neo4j_database}"),
        }
        return write_bundle(path, user, cubes, [dict(r["episode"]) for r in episodes],
                            self._settings, about=about)

    @staticmethod
    def _stored(row: dict[str, Any]) -> StoredCube:
        props = dict(row["cube"])
        embedding = props.pop("embedding", None)
        previous = row.get("previous") or []
        return StoredCube(props=props, episode_ids=list(row.get("episode_ids") or []),
                          entities=list(row.get("entities") or []),
                          previous_version=previous[0] if previous else None,
                          embedding=list(embedding) if embedding is not None else None)

    # --- inspect and install ------------------------------------------------------------------

    @staticmethod
    def inspect(path: Path) -> BundleManifest:
        """The manifest of a bundle whose files match their hashes."""
        return read_manifest(path)

    def install(self, path: Path, *, actor: Principal, owner: Principal, scope: str,
                on_conflict: str = "skip", dry_run: bool = False) -> InstallReport:
        if on_conflict not in CONFLICT_MODES:
            raise InvalidInput(f"on_conflict must be one of {', '.join(CONFLICT_MODES)}; got "
                               f"{on_conflict!r:.40}")
        bundle = read_bundle(path, self._settings)
        manifest = bundle.manifest
        report = InstallReport(scope=scope, owner=owner.id, bundle=manifest.name,
                               dry_run=dry_run, reembedded=(
                                   manifest.embedding_model != self._settings.embedding_model
                                   or manifest.embedding_dim != self._settings.embedding_dim))
        versions: dict[str, list[tuple[MemCube, list[float] | None]]] = defaultdict(list)
        for cube, embedding in bundle.cubes:
            versions[cube.id].append((cube, embedding))
        currents = {cid: max(vs, key=lambda v: (v[0].meta.current, v[0].meta.version))[0]
                    for cid, vs in versions.items()}
        probe = [{"id": installed_id(scope, cid),
                  "content_hash": cube_hash(c.meta.kind.value, c.text)}
                 for cid, c in currents.items()]
        found_rows = self._store.read_query("cubes/install_conflicts", actor=actor.id,
                                            scope=scope, rows=probe)
        if found_rows and not found_rows[0]["may_write"] and scope != actor.own_scope:
            raise PermissionDenied(f"{actor.id} may not write to scope {scope}")
        met = {r["id"]: r for r in found_rows}
        create: list[str] = []
        revise: list[tuple[str, dict[str, Any]]] = []
        for cid, current in currents.items():
            target = installed_id(scope, cid)
            found = met.get(target, {})
            if found.get("id_scope") is not None:
                same = found.get("id_hash") == cube_hash(current.meta.kind.value, current.text)
                if same:
                    report.skipped[cid] = "already installed"
                    continue
                report.conflicts[cid] = f"installed before as {target}, with other text"
                if on_conflict == "new-version" and found.get("id_status") in (
                        "generated", "activated"):
                    revise.append((cid, found))
                elif on_conflict == "skip":
                    report.skipped[cid] = "changed since installed (on_conflict=skip)"
                continue
            if found.get("duplicate_of"):
                report.conflicts[cid] = f"same content already in {scope} as " \
                                        f"{found['duplicate_of']}"
                if on_conflict != "fail":
                    report.skipped[cid] = "duplicate of a memory already in the scope"
                continue
            create.append(cid)
        if on_conflict == "fail" and report.conflicts:
            if dry_run:
                return report
            listed = "; ".join(f"{k}: {v}" for k, v in list(report.conflicts.items())[:5])
            raise Conflict(f"{len(report.conflicts)} bundle cube(s) conflict with {scope} "
                           f"(on_conflict=fail), nothing was installed: {listed}")
        report.created = [installed_id(scope, cid) for cid in create]
        report.new_versions = [installed_id(scope, cid) for cid, _ in revise]
        if dry_run:
            return report
        rows = self._rows(bundle, {cid: versions[cid] for cid in create}, owner, scope)
        episodes = self._episodes(bundle, {cid: versions[cid] for cid in create}, owner, scope)
        if rows:
            report.versions_written += self._store.import_rows(actor.id, scope, rows, episodes,
                                                               owner=owner.id)
        for cid, found in revise:
            text = currents[cid].text
            self._store.new_version(actor.id, found["id_vid"], text=text,
                                    embedding=self._embedder.embed([text])[0],
                                    content_hash=cube_hash(currents[cid].meta.kind.value, text),
                                    attributes_json=None,
                                    reason=f"bundle {manifest.name or path.name}")
            report.versions_written += 1
        return report

    def _rows(self, bundle: Bundle, chosen: dict[str, list[tuple[MemCube, list[float] | None]]],
              owner: Principal, scope: str) -> list[CubeRow]:
        """Every version of the chosen cubes under their installed ids; the current versions
        carry an embedding (the bundle's, or a new one from this instance's model)."""
        ids = {cid: installed_id(scope, cid) for cid in chosen}
        need = [c for vs in chosen.values() for c, e in vs if c.meta.current and e is None]
        vectors = self._embedder.embed([c.text for c in need]) if need else []
        fresh = {f"{c.id}:{c.meta.version}": v for c, v in zip(need, vectors, strict=True)}
        rows: list[CubeRow] = []
        for cid, vs in chosen.items():
            for cube, embedding in vs:
                copy = cube.model_copy(deep=True)
                copy.meta.id = ids[cid]
                if copy.meta.superseded_by:
                    copy.meta.superseded_by = ids.get(copy.meta.superseded_by)
                if copy.meta.current:
                    vector = embedding if embedding is not None else \
                        fresh[f"{cube.id}:{cube.meta.version}"]
                else:
                    vector = []
                copy.meta.provenance.episode_ids = [
                    installed_id(scope, e, "ep_") for e in cube.meta.provenance.episode_ids]
                row = bundle.row_for(copy, vector, owner)
                row.props["content_hash"] = cube_hash(copy.meta.kind.value, copy.text)
                row.props["bundle_cube_id"] = cid
                if bundle.manifest.name:
                    row.props["bundle"] = bundle.manifest.name
                rows.append(row)
        return rows

    @staticmethod
    def _episodes(bundle: Bundle, chosen: dict[str, list[tuple[MemCube, list[float] | None]]],
                  owner: Principal, scope: str) -> list[dict[str, Any]]:
        wanted = {e for vs in chosen.values() for c, _ in vs
                  for e in c.meta.provenance.episode_ids}
        return [dict(e, id=installed_id(scope, e["id"], "ep_"), owner=owner.name,
                     owner_id=owner.id, bundle_episode_id=e["id"])
                for e in bundle.episodes if e["id"] in wanted]
