"""The reader's share of the shared vector indexes is counted once per TTL, and a stale one
only changes how many candidates are fetched, never what a search returns."""

from __future__ import annotations

from typing import Any

import pytest

from graphmem.api import GraphMem
from graphmem.models import CubeKind
from graphmem.retrieval import SearchConfig
from graphmem.retrieval.config import RetrieverConfig
from graphmem.store.ann_share import AnnShare, ShareCache
from tests.conftest import named_queries


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_share_is_kept_for_its_ttl_then_counted_again() -> None:
    clock = _Clock()
    cache = ShareCache(60.0, clock=clock)
    share = AnnShare(cubes=1000, own_cubes=100, preferences=50, own_preferences=5)
    assert cache.get("user:a") is None
    cache.put("user:a", share)
    clock.now += 59.9
    assert cache.get("user:a") == share
    clock.now += 0.2
    assert cache.get("user:a") is None
    assert share.params("vector") == {"total": 1000, "own": 100}
    assert share.params("preferences") == {"total": 50, "own": 5}


def test_the_cache_is_bounded_and_ttl_zero_keeps_nothing() -> None:
    share = AnnShare(1, 1, 1, 1)
    cache = ShareCache(60.0, max_readers=2)
    for reader in ("a", "b", "c"):
        cache.put(reader, share)
    assert [cache.get(r) for r in ("a", "b", "c")] == [None, share, share]
    off = ShareCache(0.0)
    off.put("a", share)
    assert off.get("a") is None


def test_searches_count_the_share_once_per_ttl(mem: GraphMem, uid: str) -> None:
    mem.remember("I prefer window seats on planes.", user_id=uid, kind=CubeKind.PREFERENCE)
    mem.remember("My sister lives in Porto.", user_id=uid)
    consulted: list[str] = []
    share = mem.store._ann_share

    def spy(session: Any, actor: str) -> AnnShare:
        consulted.append(actor)
        return share(session, actor)

    mem.store._ann_share = spy  # type: ignore[method-assign]
    with named_queries(mem) as seen:
        for question in ("Where does my sister live?", "Which seat do I like?", "Porto?"):
            assert mem.search(question, user_id=uid, limit=2)
    assert seen.count("search/ann_share") == 1
    # Both ANN channels of each of the three searches asked for it.
    assert consulted == [f"user:{uid}"] * 6


SEATS = ["I prefer window seats on planes.", "On long flights I book an exit-row seat.",
         "I never take the middle seat on a plane.", "I like seats near the front of the plane.",
         "On night flights I want a seat that reclines."]


@pytest.mark.parametrize("stale", [
    # Counted when the reader owned nothing: the index is asked for its most candidates,
    # and the preference channel goes straight to the exact scan.
    AnnShare(cubes=10, own_cubes=0, preferences=10, own_preferences=0),
    # Counted when the reader owned (nearly) everything: the index is asked for the fewest
    # candidates, the ACL keeps few of them, and the retry and the exact scan make up for it.
    AnnShare(cubes=10, own_cubes=10, preferences=10, own_preferences=10),
])
def test_a_stale_share_changes_the_cost_not_the_answer(mem: GraphMem, uid: str,
                                                       stale: AnnShare) -> None:
    # Another user's many seat preferences crowd the shared indexes' nearest neighbours.
    other = f"oth{uid}"
    mem.add_many([{"messages": [{"role": "user", "content": f"I prefer aisle seat {i} on the "
                                 f"plane when I fly to city {i}."}], "user_id": other}
                  for i in range(40)], infer=False)
    mine = {mem.remember(text, user_id=uid, kind=CubeKind.PREFERENCE).id for text in SEATS}
    for i in range(12):
        mem.remember(f"Note {i}: the library opens at {8 + i % 3} am on weekdays.", user_id=uid)
    question = "Which seat should I book on the plane?"
    ann_only = SearchConfig(fulltext=RetrieverConfig(enabled=False),
                            graph_walk=RetrieverConfig(enabled=False))
    fresh = mem.search(question, user_id=uid, limit=5, config=ann_only)
    mem.store._shares.put(f"user:{uid}", stale)  # what an earlier count left behind
    again = mem.search(question, user_id=uid, limit=5, config=ann_only)
    # The reader's five seat preferences, far closer to the question than its notes, either
    # way (their order may differ where the index's quantised scores and exact ones differ).
    assert {h.cube.id for h in fresh} == {h.cube.id for h in again} == mine
