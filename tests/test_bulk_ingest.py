"""GraphMem.add_many against per-conversation add on the real Neo4j: the same graph (cubes,
provenance, entities, relations, supersession, scopes, audit), the same results, and a bad
conversation that stops the whole call before anything is written."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from neo4j import Driver

from graphmem.api import GraphMem
from graphmem.errors import InvalidInput
from graphmem.ingestion import closest_entity
from graphmem.models import AddResult
from graphmem.store.protocol import EntityRow
from tests.conftest import written_statements


def conversations(users: dict[str, str]) -> list[dict[str, Any]]:
    """Two users, several sessions; a conversation sent twice (dedup), a preference the next
    conversation contradicts (supersession), names that recur across conversations (entity
    merge by name), a metadata map (attributes)."""
    a, b = users["a"], users["b"]
    return [
        {"user_id": a, "session_id": "s1", "metadata": {"source": "test"}, "messages": [
            {"id": "m1", "role": "user", "content": "I love spicy food, especially in Bangkok."},
            {"id": "m2", "role": "assistant", "content": "Noted, spicy it is."},
            {"id": "m3", "role": "user", "content": "My sister Ana lives in Lisbon."}]},
        {"user_id": b, "session_id": "s1", "messages": [
            {"id": "m1", "role": "user", "content": "I prefer window seats on long flights."},
            {"id": "m2", "role": "user", "content": "I'm vegetarian."}]},
        {"user_id": a, "session_id": "s2", "messages": [
            {"id": "n1", "role": "user", "content": "I hate spicy food now, my stomach hurts."},
            {"id": "n2", "role": "user", "content": "Ana and I are visiting Lisbon in May."}]},
        {"user_id": a, "session_id": "s1", "metadata": {"source": "test"}, "messages": [
            {"id": "m1", "role": "user", "content": "I love spicy food, especially in Bangkok."},
            {"id": "m2", "role": "assistant", "content": "Noted, spicy it is."},
            {"id": "m3", "role": "user", "content": "My sister Ana lives in Lisbon."}]},
        {"user_id": b, "session_id": "s2", "messages": [
            {"id": "k1", "role": "user", "content": "I'm pescatarian now."},
            {"id": "k2", "role": "user", "content": "I prefer window seats on long flights."}]},
        {"user_id": a, "session_id": "s3", "messages": "Lisbon in May was lovely with Ana."},
    ]


def snapshot(driver: Driver, user: str) -> dict[str, Any]:
    """The user's subgraph with generated ids and times left out, and the user's name
    replaced, so two users ingested the two ways compare equal when the graphs are."""
    def rows(query: str) -> list[tuple[Any, ...]]:
        records, _, _ = driver.execute_query(query, u=user)
        return sorted(tuple(str(sorted(v) if isinstance(v, list) else v).replace(user, "<u>")
                            for v in r.values()) for r in records)

    return {
        "cubes": rows("""
            MATCH (c:MemCube {owner: $u})
            OPTIONAL MATCH (c)-[:DERIVED_FROM]->(e:Episode)
            WITH c, collect(e.session_id + '/' + e.msg_id) AS eps
            OPTIONAL MATCH (c)-[:ABOUT]->(n:Entity)
            WITH c, eps, collect(n.norm) AS ents
            MATCH (c)-[:IN_SCOPE]->(s:Scope)
            RETURN c.kind, c.text, c.status, c.current, c.polarity, c.topic, c.category,
                   c.attributes_json, c.extractor, c.session_id, c.version, s.id,
                   c.superseded_by IS NULL, eps, ents, labels(c)"""),
        "superseded": rows("""
            MATCH (o:MemCube {owner: $u})-[:SUPERSEDED_BY]->(n:MemCube)
            RETURN o.text, n.text"""),
        "episodes": rows("""
            MATCH (e:Episode {owner: $u})
            OPTIONAL MATCH (e)-[:NEXT]->(nx:Episode)
            RETURN e.session_id, e.msg_id, e.role, e.content, e.seq, nx.msg_id"""),
        "entities": rows("""
            MATCH (n:Entity {owner: $u})
            OPTIONAL MATCH (n)-[r]->(m:Entity)
            RETURN n.norm, n.name, n.type, n.aliases, n.mentions, type(r), m.norm"""),
        "audit": rows("""
            MATCH (a:AuditEvent {actor: 'user:' + $u, action: 'add'})
            RETURN a.detail, a.scope, a.result, size(a.targets)"""),
    }


def test_add_many_builds_the_same_graph_as_add_one_by_one(mem: GraphMem,
                                                          driver: Driver) -> None:
    tag = uuid.uuid4().hex[:8]
    one = {"a": f"one-a-{tag}", "b": f"one-b-{tag}"}
    many = {"a": f"many-a-{tag}", "b": f"many-b-{tag}"}
    singles = [mem.add(c["messages"], user_id=c["user_id"], session_id=c["session_id"],
                       metadata=c.get("metadata")) for c in conversations(one)]
    # A small batch size splits the call into several transactions as well.
    bulk = mem.add_many(conversations(many), batch_messages=5)
    for user in ("a", "b"):
        want, got = snapshot(driver, one[user]), snapshot(driver, many[user])
        assert want["cubes"], "the conversations produced no cubes: the test compares nothing"
        assert want["superseded"], "no supersession happened: the test compares nothing"
        assert got == want
    summary = [_summary(r, one) for r in singles]
    assert [_summary(r, many) for r in bulk] == summary
    assert summary[3][1:3] == (0, 0)  # the repeated conversation added nothing


def _summary(result: AddResult, users: dict[str, str]) -> tuple[Any, ...]:
    names = {name: f"<{key}>" for key, name in users.items()}
    return (names[result.user_id], result.episodes_written, len(result.cubes),
            result.skipped_duplicates, len(result.superseded), result.extractor,
            sorted(names.get(e, e) for e in result.entities))


def test_add_many_in_one_batch_matches_too(mem: GraphMem, driver: Driver) -> None:
    """Everything in one transaction: in-batch duplicates, supersession and entity merges."""
    tag = uuid.uuid4().hex[:8]
    one = {"a": f"one-a-{tag}", "b": f"one-b-{tag}"}
    many = {"a": f"many-a-{tag}", "b": f"many-b-{tag}"}
    for c in conversations(one):
        mem.add(c["messages"], user_id=c["user_id"], session_id=c["session_id"],
                metadata=c.get("metadata"))
    mem.add_many(conversations(many))
    for user in ("a", "b"):
        assert snapshot(driver, many[user]) == snapshot(driver, one[user])


def test_a_malformed_conversation_fails_the_call_and_writes_nothing(
        mem: GraphMem, driver: Driver) -> None:
    tag = uuid.uuid4().hex[:8]
    users = {"a": f"bad-a-{tag}", "b": f"bad-b-{tag}"}
    convs = conversations(users)
    convs[4]["messages"][1]["role"] = "narrator"
    with pytest.raises(InvalidInput, match=r"conversation 4: .*nothing was written"):
        mem.add_many(convs)
    with pytest.raises(InvalidInput, match=r"conversation 1: .*nothing was written"):
        mem.add_many([convs[0], {"user_id": users["b"], "messages": [], "session_id": "x"}])
    with pytest.raises(InvalidInput, match="conversation 0"):
        mem.add_many([{"user_id": users["a"], "messages": "hi", "colour": "red"}])
    with pytest.raises(InvalidInput, match="list of"):
        mem.add_many("not a list")  # type: ignore[arg-type]
    records, _, _ = driver.execute_query(
        "MATCH (n) WHERE n.owner IN $us RETURN count(n) AS n", us=list(users.values()))
    assert records[0]["n"] == 0


def _entity(norm: str, etype: str, vec: list[float]) -> EntityRow:
    return EntityRow(f"ent_{norm}", "u", norm, norm, etype, [norm], embedding=vec)


def test_closest_entity_follows_the_resolve_query_rule() -> None:
    """Same rule as cypher/entities/resolve.cypher: other name, compatible type, Neo4j's
    (1 + cos) / 2 at least the threshold, most similar wins."""
    new = _entity("nyc", "place", [1.0, 0.0])
    near = _entity("new york city", "place", [0.99, 0.141])
    nearer_other_type = _entity("new york times", "organization", [1.0, 0.01])
    nearest_untyped = _entity("the big apple", "other", [1.0, 0.05])
    same_name = _entity("nyc", "place", [1.0, 0.0])
    far = _entity("lisbon", "place", [0.0, 1.0])
    threshold = (1.0 + 0.9) / 2.0
    assert closest_entity(new, [near, far], threshold) == (near, pytest.approx(0.995, abs=1e-3))
    assert closest_entity(new, [far, same_name, nearer_other_type], threshold) is None
    got = closest_entity(new, [near, nearest_untyped, far], threshold)
    assert got is not None and got[0] is nearest_untyped


def test_add_many_for_several_users_sends_an_adds_two_statement_texts(mem: GraphMem) -> None:
    """Several users' conversations in one add_many: each conversation's two statements have
    the texts a single add has, and each user's cubes are read back on their own. A closing
    statement with one read per user was a new text, planned again (half a second), for each
    count of users."""
    users = [f"u{uuid.uuid4().hex[:8]}" for _ in range(3)]
    with written_statements(mem) as texts:
        mem.add("I love hiking in the Alps.", user_id=users[0])
        single = {t for t in texts if t.startswith("CALL ()")}  # not acl/ensure_principal
        texts.clear()
        results = mem.add_many([{"user_id": u, "messages": f"I prefer tea, says {u}."}
                                for u in users])
    assert len(single) == 2
    assert {t for t in texts if t.startswith("CALL ()")} == single
    assert all(r.cubes for r in results)
