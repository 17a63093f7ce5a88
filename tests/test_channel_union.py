"""Channel files joined into one statement: what is shared is sent once, what differs is
renamed per part, and every row says which part it came from."""

from __future__ import annotations

import re

from graphmem.store import channel_union
from graphmem.store.queries import cypher_root

A = "MATCH (c) WHERE c.x = $k AND c.v = $embedding RETURN c AS cube LIMIT $k"
B = "MATCH (c) WHERE c.y = $k AND c.v = $embedding AND c.o = $owner RETURN c AS cube"


def test_shared_parameters_keep_their_names_and_the_others_are_renamed_per_part() -> None:
    text, params = channel_union.union([(A, {"k": 3, "embedding": [0.5, 0.25]}),
                                        (B, {"k": 5, "embedding": [0.5, 0.25], "owner": None})])
    assert params == {"embedding": [0.5, 0.25], "p0_k": 3, "p1_k": 5, "p1_owner": None}
    first, second = text.split("\nUNION ALL\n")
    assert "$p0_k" in first and "$p1_k" not in first and "$k" not in first
    assert "$p1_k" in second and "$p1_owner" in second and "$owner" not in second
    assert first.count("$embedding") == second.count("$embedding") == 1
    columns = ", ".join(channel_union.CHANNEL_COLUMNS)
    assert first.startswith("CALL () {\n" + A.replace("$k", "$p0_k"))
    assert first.endswith(f"RETURN 0 AS {channel_union.PART_COLUMN}, {columns}")
    assert second.endswith(f"RETURN 1 AS {channel_union.PART_COLUMN}, {columns}")


def test_a_parameter_missing_from_one_part_is_not_shared() -> None:
    _, params = channel_union.union([(A, {"k": 3}), (B, {"k": 3, "owner": "ada"})])
    assert params == {"k": 3, "p1_owner": "ada"}


def test_a_value_equal_only_across_types_is_not_shared() -> None:
    _, params = channel_union.union([(A, {"k": 1}), (B, {"k": 1.0})])
    assert params == {"p0_k": 1, "p1_k": 1.0}


def test_no_search_file_holds_a_dollar_inside_a_string() -> None:
    """The renaming rewrites every `$name`; one inside a string literal would change it."""
    for path in sorted((cypher_root() / "search").glob("*.cypher")):
        code = "\n".join(line.split("//", 1)[0] for line in path.read_text().splitlines())
        for literal in re.findall(r"'[^']*'|\"[^\"]*\"", code):
            assert "$" not in literal, (path.name, literal)
