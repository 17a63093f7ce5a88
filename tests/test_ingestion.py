"""Dialogue → subgraph, end to end on the real Neo4j: the offline extractor, the LLM extractor
over HTTP, entity resolution, supersession, idempotent bulk ingestion from files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from neo4j import Driver
from typer.testing import CliRunner

from graphmem.api import GraphMem
from graphmem.embeddings import SentenceTransformerEmbedder
from graphmem.extractors.base import ExtractedEntity, ExtractedMemory, Extraction, Turn
from graphmem.retrieval import RECIPES
from graphmem.settings import Settings
from tests.conftest import written_statements
from tests.test_extractors_llm import VALID, Script, server  # noqa: F401  (fixture)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "prefeval-dev"


def test_offline_extraction_builds_a_preference_subgraph(mem: GraphMem, uid: str,
                                                          driver: Driver) -> None:
    result = mem.add([
        {"id": "t1", "role": "user",
         "content": "I can't stand crowds, so I avoid Lisbon in August."},
        {"id": "t2", "role": "assistant", "content": "Got it, quieter months then."},
        {"id": "t3", "role": "user", "content": "I prefer window seats on long flights."},
    ], user_id=uid, session_id="s1")
    assert result.extractor == "offline"
    prefs = {c.text: c for c in result.cubes if c.meta.kind.value == "preference"}
    crowds = next(c for t, c in prefs.items() if "crowds" in t)
    assert crowds.payload.attributes["polarity"] == "negative"
    assert any("window seats" in t for t in prefs)
    records, _, _ = driver.execute_query(
        "MATCH (c:Preference {owner: $u})-[:DERIVED_FROM]->(e:Episode) "
        "RETURN c.text AS text, e.msg_id AS turn", u=uid)
    assert {r["turn"] for r in records} == {"t1", "t3"}
    records, _, _ = driver.execute_query(
        "MATCH (c:MemCube {owner: $u})-[:ABOUT]->(n:Entity) RETURN collect(n.name) AS names",
        u=uid)
    assert "Lisbon" in records[0]["names"]
    records, _, _ = driver.execute_query(
        "MATCH (:Episode {owner: $u, msg_id: 't1'})-[:NEXT]->(b:Episode) RETURN b.msg_id AS m",
        u=uid)
    assert records[0]["m"] == "t2"


def test_a_memory_that_restates_its_turn_stands_in_for_the_raw_cube(mem: GraphMem, uid: str,
                                                                  driver: Driver) -> None:
    """A one-sentence turn extracted as it is was stored twice (a preference cube and the raw
    turn's episode cube, same text): twice in every index, twice in a search's hits."""
    result = mem.add([
        {"id": "a1", "role": "assistant", "content": "Shall I book your flight to Reykjavik?"},
        {"id": "u1", "role": "user", "content": "I prefer  window seats when I fly.",
         "timestamp": "2025-03-01T10:00:00+00:00"},
    ], user_id=uid, session_id="s1")
    assert [(c.meta.kind.value, c.text) for c in result.cubes] == [
        ("preference", "I prefer  window seats when I fly.")]
    records, _, _ = driver.execute_query(
        "MATCH (c:MemCube {owner: $u})-[:DERIVED_FROM]->(e:Episode) "
        "RETURN c.kind AS kind, e.msg_id AS turn, toString(c.valid_from) AS since", u=uid)
    assert [(r["kind"], r["turn"], r["since"]) for r in records] == [
        ("preference", "u1", "2025-03-01T10:00:00Z")]
    # It keeps the raw cube's search text: the neighbouring turn's words still find it.
    hits = mem.search("Reykjavik", user_id=uid, limit=3, config=RECIPES["bm25"])
    assert [h.cube.id for h in hits] == [result.cubes[0].id]
    hits = mem.search("Which seat do I like?", user_id=uid, limit=3)
    assert [h.cube.text for h in hits].count("I prefer  window seats when I fly.") == 1
    # A turn that says more than any one memory keeps its raw cube beside them.
    more = mem.add("My sister Ana lives in Porto. I prefer green tea.", user_id=uid)
    assert "episode" in {c.meta.kind.value for c in more.cubes}
    assert len(more.cubes) >= 2


def test_a_contradicting_preference_supersedes_the_old_one(mem: GraphMem, uid: str,
                                                           driver: Driver) -> None:
    mem.add([{"role": "user", "content": "I'm vegetarian."}], user_id=uid, session_id="a")
    later = mem.add([{"role": "user", "content": "I'm pescatarian now."}], user_id=uid,
                    session_id="b")
    assert len(later.superseded) == 1
    records, _, _ = driver.execute_query(
        "MATCH (old:Preference {owner: $u})-[:SUPERSEDED_BY]->(new:Preference) "
        "RETURN old.text AS old, new.text AS new, old.valid_until IS NOT NULL AS ended", u=uid)
    assert [(r["old"], r["new"], r["ended"]) for r in records] == [
        ("I'm vegetarian.", "I'm pescatarian now.", True)]
    found = [h.cube.text for h in mem.search("what is my diet", user_id=uid, limit=5,
                                             kinds=["preference"])]
    assert "I'm pescatarian now." in found and "I'm vegetarian." not in found


class ScriptedExtractor:
    """Returns fixed extractions, so entity resolution is tested apart from spaCy's NER."""

    name = "scripted"
    version = "1"

    def __init__(self, entities: Sequence[list[str]]) -> None:
        self._entities = list(entities)

    def extract(self, turns: Sequence[Turn], *, user_id: str) -> Extraction:
        names = self._entities.pop(0)
        return Extraction(
            entities=[ExtractedEntity(n, "place") for n in names],
            memories=[ExtractedMemory(turns[0].content, "fact", [turns[0].episode_id],
                                      entities=names)],
            extractor="scripted",
        )


def test_entities_resolve_across_sessions_by_name_and_by_meaning(
    neo4j_settings: Settings, embedder: SentenceTransformerEmbedder, uid: str, driver: Driver
) -> None:
    extractor = ScriptedExtractor([["New York City"], ["new york city"], ["New York"],
                                   ["Kyoto"]])
    with GraphMem(neo4j_settings, embedder=embedder, extractor=extractor) as mem:
        for i, text in enumerate(["I flew to New York City.", "New York City was loud.",
                                  "New York in winter is cold.", "Kyoto next spring."]):
            mem.add(text, user_id=uid, session_id=f"s{i}")
    records, _, _ = driver.execute_query(
        "MATCH (n:Entity {owner: $u}) OPTIONAL MATCH (n)<-[:ABOUT]-(c:MemCube) "
        "RETURN n.name AS name, n.aliases AS aliases, count(c) AS cubes ORDER BY name", u=uid)
    rows = {r["name"]: (sorted(r["aliases"]), r["cubes"]) for r in records}
    assert set(rows) == {"New York City", "Kyoto"}
    assert rows["New York City"] == (["New York", "New York City", "new york city"], 3)


def test_llm_extractor_end_to_end_over_http(server: tuple[str, Script],  # noqa: F811
                                           neo4j_settings: Settings,
                                           embedder: SentenceTransformerEmbedder, uid: str,
                                           driver: Driver) -> None:
    """The completion is scripted (see test_extractors_llm): everything after it is real —
    HTTP, JSON validation, the write transaction and the graph it produces."""
    url, script = server
    script.completion(json.dumps(VALID))
    settings = neo4j_settings.model_copy(update={
        "extractor": "llm", "llm_base_url": url, "llm_model": "scripted-model",
        "llm_timeout_s": 5.0})
    with GraphMem(settings, embedder=embedder) as mem:
        result = mem.add([
            {"role": "user",
             "content": "I can't stand crowds, and I moved to Berlin in March 2023."},
            {"role": "assistant", "content": "Noted! You might like quiet cafés in Kreuzberg."},
        ], user_id=uid, session_id="s1")
    assert result.extractor == "llm"
    by_kind = {c.meta.kind.value: c for c in result.cubes}
    assert by_kind["preference"].text == "I can't stand crowds."
    assert by_kind["preference"].meta.model == "scripted-model"
    assert by_kind["fact"].meta.valid_from is not None
    assert "quiet cafés" not in " ".join(c.text for c in result.cubes)  # assistant's idea
    records, _, _ = driver.execute_query(
        "MATCH (u:Entity {owner: $u, name: $u})-[r:RELATED]->(b:Entity {name: 'Berlin'}) "
        "RETURN r.type AS type", u=uid)
    assert len(records) == 1  # the relation from the user lands on the user entity


@pytest.mark.skipif(not DATA.is_dir(), reason="PrefEval dev data (../shared/datasets) not present")
def test_graphmem_ingest_prefeval_file_is_idempotent(neo4j_settings: Settings, uid: str,
                                                     tmp_path: Path, driver: Driver,
                                                     monkeypatch: object) -> None:
    items = json.loads((DATA / "implicit_preference" / "persona-driven" /
                        "travel_transportation.json").read_text())[:1]
    path = tmp_path / "persona.json"
    path.write_text(json.dumps(items))
    env = {"GRAPHMEM_NEO4J_URI": neo4j_settings.neo4j_uri,
           "GRAPHMEM_NEO4J_PASSWORD": neo4j_settings.neo4j_password.get_secret_value()}
    from graphmem.cli import app

    first = CliRunner().invoke(app, ["ingest", str(path), "--user", uid], env=env)
    assert first.exit_code == 0, first.output
    assert "extractor offline" in " ".join(first.output.split())
    assert "near-duplicates merged" in " ".join(first.output.split())
    records, _, _ = driver.execute_query(
        "MATCH (p:Preference {owner: $u}) RETURN count(p) AS n", u=uid)
    assert records[0]["n"] > 0
    second = CliRunner().invoke(app, ["ingest", str(path), "--user", uid], env=env)
    assert second.exit_code == 0
    assert "0 new episodes, 0 new cubes" in " ".join(second.output.split())


def test_an_add_writes_in_two_statements(mem: GraphMem, uid: str) -> None:
    """The ACL check and what an add writes go as one statement, the supersession, audit
    event and read-back as a second (graphmem.store.statement_sequence): two statements in
    one transaction where there were eight, with the same outcome."""
    mem.add([{"role": "user", "content": "I love spicy food."}], user_id=uid)
    with written_statements(mem) as ran:
        later = mem.add([{"role": "user",
                          "content": "I hate spicy food since my trip to Lima."}], user_id=uid)
        assert len(ran) == 2
        # Every file is in its statement whatever the add holds (here no entity, no
        # preference): the same two texts, each planned once.
        mem.add([{"role": "user", "content": "ok"}], user_id=uid)
    assert len(ran) == 4 and ran[2:] == ran[:2]
    assert len(later.superseded) == 1
    prefs = [c for c in later.cubes if c.meta.kind.value == "preference"]
    assert prefs and prefs[0].payload.attributes["polarity"] == "negative"
    assert prefs[0].meta.provenance.episode_ids
