"""Several write files as one Cypher statement, run in their order.

Why: an add's write transaction ran eight statements (the ACL check, episodes, entities, cubes,
relations, supersession, the audit event, the read-back), and inside a transaction each costs
a round trip and about 1.2 ms of Neo4j CPU on top of its work (a bare `RETURN 1` in a
transaction function). Files whose inputs Python has before the first of them runs now go as
one statement; where Python checks an answer (the ACL check's, the row counts), it raises
afterwards and the transaction rolls back (Neo4jStore._begin_write).

Each part is its file's whole text inside `CALL () { CALL () { ... } RETURN collect({...}) AS
r<i> }`: the inner call runs the file as written; the outer folds its rows, none included, into
one list, so the statement keeps its one row and a later part runs even when an earlier one
returned nothing. Cypher runs the calls in order and each sees the writes before it, as the
statements of one transaction did. Python adds only that envelope, never query logic.

Every parameter is renamed per part (`$p<i>_<name>`), even one that every part sends with the
same value: the text then depends on the files alone, never on the values, and Neo4j plans
each text once. Planning is dear here: about half a second for an add's first statement (the
five files planned apart took as long together), so a caller keeps its list of files fixed.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from graphmem.store.channel_union import renamed, renamed_text


@dataclass(frozen=True)
class Part:
    """One file in a sequence: its text, its parameters and the columns its rows return."""

    text: str
    columns: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)


def sequence(parts: Sequence[Part]) -> tuple[str, dict[str, Any]]:
    """One statement running `parts` in order: its text and parameters. It returns one row
    whose column `r<i>` holds part i's rows as maps (see `rows`)."""
    params = {renamed(i, name): value for i, p in enumerate(parts)
              for name, value in p.params.items()}
    return _text(tuple((p.text, p.columns) for p in parts)), params


def rows(record: Any, count: int) -> list[list[dict[str, Any]]]:
    """Each part's rows from the statement's one record."""
    return [list(record[f"r{i}"]) for i in range(count)]


@functools.lru_cache(maxsize=64)
def _text(parts: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    calls = []
    for i, (text, columns) in enumerate(parts):
        fields = ", ".join(f"{c}: {c}" for c in columns)
        calls.append(f"CALL () {{\nCALL () {{\n{renamed_text(text, i, frozenset())}\n}}\n"
                     f"RETURN collect({{{fields}}}) AS r{i}\n}}")
    outputs = ", ".join(f"r{i}" for i in range(len(parts)))
    return "\n".join(calls) + f"\nRETURN {outputs}"
