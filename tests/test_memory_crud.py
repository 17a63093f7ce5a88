"""Add, get, list, search, idempotent re-ingestion: against the real Neo4j."""

from __future__ import annotations

from neo4j import Driver

from graphmem.api import GraphMem
from graphmem.models import CubeKind, Status
from tests.conftest import count_user_nodes

TURNS = [
    {"id": "m1", "role": "user", "content": "I'm training for the Berlin half marathon."},
    {"id": "m2", "role": "assistant", "content": "Great, when is the race?"},
    {"id": "m3", "role": "user", "content": "In April. I usually run along the river at 6am."},
]


def test_add_stores_episodes_and_turn_cubes_with_provenance(mem: GraphMem, uid: str) -> None:
    result = mem.add(TURNS, user_id=uid, session_id="s1", infer=False)
    assert result.episodes_written == 3
    assert sorted(c.text for c in result.cubes) == sorted(
        t["content"] for t in TURNS if t["role"] == "user"
    )
    cube = result.cubes[0]
    assert cube.meta.owner == uid
    assert cube.meta.scope == f"scope:private:{uid}"
    assert cube.meta.provenance.created_by == f"user:{uid}"
    assert cube.meta.provenance.session_id == "s1"
    assert len(cube.meta.provenance.episode_ids) == 1
    ids = mem.episode_message_ids(cube.meta.provenance.episode_ids, actor=f"user:{uid}")
    assert set(ids.values()) <= {"m1", "m3"}


def test_reingesting_the_same_conversation_adds_nothing(
    mem: GraphMem, uid: str, driver: Driver
) -> None:
    mem.add(TURNS, user_id=uid, session_id="s1", infer=False)
    before = count_user_nodes(driver, uid)
    again = mem.add(TURNS, user_id=uid, session_id="s1", infer=False)
    after = count_user_nodes(driver, uid)
    assert again.episodes_written == 0 and again.cubes == []
    assert {k: after[k] for k in ("cubes", "episodes")} == {
        k: before[k] for k in ("cubes", "episodes")
    }


def test_get_list_and_memos_json_round_trip(mem: GraphMem, uid: str) -> None:
    cube = mem.remember("My sister Ana lives in Lyon.", user_id=uid, kind="fact",
                        priority="high", metadata={"source_app": "notes"})
    got = mem.get(cube.id, actor=f"user:{uid}")
    assert got.text == "My sister Ana lives in Lyon."
    assert got.meta.priority == "high"
    assert got.payload.attributes["source_app"] == "notes"
    data = got.to_memos_json()
    assert set(data) == {"meta", "payload"}
    assert type(got).from_memos_json(data) == got
    listed = mem.list(user_id=uid)
    assert [c.id for c in listed] == [cube.id]
    assert mem.list(user_id=uid, kinds=[CubeKind.PREFERENCE]) == []


def test_search_ranks_the_relevant_memory_first(mem: GraphMem, uid: str) -> None:
    mem.remember("I am allergic to peanuts.", user_id=uid, kind="preference")
    mem.remember("My favourite band is Radiohead.", user_id=uid)
    mem.remember("I work as a nurse in Porto.", user_id=uid)
    hits = mem.search("Which foods must I avoid?", user_id=uid, limit=3)
    assert hits[0].cube.text == "I am allergic to peanuts."
    assert hits[0].scores["vector"] >= hits[-1].scores["vector"]


def test_soft_delete_hides_from_search_and_restore_brings_back(mem: GraphMem, uid: str) -> None:
    cube = mem.remember("I drive a blue Volvo.", user_id=uid)
    actor = f"user:{uid}"
    assert mem.delete(cube.id, actor=actor).meta.status == Status.ARCHIVED
    assert all(h.cube.id != cube.id for h in mem.search("what car", user_id=uid))
    assert mem.get(cube.id, actor=actor).meta.status == Status.ARCHIVED
    assert mem.list(user_id=uid) == []
    assert [c.id for c in mem.list(user_id=uid, include_archived=True)] == [cube.id]
    mem.restore(cube.id, actor=actor)
    assert [h.cube.id for h in mem.search("what car", user_id=uid, limit=1)] == [cube.id]


def test_every_call_is_audited(mem: GraphMem, uid: str) -> None:
    cube = mem.remember("I like jazz.", user_id=uid)
    mem.get(cube.id, actor=f"user:{uid}")
    mem.search("music", user_id=uid)
    events = mem.store.recent_audit(f"user:{uid}", 10)
    actions = [e["action"] for e in events]
    assert {"add", "get", "search"} <= set(actions)
    assert all(e["result"] == "ok" for e in events)
