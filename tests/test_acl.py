"""A principal cannot read, search, update, delete, export or purge another's private cubes;
grants, groups and shared scopes open exactly what they say."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from graphmem.api import GraphMem
from graphmem.errors import NotFound, PermissionDenied
from tests.conftest import named_queries


@pytest.fixture
def alice_and_bob(mem: GraphMem) -> tuple[str, str, str]:
    alice, bob = f"alice{uuid.uuid4().hex[:8]}", f"bob{uuid.uuid4().hex[:8]}"
    cube = mem.remember("My bank PIN hint is the cat's birthday.", user_id=alice)
    mem.remember("I collect vinyl records.", user_id=bob)
    return alice, bob, cube.id


def test_other_user_cannot_get_or_see_history(mem: GraphMem, alice_and_bob: tuple[str, str, str]
                                              ) -> None:
    _, bob, cube_id = alice_and_bob
    with pytest.raises(NotFound):
        mem.get(cube_id, actor=f"user:{bob}")
    with pytest.raises(NotFound):
        mem.history(cube_id, actor=f"user:{bob}")


def test_other_user_search_never_returns_private_cubes(
    mem: GraphMem, alice_and_bob: tuple[str, str, str]
) -> None:
    _, bob, cube_id = alice_and_bob
    hits = mem.search("bank PIN hint cat birthday", user_id=bob, limit=50)
    assert cube_id not in {h.cube.id for h in hits}
    assert all(h.cube.meta.owner == bob for h in hits)
    listed = mem.list(actor=f"user:{bob}", limit=1000)
    assert cube_id not in {c.id for c in listed}


def test_other_user_cannot_update_or_delete(mem: GraphMem, alice_and_bob: tuple[str, str, str]
                                            ) -> None:
    alice, bob, cube_id = alice_and_bob
    with pytest.raises(NotFound):
        mem.update(cube_id, "hacked", actor=f"user:{bob}")
    with pytest.raises(NotFound):
        mem.delete(cube_id, actor=f"user:{bob}")
    cube = mem.get(cube_id, actor=f"user:{alice}")
    assert cube.meta.version == 1 and cube.meta.status.value == "generated"
    denied = [e for e in mem.store.recent_audit(f"user:{bob}", 20) if e["action"] == "write"]
    assert denied and all(e["result"] == "not_found" for e in denied)


def test_other_user_cannot_export_or_purge(mem: GraphMem, alice_and_bob: tuple[str, str, str],
                                           tmp_path: Path) -> None:
    alice, bob, cube_id = alice_and_bob
    with pytest.raises(NotFound):
        mem.export(alice, tmp_path / "stolen", actor=f"user:{bob}")
    assert not (tmp_path / "stolen").exists()
    with pytest.raises(PermissionDenied):
        mem.purge(user_id=alice, actor=f"user:{bob}")
    assert mem.get(cube_id, actor=f"user:{alice}").text.startswith("My bank PIN")


def test_read_grant_allows_reading_but_not_writing(
    mem: GraphMem, alice_and_bob: tuple[str, str, str]
) -> None:
    alice, bob, cube_id = alice_and_bob
    mem.grant(f"scope:private:{alice}", f"user:{bob}", actor=f"user:{alice}", read=True)
    assert mem.get(cube_id, actor=f"user:{bob}").id == cube_id
    assert cube_id in {h.cube.id for h in mem.search("PIN hint", user_id=bob, limit=10)}
    with pytest.raises(PermissionDenied):
        mem.update(cube_id, "changed by bob", actor=f"user:{bob}")
    mem.revoke(f"scope:private:{alice}", f"user:{bob}", actor=f"user:{alice}")
    with pytest.raises(NotFound):
        mem.get(cube_id, actor=f"user:{bob}")


def test_only_the_owner_can_grant(mem: GraphMem, alice_and_bob: tuple[str, str, str]) -> None:
    alice, bob, _ = alice_and_bob
    with pytest.raises(PermissionDenied):
        mem.grant(f"scope:private:{alice}", f"user:{bob}", actor=f"user:{bob}", read=True)


def test_shared_scope_through_a_group(mem: GraphMem) -> None:
    tag = uuid.uuid4().hex[:8]
    lead, member, outsider = f"lead{tag}", f"dev{tag}", f"out{tag}"
    team_scope = mem.create_group(f"team{tag}", actor=f"user:{lead}")
    mem.add_member(f"team{tag}", f"user:{member}", actor=f"user:{lead}")
    mem.add_member(f"team{tag}", f"agent:planner{tag}", actor=f"user:{lead}")
    # An invitation grants nothing until the invited principal accepts it.
    mem.accept_invitation(f"team{tag}", actor=f"user:{member}")
    mem.accept_invitation(f"team{tag}", actor=f"agent:planner{tag}")
    fact = mem.remember("The staging database is Neo4j 5.26.", user_id=lead, scope=team_scope)
    assert mem.get(fact.id, actor=f"user:{member}").text.startswith("The staging")
    assert mem.get(fact.id, actor=f"agent:planner{tag}").id == fact.id
    agent_note = mem.remember("Deploys happen on Tuesdays.", actor=f"agent:planner{tag}",
                              user_id=None, scope=team_scope)
    assert mem.get(agent_note.id, actor=f"user:{lead}").id == agent_note.id
    with pytest.raises(NotFound):
        mem.get(fact.id, actor=f"user:{outsider}")
    with pytest.raises(PermissionDenied):
        mem.add_member(f"team{tag}", f"user:{outsider}", actor=f"user:{member}")


def test_a_write_makes_its_principal_once_and_checks_every_time(mem: GraphMem) -> None:
    """A principal's first write creates it and its private scope; later writes only run the
    ACL check (no acl/ensure_principal), and a write by a principal whose own scope was
    removed makes it again."""
    user = f"carol{uuid.uuid4().hex[:8]}"
    with named_queries(mem) as seen:
        mem.remember("I keep bees.", user_id=user)
        assert seen.count("acl/ensure_principal") == 1 and seen.count("acl/begin_write") == 2
        seen.clear()
        mem.remember("My hives are on the roof.", user_id=user)
        assert "acl/ensure_principal" not in seen and seen.count("acl/begin_write") == 1
    with mem.store._driver.session() as session:  # the own scope's write grant is gone
        session.run("MATCH (:Principal {id: $p})-[r:CAN_WRITE]->(:Scope) DELETE r",
                    p=f"user:{user}").consume()
    mem.remember("The bees swarmed in May.", user_id=user)
    assert {c.text for c in mem.list(actor=f"user:{user}", limit=10)} >= {
        "I keep bees.", "My hives are on the roof.", "The bees swarmed in May."}
