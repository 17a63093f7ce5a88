"""Updates make new versions; old versions stay readable; purge erases everything."""

from __future__ import annotations

import pytest
from neo4j import Driver

from graphmem.api import GraphMem
from graphmem.errors import Conflict
from tests.conftest import count_user_nodes


def test_update_creates_a_version_and_history_keeps_the_old_one(mem: GraphMem, uid: str) -> None:
    actor = f"user:{uid}"
    v1 = mem.remember("I live in Lisbon.", user_id=uid)
    v2 = mem.update(v1.id, "I live in Porto.", actor=actor, reason="moved")
    assert (v2.id, v2.meta.version, v2.text) == (v1.id, 2, "I live in Porto.")
    history = mem.history(v1.id, actor=actor)
    assert [(c.meta.version, c.text, c.meta.current) for c in history] == [
        (1, "I live in Lisbon.", False),
        (2, "I live in Porto.", True),
    ]
    assert mem.get(v1.id, actor=actor, version=1).text == "I live in Lisbon."
    hits = mem.search("Where do I live?", user_id=uid, limit=5)
    assert [h.cube.text for h in hits] == ["I live in Porto."]


def test_update_with_stale_expected_version_conflicts(mem: GraphMem, uid: str) -> None:
    actor = f"user:{uid}"
    cube = mem.remember("I have one cat.", user_id=uid)
    mem.update(cube.id, "I have two cats.", actor=actor)
    with pytest.raises(Conflict):
        mem.update(cube.id, "I have three cats.", actor=actor, expected_version=1)
    assert mem.get(cube.id, actor=actor).text == "I have two cats."


def test_version_chain_is_linked_in_the_graph(mem: GraphMem, uid: str, driver: Driver) -> None:
    actor = f"user:{uid}"
    cube = mem.remember("Coffee: flat white.", user_id=uid)
    mem.update(cube.id, "Coffee: espresso.", actor=actor)
    mem.update(cube.id, "Coffee: oat latte.", actor=actor)
    records, _, _ = driver.execute_query(
        "MATCH p = (c:MemCube {id: $id, current: true})-[:PREVIOUS_VERSION*]->(old) "
        "RETURN [n IN nodes(p) | n.version] AS versions ORDER BY length(p) DESC LIMIT 1",
        id=cube.id,
    )
    assert records[0]["versions"] == [3, 2, 1]
    records, _, _ = driver.execute_query(
        "MATCH (c:MemCube {id: $id}) WHERE c.embedding IS NOT NULL RETURN count(c) AS n",
        id=cube.id,
    )
    assert records[0]["n"] == 1, "only the current version is indexed for search"


def test_purge_leaves_nothing_of_the_user(mem: GraphMem, uid: str, driver: Driver) -> None:
    actor = f"user:{uid}"
    mem.add([{"role": "user", "content": "I love sailing in Brittany."}], user_id=uid,
            session_id="s1", infer=False)
    cube = mem.remember("My dog is called Miso.", user_id=uid)
    mem.update(cube.id, "My dog is called Miso and she is 3.", actor=actor)
    mem.search("pets", user_id=uid)
    assert count_user_nodes(driver, uid)["cubes"] == 3
    counts = mem.purge(user_id=uid, actor=actor)
    assert counts.cubes == 3 and counts.episodes == 1
    assert count_user_nodes(driver, uid) == {
        "cubes": 0, "episodes": 0, "entities": 0, "principals": 0, "scopes": 0, "audit": 0
    }
    records, _, _ = driver.execute_query(
        "MATCH (n) WHERE any(k IN keys(n) WHERE n[k] IS :: STRING AND n[k] CONTAINS $u) "
        "RETURN count(n) AS n",
        u=uid,
    )
    assert records[0]["n"] == 0
