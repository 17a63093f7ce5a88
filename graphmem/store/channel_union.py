"""Several retrieval channels as one Cypher statement.

Why: on two cores shared with Neo4j, each statement and each transaction costs a round trip and
about half a millisecond of server CPU on top of its work (a bare `RETURN 1` took 0.6 ms of
Neo4j CPU in a statement of its own, 1.2 ms in a transaction function). A search runs its
channels in two groups side by side; each group is now one statement: every channel's whole
file (cypher/search/<name>.cypher) inside a `CALL () { ... }`, the parts joined by `UNION ALL`,
each row tagged with its part's position. Python adds only that envelope, never query logic.

Every channel file returns the same columns (CHANNEL_COLUMNS), so the parts line up. A
parameter with the same value in every part keeps its name, the query embedding above all (sent
once); one that differs (`k`, `candidates`, an ANN channel's `total` and `own`) is renamed per
part, `$p<i>_<name>`. So the channel files must not hold a `$` outside a parameter name.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

CHANNEL_COLUMNS = ("cube", "score", "vias", "embedding", "similarity", "episode_ids")
PART_COLUMN = "part"
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_MISSING = object()


def union(parts: Sequence[tuple[str, dict[str, Any]]]) -> tuple[str, dict[str, Any]]:
    """One statement for `parts` (each a channel file's text and its parameters): its text and
    parameters. Its rows carry PART_COLUMN, the index of the part they come from."""
    shared, params = _shared_parameters(parts)
    return _text(tuple(text for text, _ in parts), shared), params


def _shared_parameters(parts: Sequence[tuple[str, dict[str, Any]]]
                      ) -> tuple[frozenset[str], dict[str, Any]]:
    """The names every part sends with the same value, and the statement's parameters: those
    once under their own name, the others once per part as `p<i>_<name>`."""
    names = {name for _, params in parts for name in params}
    shared = frozenset(name for name in names if _same_everywhere(name, parts))
    params: dict[str, Any] = {}
    for i, (_, own) in enumerate(parts):
        for name, value in own.items():
            params[name if name in shared else renamed(i, name)] = value
    return shared, params


def _same_everywhere(name: str, parts: Sequence[tuple[str, dict[str, Any]]]) -> bool:
    first = parts[0][1].get(name, _MISSING)
    return first is not _MISSING and all(
        type(value := params.get(name, _MISSING)) is type(first) and value == first
        for _, params in parts[1:])  # 1 == 1.0 == True, but Cypher tells them apart


def renamed(part: int, name: str) -> str:
    """A parameter's name in part `part` of a joined statement."""
    return f"p{part}_{name}"


@functools.lru_cache(maxsize=64)
def _text(texts: tuple[str, ...], shared: frozenset[str]) -> str:
    columns = ", ".join(CHANNEL_COLUMNS)
    return "\nUNION ALL\n".join(
        f"CALL () {{\n{renamed_text(text, i, shared)}\n}}\nRETURN {i} AS {PART_COLUMN}, {columns}"
        for i, text in enumerate(texts))


def renamed_text(text: str, part: int, shared: frozenset[str]) -> str:
    """`text` with each parameter not in `shared` renamed for part `part`."""
    return _PARAM.sub(lambda m: m.group(0) if m.group(1) in shared
                      else "$" + renamed(part, m.group(1)), text)
