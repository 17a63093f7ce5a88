"""Write files run in order as one statement (graphmem.store.statement_sequence): the envelope,
its parameters, and on the real Neo4j that a part sees the writes before it and that a part
returning nothing does not stop the ones after it."""

from __future__ import annotations

import re
import uuid

from neo4j import Driver

from graphmem.store import statement_sequence
from graphmem.store.neo4j_store import Neo4jStore
from graphmem.store.queries import cypher_root
from graphmem.store.statement_sequence import Part


def test_each_part_is_folded_into_one_list_and_its_own_parameters_renamed() -> None:
    text, params = statement_sequence.sequence([
        Part("UNWIND $rows AS r RETURN r.id AS id", ("id",), {"rows": [1], "actor": "a"}),
        Part("UNWIND $rows AS r RETURN r AS x, $actor AS y", ("x", "y"),
             {"rows": [2], "actor": "a"})])
    assert params == {"actor": "a", "p0_rows": [1], "p1_rows": [2]}
    assert "RETURN collect({id: id}) AS r0" in text
    assert "RETURN collect({x: x, y: y}) AS r1" in text
    assert "$p0_rows" in text and "$p1_rows" in text and "$rows" not in text
    assert text.endswith("RETURN r0, r1")


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
