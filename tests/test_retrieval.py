"""Hybrid retrieval on the real Neo4j: each retriever, fusion, ACL inside every query, the
graph walk reaching memories that share no words with the query, packing, supersession."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from neo4j import Driver

from graphmem.api import GraphMem
from graphmem.ingest import Origin, cube_row, entity_id, normalise_entity
from graphmem.models import (
    SEARCHABLE_STATUSES,
    CubeKind,
    CubeMeta,
    CubePayload,
    MemCube,
    NewCube,
    SearchHit,
)
from graphmem.retrieval import RECIPES, SearchConfig
from graphmem.retrieval.channels import CHANNELS
from graphmem.retrieval.config import RetrieverConfig
from graphmem.retrieval.fusion import reciprocal_rank_fusion, weighted_score_fusion
from graphmem.retrieval.intent import asks_for_preference
from graphmem.retrieval.lucene import term_query
from graphmem.retrieval.packing import count_tokens, pack
from graphmem.retrieval.pipeline import HybridRetriever, reserve_slots
from graphmem.retrieval.rank import mmr
from graphmem.store.ann_share import AnnShare
from graphmem.store.protocol import ChannelQuery, EntityRow, RelationRow, WriteBatch
from tests.conftest import named_queries


def _write(mem: GraphMem, uid: str, items: list[tuple[str, list[str]]],
           relations: list[tuple[str, str, str]] = ()) -> dict[str, str]:  # type: ignore[assignment]
    """Cubes with explicit entities (test setup that does not depend on an extractor)."""
    mem.remember("setup", user_id=uid)
    origin = Origin(f"user:{uid}", f"scope:private:{uid}", uid, None, None, f"user:{uid}")
    names = sorted({e for _, ents in items for e in ents})
    entities = [EntityRow(entity_id(origin.scope, normalise_entity(n)), uid, n,
                          normalise_entity(n), "other", [n]) for n in names]
    ids = {e.name: e.id for e in entities}
    vectors = mem.embedder.embed([t for t, _ in items])
    rows = [cube_row(NewCube(text=t), origin, v, extractor="test", extractor_version="1",
                     model=None, entity_ids=[ids[e] for e in ents])
            for (t, ents), v in zip(items, vectors, strict=True)]
    rels = [RelationRow(ids[a], r, ids[b]) for a, r, b in relations]
    out = mem.store.write_batch(origin.actor, WriteBatch(scope=origin.scope, entities=entities,
                                                         cubes=rows, relations=rels))
    return {t: c.id for (t, _), c in zip(items, out.cubes, strict=True)}


def test_rrf_and_weighted_fusion() -> None:
    fused = reciprocal_rank_fusion({"a": ["x", "y"], "b": ["y", "z"]}, {"a": 1.0, "b": 1.0}, k=60)
    assert max(fused, key=fused.__getitem__) == "y"
    assert fused["x"] == pytest.approx(1 / 61)
    w = weighted_score_fusion({"a": {"x": 10.0, "y": 0.0}, "b": {"y": 1.0}}, {"a": 2.0, "b": 1.0})
    assert w["x"] == pytest.approx(2.0) and w["y"] == pytest.approx(1.0)


def test_lucene_terms_are_escaped_and_stopwords_dropped() -> None:
    assert term_query('What do I like? "window" AND (seats) OR -crowds: *') == \
        "window seats crowds"
    assert term_query("what is it") == ""


def test_mmr_prefers_diverse_results() -> None:
    order = ["a", "b", "c"]
    rel = {"a": 1.0, "b": 0.99, "c": 0.5}
    vecs = {"a": [1.0, 0.0], "b": [1.0, 0.01], "c": [0.0, 1.0]}
    assert mmr(order, rel, vecs, lam=0.5, limit=2) == ["a", "c"]
    assert mmr(order, rel, vecs, lam=1.0, limit=2) == ["a", "b"]


def test_packing_respects_the_token_budget() -> None:
    items = [(f"c{i}", "word " * 200) for i in range(10)]
    chunks = pack(items, top_k_chunks=3, chunk_tokens=512)
    assert len(chunks) == 3
    assert all(c.tokens <= 512 for c in chunks)
    assert chunks[0].cube_ids == ["c0", "c1"]
    huge = pack([("big", "token " * 5000)], top_k_chunks=3, chunk_tokens=100)
    assert huge[0].cube_ids == ["big"] and count_tokens(huge[0].text) <= 101


def test_each_retriever_finds_its_kind_of_match(mem: GraphMem, uid: str) -> None:
    ids = _write(mem, uid, [
        ("I adore the ramen shop near Shinjuku station.", ["Shinjuku"]),
        ("Paulo is my climbing partner.", ["Paulo"]),
        ("Paulo moved to Curitiba in spring.", ["Paulo", "Curitiba"]),
        ("The quarterly report is due Friday.", []),
    ])
    bm25 = mem.search("ramen Shinjuku", user_id=uid, recipe="bm25", limit=2)
    assert bm25[0].cube.id == ids["I adore the ramen shop near Shinjuku station."]
    vec = mem.search("noodle restaurant in Tokyo", user_id=uid, recipe="vector", limit=1)
    assert vec[0].cube.id == ids["I adore the ramen shop near Shinjuku station."]
    graph = mem.search("What about Paulo?", user_id=uid, recipe="graph", limit=5)
    assert {h.cube.id for h in graph} == {ids["Paulo is my climbing partner."],
                                          ids["Paulo moved to Curitiba in spring."]}
    assert "via Paulo" in graph[0].explanation


def test_graph_walk_reaches_memories_sharing_no_words_with_the_query(mem: GraphMem,
                                                                     uid: str) -> None:
    ids = _write(mem, uid, [
        ("Lena is my sister.", ["Lena"]),
        ("She has a golden retriever called Biscuit.", ["Lena", "Biscuit"]),
        ("Biscuit is scared of thunderstorms.", ["Biscuit"]),
        ("My car needs new tyres.", []),
    ], relations=[("Lena", "owns", "Biscuit")])
    hits = mem.search("Tell me about Lena", user_id=uid, recipe="graph", limit=5)
    found = {h.cube.id for h in hits}
    assert ids["Biscuit is scared of thunderstorms."] in found  # two hops, no shared word
    assert ids["My car needs new tyres."] not in found


def test_hits_are_read_whole_after_the_channels_and_after_a_seeded_walk(
        mem: GraphMem, uid: str) -> None:
    """The hits of a search are read whole right after the vector channels, in their
    session (no get_cubes of their own); a walk seeded from the other channels' top hits
    runs after them and its hits are read the same way they look otherwise."""
    ids = _write(mem, uid, [
        ("Lena is my sister.", ["Lena"]),
        ("She has a golden retriever called Biscuit.", ["Lena", "Biscuit"]),
        ("Biscuit is scared of thunderstorms.", ["Biscuit"]),
    ], relations=[("Lena", "owns", "Biscuit")])
    read_separately: list[list[str]] = []
    get_cubes = mem.store.get_cubes

    def spy(actor: str, cube_ids: list[str]) -> Any:
        read_separately.append(cube_ids)
        return get_cubes(actor, cube_ids)

    mem.store.get_cubes = spy  # type: ignore[method-assign]
    default = mem.search("Tell me about Lena's dog", user_id=uid, limit=3)
    assert read_separately == []
    seeded = mem.search("Tell me about Lena's dog", user_id=uid, limit=3,
                        config=SearchConfig(graph_seed_from_top=2))
    assert len(read_separately) == 1
    for hits in (default, seeded):
        assert ids["She has a golden retriever called Biscuit."] in {h.cube.id for h in hits}
        # Whole cubes: the entities they are about come only with the full read.
        assert all(h.cube.meta.owner == uid and h.cube.payload.attributes.get("entities")
                   for h in hits)


class _SessionSpy:
    """A driver session that records what a search asks of it, and can fail a few times."""

    def __init__(self, inner: Any, statements: list[str], transactions: list[str],
                 failures: list[Exception]) -> None:
        self._inner, self._statements, self._transactions = inner, statements, transactions
        self._failures = failures

    def __enter__(self) -> _SessionSpy:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._inner.__exit__(*exc)

    def run(self, query: str, parameters: Any = None, **kwargs: Any) -> Any:
        if self._failures:
            raise self._failures.pop(0)
        self._statements.append(query)
        return self._inner.run(query, parameters, **kwargs)

    def execute_read(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self._transactions.append("read")
        return self._inner.execute_read(fn, *args, **kwargs)

    def execute_write(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return self._inner.execute_write(fn, *args, **kwargs)  # the audit trail's, in the back


def _spy_sessions(mem: GraphMem, failures: list[Exception] | None = None
                  ) -> tuple[list[str], list[str]]:
    statements: list[str] = []
    transactions: list[str] = []
    session = mem.store._driver.session
    mem.store._driver.session = lambda **kw: _SessionSpy(  # type: ignore[method-assign]
        session(**kw), statements, transactions, failures if failures is not None else [])
    return statements, transactions


def test_a_search_is_four_statements_and_no_transaction_function(mem: GraphMem,
                                                                 uid: str) -> None:
    """Each group of channels runs as one statement (graphmem.store.channel_union), and a
    search's reads run on their own, without BEGIN and COMMIT: the reader's names, the vector
    group, the lexical and walk group, and the hits."""
    ids = _write(mem, uid, [("Lena is my sister.", ["Lena"]),
                            ("She has a golden retriever called Biscuit.", ["Lena", "Biscuit"])])
    mem.remember("I prefer dogs that are calm around children.", user_id=uid,
                 kind=CubeKind.PREFERENCE)
    question = "Tell me about Lena's dog"
    mem.search(question + "?", user_id=uid, limit=3)  # counts the reader's share once
    statements, transactions = _spy_sessions(mem)
    hits = mem.search(question, user_id=uid, limit=3)
    assert ids["She has a golden retriever called Biscuit."] in {h.cube.id for h in hits}
    assert transactions == []
    assert len(statements) == 4
    assert sum("UNION ALL" in q for q in statements) == 2


def test_a_search_retries_a_read_the_driver_calls_retryable(mem: GraphMem, uid: str) -> None:
    """Without a transaction function the driver no longer retries for us: a connection the
    server closed is tried again (reads are idempotent); an error that is not retryable is
    not."""
    from neo4j.exceptions import ClientError, SessionExpired

    mem.remember("My sister Lena lives in Porto.", user_id=uid)
    failures: list[Exception] = [SessionExpired("closed by the server"),
                                 SessionExpired("closed again")]
    statements, _ = _spy_sessions(mem, failures)
    hits = mem.search("Where does Lena live?", user_id=uid, limit=2)
    assert failures == [] and statements
    assert "Porto" in hits[0].cube.text
    failures.append(ClientError("not retryable"))
    with pytest.raises(ClientError):
        mem.search("Where does Lena live?", user_id=uid, limit=2)


def test_ppr_walk_reaches_the_same_memories_and_discounts_hubs(mem: GraphMem,
                                                               uid: str) -> None:
    """Personalized PageRank over the same graph: two hops still reach Biscuit's fear, and
    it outranks the notes reached through a hub (Porto, in seven cubes, splits its mass)."""
    hub = [(f"Note {i} about Porto.", ["Porto"]) for i in range(6)]
    ids = _write(mem, uid, [
        ("Lena is my sister.", ["Lena"]),
        ("She has a golden retriever called Biscuit.", ["Lena", "Biscuit"]),
        ("Biscuit is scared of thunderstorms.", ["Biscuit"]),
        ("Lena visited Porto once.", ["Lena", "Porto"]),
        ("My car needs new tyres.", []),
        *hub,
    ], relations=[("Lena", "owns", "Biscuit")])
    hits = mem.search("Tell me about Lena", user_id=uid, recipe="graph_ppr", limit=20)
    scores = {h.cube.id: h.score for h in hits}
    assert ids["Biscuit is scared of thunderstorms."] in scores
    assert ids["My car needs new tyres."] not in scores
    porto_note = scores[ids["Note 0 about Porto."]]
    assert scores[ids["Biscuit is scared of thunderstorms."]] > porto_note
    assert "graph-ppr" in hits[0].explanation


def test_hybrid_fuses_and_explains(mem: GraphMem, uid: str) -> None:
    _write(mem, uid, [
        ("I prefer window seats on long flights.", ["window seats"]),
        ("I collect vintage cameras.", ["vintage cameras"]),
        ("My dentist appointment is on Monday.", []),
    ])
    result = mem.retrieve("Which seat should I book on my flight?", user_id=uid, limit=2)
    top = result.hits[0]
    assert top.cube.text == "I prefer window seats on long flights."
    assert {"vector", "fulltext", "fused"} <= set(top.scores)
    assert "vector #1" in top.explanation and "bm25 #1" in top.explanation
    assert result.chunks and result.chunks[0].cube_ids[0] == top.cube.id
    assert {"embed", "vector", "fulltext", "total"} <= set(result.timings_ms)


@pytest.mark.parametrize("recipe", ["vector", "bm25", "graph", "preferences", "hybrid",
                                    "personal"])
def test_every_retriever_applies_the_acl(mem: GraphMem, recipe: str) -> None:
    owner, other = f"own{uuid.uuid4().hex[:8]}", f"oth{uuid.uuid4().hex[:8]}"
    _write(mem, owner, [("Zephyrine keeps the spare key under the blue flowerpot.",
                         ["Zephyrine"])])
    _write(mem, other, [("I like tea.", [])])
    hits = mem.search("Zephyrine spare key flowerpot", user_id=other, recipe=recipe, limit=20)
    assert all(h.cube.meta.owner == other for h in hits)


def test_personal_recipe_keeps_a_preference_in_the_top_k(mem: GraphMem, uid: str) -> None:
    """A preference that shares little with the question loses to closer facts under plain
    hybrid ranking; the personal recipe's preference channel and slots bring it into the top k,
    and only the reader's own preferences can take those slots."""
    pref = mem.remember("I dislike reading long articles or research papers.", user_id=uid,
                        kind=CubeKind.PREFERENCE)
    for text in ["The weekly newsletter summarises artificial intelligence developments.",
                 "Artificial intelligence conferences publish their latest developments online.",
                 "My colleague follows artificial intelligence developments on a podcast.",
                 "Staying updated on technology news is part of my job."]:
        mem.remember(text, user_id=uid)
    other = f"oth{uuid.uuid4().hex[:8]}"
    mem.remember("I love reading long research papers on artificial intelligence.",
                 user_id=other, kind=CubeKind.PREFERENCE)
    question = "What is the best way for me to stay updated on artificial intelligence?"
    plain = [h.cube.id for h in mem.search(question, user_id=uid, limit=3)]
    assert pref.id not in plain
    hits = mem.search(question, user_id=uid, limit=3, recipe="personal")
    assert pref.id in [h.cube.id for h in hits]
    assert all(h.cube.meta.owner == uid for h in hits)
    assert "preference #1" in next(h.explanation for h in hits if h.cube.id == pref.id)


def test_preference_channel_ranks_own_preferences_among_many_users(mem: GraphMem,
                                                                    uid: str) -> None:
    """The channel's index holds every user's preferences; the reader gets its own nearest
    ones (index path: the reader has more preferences than the channel returns)."""
    other = f"oth{uuid.uuid4().hex[:8]}"
    for i in range(12):
        mem.remember(f"I prefer aisle seats on flight number {i}.", user_id=other,
                     kind=CubeKind.PREFERENCE)
    mine = {text: mem.remember(text, user_id=uid, kind=CubeKind.PREFERENCE).id for text in [
        "I prefer window seats on planes.", "I'm allergic to peanuts.", "I love live jazz.",
        "I can't stand crowded bars.", "I avoid early morning meetings."]}
    only = SearchConfig(vector=RetrieverConfig(enabled=False),
                        fulltext=RetrieverConfig(enabled=False),
                        graph_walk=RetrieverConfig(enabled=False),
                        preferences=RetrieverConfig(candidates=3, weight=0.0))
    hits = mem.search("Which seat should I book on the plane?", user_id=uid, limit=3,
                      config=only)
    assert len(hits) == 3
    assert hits[0].cube.id == mine["I prefer window seats on planes."]
    assert all(h.cube.meta.owner == uid and h.cube.meta.kind == "preference" for h in hits)
    assert all(h.explanation.startswith("preference #") for h in hits)
    # The index query itself (not only the exact fallback) answers for this reader.
    (counts,) = mem.store.read_query("search/ann_share", actor=f"user:{uid}")
    share = AnnShare.from_row(counts)
    assert (share.own_preferences, share.own_cubes) == (5, 5)
    assert share.preferences >= 17 and share.cubes >= 17
    rows = mem.store.read_query(
        "search/preferences", actor=f"user:{uid}", **share.params("preferences"), k=3,
        overfetch=1.0, candidates=15,
        max_candidates=5000, embedding=mem.embedder.embed(["window seat on a plane"])[0],
        statuses=["generated", "activated"], owner=None, include_superseded=False,
        with_embedding=False)
    assert [r["cube"]["id"] for r in rows][:1] == [mine["I prefer window seats on planes."]]
    assert len(rows) == 3


def test_reserve_slots_moves_the_best_preferences_up() -> None:
    def hit(cid: str, kind: CubeKind) -> SearchHit:
        now = datetime.now(UTC)
        meta = CubeMeta(id=cid, kind=kind, created=now, updated=now, scope="scope:private:t")
        return SearchHit(cube=MemCube(meta=meta, payload=CubePayload(content=cid)), score=0.0)

    hits = [hit("f1", CubeKind.FACT), hit("f2", CubeKind.FACT), hit("f3", CubeKind.FACT),
            hit("p1", CubeKind.PREFERENCE), hit("f4", CubeKind.FACT),
            hit("p2", CubeKind.PREFERENCE)]
    out = [h.cube.text for h in reserve_slots(hits, 3, 2, "preference")]
    assert out == ["f1", "p1", "p2", "f2", "f3", "f4"]
    assert [h.cube.text for h in reserve_slots(hits, 3, 0, "preference")] == \
        [h.cube.text for h in hits]


def test_recipes_are_data() -> None:
    assert RECIPES["bm25"].enabled() == ["fulltext"]
    assert RECIPES["hybrid"].enabled() == ["vector", "fulltext", "graph_walk", "preferences"]
    assert RECIPES["vector"].enabled() == ["vector"]
    custom = SearchConfig(mmr_lambda=0.5, recency_half_life_days=30)
    assert custom.model_copy(update={"top_k_chunks": 1}).top_k_chunks == 1


def test_superseded_preferences_are_left_out_unless_asked(mem: GraphMem, uid: str,
                                                          driver: Driver) -> None:
    old = mem.remember("I'm vegetarian.", user_id=uid, kind=CubeKind.PREFERENCE)
    new = mem.remember("I'm pescatarian now.", user_id=uid, kind=CubeKind.PREFERENCE)
    driver.execute_query(  # test setup: what extraction-time supersession writes
        "MATCH (o:MemCube {id: $old, current: true}), (n:MemCube {id: $new, current: true}) "
        "SET o.superseded_by = n.id MERGE (o)-[:SUPERSEDED_BY]->(n)", old=old.id, new=new.id)
    default = {h.cube.id for h in mem.search("what do I eat", user_id=uid, limit=5)}
    assert new.id in default and old.id not in default
    cfg = RECIPES["hybrid"].model_copy(update={"include_superseded": True})
    everything = {h.cube.id for h in mem.search("what do I eat", user_id=uid, limit=5,
                                                config=cfg)}
    assert {old.id, new.id} <= everything


@pytest.mark.parametrize("recipe", ["baseline_bm25", "baseline_dense"])
def test_in_process_baselines_rank_the_same_readable_cubes(mem: GraphMem, uid: str,
                                                           recipe: str) -> None:
    other = f"oth{uuid.uuid4().hex[:8]}"
    _write(mem, other, [("Secret: the window seat code is 1234.", [])])
    ids = _write(mem, uid, [("I prefer window seats on long flights.", []),
                            ("I collect vintage cameras.", [])])
    hits = mem.search("window seat flights", user_id=uid, recipe=recipe, limit=5)
    assert hits[0].cube.id == ids["I prefer window seats on long flights."]
    assert all(h.cube.meta.owner == uid for h in hits)
    assert recipe in hits[0].explanation


@pytest.mark.parametrize(("query", "asks"), [
    ("Can you suggest some PC games for me to try?", True),
    ("What should I cook tonight?", True),
    ("Any tips for a first marathon?", True),
    ("Which do you recommend, the train or the bus?", True),
    ("What is Maya's favourite cuisine?", True),
    ("What did Caroline research?", False),
    ("When did Melanie paint a sunrise?", False),
    ("Where does Maya live?", False),
    ("What are some low-maintenance pets for a small flat?", True),
    ("Which is the best ferry to the islands?", True),
    ("What is the name of Caroline's dog?", False),
])
def test_which_queries_ask_for_a_preference(query: str, asks: bool) -> None:
    assert asks_for_preference(query) is asks


def test_a_config_can_route_preference_questions(mem: GraphMem, uid: str) -> None:
    """A preference lift carries a preference past a closer fact for a request for advice;
    routed, it stays off for a question about what someone did."""
    fact = mem.remember("Maya painted a lake sunrise in Porto last year.", user_id=uid,
                        kind=CubeKind.FACT).id
    pref = mem.remember("Maya loves painting landscapes.", user_id=uid,
                        kind=CubeKind.PREFERENCE).id
    always = SearchConfig(kind_boost={"preference": 1.0}, for_preference_questions=None)
    routed = SearchConfig(kind_boost={}, for_preference_questions={
        "kind_boost": {"preference": 1.0}, "fulltext": {"weight": 0.05}})
    asked = routed.for_query("Can you suggest a painting class for me?")
    assert asked.kind_boost == {"preference": 1.0} and asked.fulltext.weight == 0.05
    assert asked.fulltext.candidates == routed.fulltext.candidates  # nested fields merge
    assert asked.for_preference_questions is None
    assert routed.for_query("Where does Maya live?") is routed

    def top(query: str, config: SearchConfig) -> str:
        return mem.search(query, user_id=uid, config=config, limit=2)[0].cube.id

    question = "When did Maya paint a lake sunrise in Porto?"
    assert top(question, always) == pref  # the constant prior outranks the answer
    assert top(question, routed) == fact
    assert top("Can you suggest a painting class for me?", routed) == pref
    with pytest.raises(ValueError):
        SearchConfig(for_preference_questions={"fulltext": {"weight": -1}})


def test_a_hit_is_the_whole_cube_with_its_timestamps(mem: GraphMem, uid: str) -> None:
    """Channel rows carry only what ranking reads and timestamps travel as ISO text; the hit a
    search returns must still be the whole cube, times equal to what `get` reads."""
    expires = datetime(2031, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)
    cube = mem.remember("My locker code at the climbing gym is 7731.", user_id=uid,
                        expires=expires)
    mem.update(cube.id, "My locker code at the climbing gym is 7732.", actor=f"user:{uid}",
               reason="new code")
    (hit,) = [h for h in mem.search("climbing gym locker code", user_id=uid, limit=5)
              if h.cube.id == cube.id]
    stored = mem.get(cube.id, actor=f"user:{uid}")
    assert hit.cube.text == stored.text and hit.cube.meta.version == stored.meta.version == 2
    assert hit.cube.meta.created == stored.meta.created
    assert hit.cube.meta.updated == stored.meta.updated
    assert hit.cube.meta.expires == stored.meta.expires == expires
    assert hit.cube.meta.created.tzinfo is not None
    assert hit.cube.meta.provenance.extractor == stored.meta.provenance.extractor


def test_channels_in_one_statement_match_each_alone(mem: GraphMem, uid: str) -> None:
    """A search runs several channels as one read statement: each gets its own rows, in
    order, as when it runs alone, and each keeps the ACL of the reader."""
    _write(mem, uid, [("I live in Porto near the river", ["Porto"]),
                      ("My sister Ana moved to Porto last year", ["Ana", "Porto"]),
                      ("I prefer aisle seats on long flights", [])]
           # Enough cubes and preferences that both ANN channels query their index (with
           # their renamed $total, $own and $overfetch) instead of going to the exact scan.
           + [(f"Note {i}: the ferry to Porto leaves at {i % 12 + 1} o'clock", ["Porto"])
              for i in range(32)])
    for text in ("I prefer window seats in trains.", "I like quiet hotels near Porto.",
                 "I prefer tea over coffee."):
        mem.remember(text, user_id=uid, kind=CubeKind.PREFERENCE)
    mem.add([{"role": "user", "content": "I love jazz concerts in Porto."}], user_id=uid)
    other = f"{uid}-other"
    mem.remember("I live in Lisbon", user_id=other)
    query = "who lives in Porto"
    base = {"owner": None, "kinds": None, "statuses": list(SEARCHABLE_STATUSES),
            "include_superseded": False, "with_embedding": False,
            "embedding": mem.embedder.embed([query])[0]}
    config = RECIPES["hybrid"]
    queries = [ChannelQuery(c.name, HybridRetriever._params(c, base, config, term_query(query),
                                                            []), c.ann) for c in CHANNELS]
    together = mem.store.retrieve(f"user:{uid}", queries)
    with named_queries(mem) as ran:
        alone = [mem.store.retrieve(f"user:{uid}", [q])[0] for q in queries]
    assert "search/vector" in ran and "search/preferences" in ran  # the index, not the scan
    assert not any(q.endswith("_exact") for q in ran)
    assert [[r.props["id"] for r in t.rows] for t in together] == \
        [[r.props["id"] for r in a.rows] for a in alone]
    by_name = {q.retriever: t.rows for q, t in zip(queries, together, strict=True)}
    assert by_name["vector"] and by_name["fulltext"] and by_name["graph_walk"]
    assert by_name["preferences"]
    assert all(r.props["owner"] == uid for t in together for r in t.rows)
    others = mem.store.retrieve(f"user:{other}", queries)
    assert all(r.props["owner"] == other for t in others for r in t.rows)
