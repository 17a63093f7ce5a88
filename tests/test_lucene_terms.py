"""Full-text terms keep every script's words (issue 9): accented Latin and CJK queries find
their memories through the BM25 channel against the real Neo4j."""

from __future__ import annotations

from graphmem.api import GraphMem
from graphmem.retrieval.lucene import term_query, terms


def test_terms_keep_accents_and_cjk() -> None:
    assert terms("José ... café ... Zürich; 東京") == ["josé", "café", "zürich", "東京"]
    assert term_query('a "quoted" (group) AND field:x^2 OR -y') == "quoted group field x 2 y"


def test_bm25_finds_accented_and_cjk_memories(mem: GraphMem, uid: str) -> None:
    cafe = mem.remember("Our favourite café is in Zürich.", user_id=uid)
    tokyo = mem.remember("我住在東京。", user_id=uid)
    mem.remember("I walk the dog every morning.", user_id=uid)
    assert [h.cube.id for h in mem.search("Zürich", user_id=uid, recipe="bm25")] == [cafe.id]
    assert [h.cube.id for h in mem.search("東京", user_id=uid, recipe="bm25")] == [tokyo.id]
