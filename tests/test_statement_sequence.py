"""Write files run in order as one statement (graphmem.store.statement_sequence): the envelope,
its parameters, and on the real Neo4j that a part sees the writes before it, that a part
returning nothing does not stop the ones after it, and that the write files an add joins to
its ACL check are safe to run before the check's answer is read."""

from __future__ import annotations

import re
import uuid

import pytest
from neo4j import Driver

from graphmem.api import GraphMem
from graphmem.store import statement_sequence
from graphmem.store.neo4j_store import Neo4jStore
from graphmem.store.queries import cypher_root
from graphmem.store.statement_sequence import Part


def test_each_part_is_folded_into_one_list_and_every_parameter_renamed() -> None:
    """Even a parameter every part sends with the same value is renamed: the text must not
    depend on the values, or Neo4j would plan it again (half a second) for new ones."""
    first = [Part("UNWIND $rows AS r RETURN r.id AS id", ("id",), {"rows": [1], "actor": "a"}),
             Part("UNWIND $rows AS r RETURN r AS x, $actor AS y", ("x", "y"),
                  {"rows": [2], "actor": "a"})]
    text, params = statement_sequence.sequence(first)
    assert params == {"p0_rows": [1], "p0_actor": "a", "p1_rows": [2], "p1_actor": "a"}
    assert "RETURN collect({id: id}) AS r0" in text
    assert "RETURN collect({x: x, y: y}) AS r1" in text
    assert "$p0_rows" in text and "$p1_rows" in text and "$p1_actor" in text
    assert "$rows" not in text and "$actor" not in text
    assert text.endswith("RETURN r0, r1")
    other, _ = statement_sequence.sequence([
        Part(p.text, p.columns, {"rows": [], "actor": "b" if i else "a"})
        for i, p in enumerate(first)])
    assert other == text


def test_a_part_sees_the_writes_before_it_and_an_empty_part_stops_nothing(
        driver: Driver) -> None:
    probe = f"seq-{uuid.uuid4().hex[:8]}"
    text, params = statement_sequence.sequence([
        Part("CREATE (n:SequenceProbe {id: $id}) RETURN n.id AS id", ("id",), {"id": probe}),
        Part("UNWIND $none AS x RETURN x AS a", ("a",), {"none": []}),
        Part("MATCH (n:SequenceProbe {id: $id}) SET n.seen = true RETURN count(n) AS seen",
             ("seen",), {"id": probe})])
    try:
        records, _, _ = driver.execute_query(text, params)
        assert len(records) == 1
        assert statement_sequence.rows(records[0], 3) == [[{"id": probe}], [], [{"seen": 1}]]
        found, _, _ = driver.execute_query(
            "MATCH (n:SequenceProbe {id: $id}) RETURN n.seen AS seen", id=probe)
        assert [r["seen"] for r in found] == [True]
    finally:
        driver.execute_query("MATCH (n:SequenceProbe {id: $id}) DELETE n", id=probe)


def test_no_file_a_write_sequence_runs_holds_a_dollar_inside_a_string() -> None:
    """The renaming rewrites every `$name`; one inside a string literal would change it."""
    for name in Neo4jStore.SEQUENCED:
        code = "\n".join(line.split("//", 1)[0]
                         for line in (cypher_root() / f"{name}.cypher").read_text().splitlines())
        for literal in re.findall(r"'[^']*'|\"[^\"]*\"", code):
            assert "$" not in literal, (name, literal)


def test_relate_writes_nothing_for_an_actor_without_write_on_the_scope(
        mem: GraphMem, uid: str, driver: Driver) -> None:
    """entities/relate runs in the ACL check's statement, before Python reads the check: it
    holds its own write-grant match, as every sequenced write file does (it matched entities
    by id in any scope before)."""
    mem.add("My sister Lena lives in Porto.", user_id=uid)
    scope = f"scope:private:{uid}"
    records, _, _ = driver.execute_query(
        "MATCH (e:Entity {scope: $scope}) RETURN e.id AS id ORDER BY id LIMIT 2", scope=scope)
    source, target = (r["id"] for r in records)
    outsider = f"user:{uid}x"
    mem.remember("I live elsewhere.", user_id=f"{uid}x")  # exists, may not write `scope`
    relate = {"actor": outsider, "scope": scope,
              "rows": [{"source": source, "relation": "probe", "target": target,
                        "episode_ids": [], "extractor": "test"}]}
    rows = mem.store._write("probe",
                            lambda tx: mem.store._sequence(tx, {"entities/relate": relate}))
    assert rows == {"entities/relate": [{"related": 0}]}
    found, _, _ = driver.execute_query(
        "MATCH (:Entity {id: $a})-[r:RELATED {type: 'probe'}]->(:Entity {id: $b}) "
        "RETURN count(r) AS n", a=source, b=target)
    assert found[0]["n"] == 0


def test_a_principals_first_add_counts_each_mention_once(mem: GraphMem, uid: str,
                                                         driver: Driver) -> None:
    """A principal's first write runs the write statement twice (the check finds no
    principal, acl/ensure_principal makes it, the statement runs again); the first run must
    have written nothing, or an entity's mention count would double."""
    mem.add("I met Jonas Berg in Lisbon.", user_id=uid)
    records, _, _ = driver.execute_query(
        "MATCH (e:Entity {scope: $scope}) RETURN e.name AS name, e.mentions AS mentions",
        scope=f"scope:private:{uid}")
    assert records and all(r["mentions"] == 1 for r in records), [dict(r) for r in records]


def test_only_listed_files_are_sequenced(mem: GraphMem) -> None:
    with pytest.raises(ValueError, match="not a sequenced"):
        mem.store._write("probe", lambda tx: mem.store._sequence(tx, {"admin/stats": {}}))
