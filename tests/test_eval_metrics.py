"""Metrics and the text-hit rule on hand-computed examples."""

from __future__ import annotations

import pytest

from graphmem.eval.metrics import (
    first_hit_rank,
    group_by,
    hit_at_k,
    recall_at_k,
    reciprocal_rank,
    summarise_ranks,
)
from graphmem.eval.text import contains_statement, light_stem, normalise


def test_recall_at_k() -> None:
    ranked = ["a", "b", "c", "d", "e"]
    assert recall_at_k(ranked, {"b", "e"}, 1) == 0.0
    assert recall_at_k(ranked, {"b", "e"}, 3) == 0.5
    assert recall_at_k(ranked, {"b", "e"}, 5) == 1.0
    assert recall_at_k(["b", "b"], {"b", "x"}, 2) == 0.5
    assert recall_at_k(ranked, set(), 3) == 0.0
    with pytest.raises(ValueError):
        recall_at_k(ranked, {"a"}, 0)


def test_reciprocal_rank() -> None:
    assert reciprocal_rank(["a", "b", "c"], {"c"}) == pytest.approx(1 / 3)
    assert reciprocal_rank(["a", "b", "c"], {"b", "c"}) == 0.5
    assert reciprocal_rank(["a"], {"z"}) == 0.0


def test_hit_ranks_and_summary() -> None:
    assert first_hit_rank([False, True, True]) == 2
    assert first_hit_rank([]) is None
    assert hit_at_k(2, 1) == 0.0 and hit_at_k(2, 3) == 1.0 and hit_at_k(None, 5) == 0.0
    # ranks 1, 3, miss, 2 -> recall@1 = 1/4, recall@3 = 3/4, MRR = (1 + 1/3 + 0 + 1/2) / 4
    summary = summarise_ranks([1, 3, None, 2], (1, 3, 5))
    assert summary.n == 4
    assert summary.recall == {1: 0.25, 3: 0.75, 5: 0.75}
    assert summary.mrr == pytest.approx((1 + 1 / 3 + 0.5) / 4)
    assert summarise_ranks([], (1,)).recall == {1: 0.0}


def test_group_by_keeps_first_seen_order() -> None:
    groups = group_by(["b1", "a1", "b2"], lambda s: s[0])
    assert list(groups) == ["b", "a"]
    assert groups["b"] == ["b1", "b2"]


def test_text_rule() -> None:
    pref = "I refuse to use rental cars that are not electric or hybrid vehicles."
    assert normalise("Hello,  WORLD!") == "hello world"
    assert contains_statement(
        "Note: i REFUSE to use rental cars that are not electric or hybrid vehicles. Thanks", pref
    )
    # paraphrase covering the stems, short enough
    assert contains_statement("User refuses rental cars unless electric or hybrid vehicles", pref)
    # too little overlap
    assert not contains_statement("User likes hybrid vehicles", pref)
    # long text sharing the words but not the statement
    filler = " ".join(f"zq{chr(97 + i)}{chr(97 + j)}" for i in range(6) for j in range(10))
    assert not contains_statement(f"refuse rental cars electric hybrid vehicles {filler}", pref)
    assert light_stem("cars") == "car" and light_stem("is") == "is"
