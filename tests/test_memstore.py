"""MemStore bundles against the real Neo4j: export by user, scope, kind and topic with the
full manifest; install into another namespace whose instance embeds with another model
(re-embedded, history kept), dry run, conflicts (skip, new version, fail), publishing as a
read-only shared scope; the CLI's inspect."""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from neo4j import Driver
from typer.testing import CliRunner

from graphmem.api import GraphMem
from graphmem.embeddings import SentenceTransformerEmbedder
from graphmem.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from graphmem.settings import Settings


class HashEmbedder:
    """A second, deterministic embedding model (same width, so it shares the vector index):
    token hashes into 384 buckets, L2-normalised. Not all-MiniLM: a bundle from the default
    model must be re-embedded to be searched here."""

    dim = 384
    name = "test-hash-384"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        out = []
        for text in texts:
            v = [0.0] * self.dim
            for token in text.lower().split():
                h = int.from_bytes(hashlib.sha256(token.strip(".,!?").encode()).digest()[:4],
                                   "big")
                v[h % self.dim] += 1.0
            norm = math.sqrt(sum(x * x for x in v)) or 1.0
            out.append([x / norm for x in v])
        return out


@pytest.fixture
def other(neo4j_settings: Settings) -> Iterator[GraphMem]:
    """The 'other instance': its own settings name another embedding model."""
    settings = neo4j_settings.model_copy(update={"embedding_model": HashEmbedder.name})
    with GraphMem(settings, embedder=HashEmbedder(), apply_schema=False) as m:
        yield m


def _source(mem: GraphMem, uid: str) -> dict[str, str]:
    ids = {
        "cello": mem.remember("I play the cello in a string quartet.", user_id=uid).id,
        "tea": mem.remember("I prefer green tea over coffee.", user_id=uid,
                            kind="preference").id,
        "bike": mem.remember("My bike is a blue Brompton.", user_id=uid).id,
    }
    mem.update(ids["bike"], "My bike is a red Brompton.", actor=f"user:{uid}")
    mem.add([{"role": "user", "content": "Our cello teacher is Ana."}], user_id=uid,
            session_id="s1", infer=False)
    return ids


def test_export_selection_and_manifest(mem: GraphMem, uid: str, tmp_path: Path) -> None:
    _source(mem, uid)
    manifest = mem.export_bundle(tmp_path / "all", actor=f"user:{uid}", user_id=uid,
                                 name="maya-basics", description="Maya's basics",
                                 licence="CC-BY-4.0")
    assert manifest.format_version == 2 and manifest.name == "maya-basics"
    assert manifest.licence == "CC-BY-4.0" and manifest.description == "Maya's basics"
    assert manifest.embedding_model == "all-MiniLM-L6-v2" and manifest.embedding_dim == 384
    assert manifest.schema_version == mem.store.schema_version()
    assert manifest.provenance.exported_by == f"user:{uid}"
    assert manifest.selection.user == uid
    assert manifest.counts == {"cubes": 5, "episodes": 1}  # bike has two versions
    assert set(manifest.sha256) == {"cubes.jsonl", "episodes.jsonl"}
    prefs = mem.export_bundle(tmp_path / "prefs", actor=f"user:{uid}", user_id=uid,
                              kinds=["preference"])
    assert prefs.counts["cubes"] == 1 and prefs.selection.kinds == ["preference"]
    topic = mem.export_bundle(tmp_path / "cello", actor=f"user:{uid}", user_id=uid,
                              topic="cello")
    texts = [json.loads(line)["payload"]["content"]
             for line in (tmp_path / "cello" / "cubes.jsonl").read_text().splitlines()]
    assert sorted(texts) == ["I play the cello in a string quartet.",
                             "Our cello teacher is Ana."]
    assert topic.counts["episodes"] == 1  # only the episodes the selected cubes came from
    scope = mem.create_shared_scope(f"kb{uid}", actor=f"user:{uid}")
    mem.remember("The quartet rehearses on Thursdays.", user_id=uid, scope=scope)
    by_scope = mem.export_bundle(tmp_path / "scope", actor=f"user:{uid}", scope=scope)
    assert by_scope.counts == {"cubes": 1, "episodes": 0}
    with pytest.raises(NotFound):
        mem.export_bundle(tmp_path / "none", actor=f"user:{uid}", user_id=uid, topic="zebra")
    with pytest.raises(NotFound):  # nobody else's memory is readable
        mem.export_bundle(tmp_path / "stolen", actor=f"user:x{uid}", user_id=uid)
    with pytest.raises(InvalidInput):
        mem.export_bundle(tmp_path / "x", actor=f"user:{uid}")


def test_install_in_another_model_reembeds_keeps_history_and_is_idempotent(
        mem: GraphMem, other: GraphMem, uid: str, tmp_path: Path, driver: Driver) -> None:
    ids = _source(mem, uid)
    mem.export_bundle(tmp_path / "b", actor=f"user:{uid}", user_id=uid, name="basics")
    target = f"{uid}t"
    dry = other.install_bundle(tmp_path / "b", actor=f"user:{target}", dry_run=True)
    assert dry.dry_run and dry.reembedded and len(dry.created) == 4
    assert other.list(user_id=target) == []  # a dry run writes nothing
    report = other.install_bundle(tmp_path / "b", actor=f"user:{target}")
    assert sorted(report.created) == sorted(dry.created) and report.versions_written == 5
    cubes = {c.text: c for c in other.list(user_id=target)}
    assert set(cubes) == {"I play the cello in a string quartet.",
                          "I prefer green tea over coffee.", "My bike is a red Brompton.",
                          "Our cello teacher is Ana."}
    bike = cubes["My bike is a red Brompton."]
    assert [v.text for v in other.history(bike.id, actor=f"user:{target}")] == [
        "My bike is a blue Brompton.", "My bike is a red Brompton."]
    assert bike.meta.owner == target and bike.meta.provenance.created_by == f"user:{uid}"
    rows, _, _ = driver.execute_query("MATCH (c:MemCube {id: $id}) WHERE c.current "
                                      "RETURN c.embedding AS e, c.bundle AS b", id=bike.id)
    expected = HashEmbedder().embed([bike.text])[0]
    assert rows[0]["b"] == "basics"
    assert max(abs(a - b) for a, b in zip(rows[0]["e"], expected, strict=True)) < 1e-6
    hits = other.search("red Brompton bike", user_id=target, limit=1)
    assert hits[0].cube.id == bike.id
    ep = cubes["Our cello teacher is Ana."].meta.provenance.episode_ids
    assert ep and ep[0] != mem.get(mem.list(user_id=uid, kinds=["episode"])[0].id,
                                   actor=f"user:{uid}").meta.provenance.episode_ids[0]
    again = other.install_bundle(tmp_path / "b", actor=f"user:{target}")
    assert again.created == [] and set(again.skipped.values()) == {"already installed"}
    assert len(other.list(user_id=target)) == 4
    # The source changes; a new export meets the first install.
    mem.update(ids["cello"], "I play the cello and the viola in a string quartet.",
               actor=f"user:{uid}")
    mem.export_bundle(tmp_path / "b2", actor=f"user:{uid}", user_id=uid, name="basics")
    skip = other.install_bundle(tmp_path / "b2", actor=f"user:{target}")
    assert list(skip.conflicts) == [ids["cello"]] and ids["cello"] in skip.skipped
    with pytest.raises(Conflict, match="on_conflict=fail"):
        other.install_bundle(tmp_path / "b2", actor=f"user:{target}", on_conflict="fail")
    assert "viola" not in " ".join(c.text for c in other.list(user_id=target))
    versioned = other.install_bundle(tmp_path / "b2", actor=f"user:{target}",
                                     on_conflict="new-version")
    assert len(versioned.new_versions) == 1
    cello = next(c for c in other.list(user_id=target) if "viola" in c.text)
    assert cello.meta.version == 2
    with pytest.raises(InvalidInput, match="on_conflict"):
        other.install_bundle(tmp_path / "b2", actor=f"user:{target}", on_conflict="merge")


def test_duplicates_in_the_target_and_write_access(mem: GraphMem, uid: str,
                                                   tmp_path: Path) -> None:
    mem.remember("I prefer green tea over coffee.", user_id=uid, kind="preference")
    mem.remember("I walk to work.", user_id=uid)
    mem.export_bundle(tmp_path / "b", actor=f"user:{uid}", user_id=uid)
    target = f"{uid}d"
    mem.remember("I prefer green tea over coffee.", user_id=target, kind="preference")
    report = mem.install_bundle(tmp_path / "b", actor=f"user:{target}")
    assert len(report.created) == 1 and len(report.skipped) == 1
    assert "duplicate" in next(iter(report.skipped.values()))
    fresh = f"{uid}f"
    mem.remember("I walk to work.", user_id=fresh)
    before = len(mem.list(user_id=fresh))
    with pytest.raises(Conflict, match="same content"):
        mem.install_bundle(tmp_path / "b", actor=f"user:{fresh}", on_conflict="fail")
    assert len(mem.list(user_id=fresh)) == before  # fail writes nothing
    with pytest.raises(PermissionDenied):
        mem.install_bundle(tmp_path / "b", actor=f"user:{target}",
                           scope=mem.create_shared_scope(f"s{uid}", actor=f"user:{uid}"),
                           dry_run=True)


def test_publish_as_a_read_only_shared_scope(mem: GraphMem, uid: str, tmp_path: Path) -> None:
    mem.remember("Lisbon trams stop running at 23:00.", user_id=uid)
    mem.export_bundle(tmp_path / "b", actor=f"user:{uid}", user_id=uid, name="lisbon-tips")
    publisher, reader, outsider = f"agent:pub{uid}", f"user:{uid}r", f"user:{uid}o"
    mem.remember("I like trams.", actor=reader)
    report = mem.publish_bundle(tmp_path / "b", f"tips{uid}", actor=publisher,
                                subscribers=[reader])
    assert report.scope == f"scope:shared:tips{uid}" and len(report.created) == 1
    hit = mem.search("when do trams stop in Lisbon?", actor=reader, limit=3)
    tip = next(h.cube for h in hit if "23:00" in h.cube.text)
    assert tip.meta.scope == report.scope
    with pytest.raises(PermissionDenied):
        mem.update(tip.id, "Trams run all night.", actor=reader)
    assert all("23:00" not in h.cube.text
               for h in mem.search("trams Lisbon", actor=outsider, limit=5))


def test_bundle_cli_inspect_and_tampering(mem: GraphMem, uid: str, tmp_path: Path) -> None:
    from graphmem.cli import app

    mem.remember("I collect stamps.", user_id=uid)
    mem.export_bundle(tmp_path / "b", actor=f"user:{uid}", user_id=uid, name="stamps",
                      licence="CC0-1.0")
    result = CliRunner().invoke(app, ["bundle", "inspect", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["name"] == "stamps" and shown["licence"] == "CC0-1.0"
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    del manifest["sha256"]["cubes.jsonl"]
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    result = CliRunner().invoke(app, ["bundle", "inspect", str(tmp_path / "b")])
    assert result.exit_code == 2 and "no sha256" in result.output
    with pytest.raises(InvalidInput):
        mem.install_bundle(tmp_path / "b", actor=f"user:{uid}x")


def test_v1_bundles_still_install(mem: GraphMem, uid: str, tmp_path: Path,
                                  embedder: SentenceTransformerEmbedder) -> None:
    mem.remember("I keep a sourdough starter.", user_id=uid)
    mem.export(uid, tmp_path / "v", actor=f"user:{uid}")
    manifest = json.loads((tmp_path / "v" / "manifest.json").read_text())
    old = {k: manifest[k] for k in ("format", "user_id", "created", "embedding_model",
                                    "embedding_dim", "counts", "sha256")}
    (tmp_path / "v" / "manifest.json").write_text(json.dumps({**old, "format_version": 1}))
    report = mem.install_bundle(tmp_path / "v", actor=f"user:{uid}v{uuid.uuid4().hex[:4]}")
    assert len(report.created) == 1 and not report.reembedded


class SmallHashEmbedder(HashEmbedder):
    """The second database's model: another name and another width (its own vector index)."""

    dim = 256
    name = "test-hash-256"


@pytest.mark.slow
def test_bundle_round_trip_between_two_databases(mem: GraphMem, uid: str,
                                                 tmp_path: Path) -> None:
    """A second local Neo4j (graphmem/neo4j_local, its own ports and data directory) whose
    instance embeds with a 256-wide model: the bundle installs re-embedded, keeps history
    and provenance, and comes back to the first database as it left."""
    from graphmem.neo4j_local import server

    _source(mem, uid)
    mem.export_bundle(tmp_path / "out", actor=f"user:{uid}", user_id=uid, name="trip")
    base = Settings()
    second = Settings(neo4j_bolt_port=17688, neo4j_http_port=17475, neo4j_heap="512m",
                      neo4j_pagecache="128m", data_dir=base.cache_dir / "test-neo4j-second",
                      embedding_model=SmallHashEmbedder.name, embedding_dim=256)
    info = server.up(second)
    try:
        with GraphMem(second, embedder=SmallHashEmbedder()) as there:
            there.store.wipe()
            there.store.ensure_schema(256)
            report = there.install_bundle(tmp_path / "out", actor=f"user:{uid}")
            assert report.reembedded and len(report.created) == 4
            cubes = {c.text: c for c in there.list(user_id=uid)}
            bike = cubes["My bike is a red Brompton."]
            assert len(there.history(bike.id, actor=f"user:{uid}")) == 2
            assert there.search("red Brompton bike", user_id=uid, limit=1)[0].cube.id == bike.id
            there.export_bundle(tmp_path / "back", actor=f"user:{uid}", user_id=uid,
                                name="trip-back")
        home = f"{uid}home"
        back = mem.install_bundle(tmp_path / "back", actor=f"user:{home}")
        assert back.reembedded and len(back.created) == 4
        assert sorted(c.text for c in mem.list(user_id=home)) == sorted(
            c.text for c in mem.list(user_id=uid))
    finally:
        if not info.already_running:
            server.down(second)
