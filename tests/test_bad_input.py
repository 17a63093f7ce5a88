"""Malformed input gets a clear error and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from neo4j import Driver

from graphmem.api import GraphMem
from graphmem.errors import InvalidInput, NotFound, PayloadTooLarge
from tests.conftest import count_user_nodes

BAD_MESSAGES: list[tuple[Any, str]] = [
    ([], "non-empty"),
    ("", "non-empty"),
    ("   ", "non-empty"),
    ([{"role": "user"}], "content"),
    ([{"role": "robot", "content": "hi"}], "role"),
    ([{"role": "user", "content": ""}], "content"),
    ([{"role": "user", "content": 42}], "content"),
    ([{"role": "user", "content": "ok"}, "not a message"], "message 1"),
    ([{"role": "user", "content": "hi", "unexpected": True}], "unexpected"),
    ({"role": "user", "content": "a dict, not a list"}, "list"),
    (12345, "list"),
    ([{"role": "user", "content": "hi", "timestamp": "yesterday-ish"}], "timestamp"),
]


@pytest.mark.parametrize(("messages", "mentions"), BAD_MESSAGES)
def test_malformed_messages_are_rejected_and_nothing_is_written(
    mem: GraphMem, uid: str, driver: Driver, messages: Any, mentions: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        mem.add(messages, user_id=uid)
    assert mentions in str(info.value)
    counts = count_user_nodes(driver, uid)
    assert counts["cubes"] == 0 and counts["episodes"] == 0


def test_oversized_text_is_rejected(mem: GraphMem, uid: str, driver: Driver) -> None:
    huge = "x" * (mem.settings.max_text_chars + 1)
    with pytest.raises(PayloadTooLarge, match="GRAPHMEM_MAX_TEXT_CHARS"):
        mem.add([{"role": "user", "content": "fine"}, {"role": "user", "content": huge}],
                user_id=uid)
    with pytest.raises(PayloadTooLarge):
        mem.remember(huge, user_id=uid)
    with pytest.raises(PayloadTooLarge):
        mem.search(huge, user_id=uid)
    assert count_user_nodes(driver, uid)["episodes"] == 0


def test_too_many_messages_and_oversized_metadata(mem: GraphMem, uid: str, driver: Driver) -> None:
    many = [{"role": "user", "content": f"m{i}"} for i in range(mem.settings.max_batch_items + 1)]
    with pytest.raises(PayloadTooLarge, match="GRAPHMEM_MAX_BATCH_ITEMS"):
        mem.add(many, user_id=uid)
    with pytest.raises(PayloadTooLarge):
        mem.remember("fine", user_id=uid, metadata={"blob": "y" * 100_000})
    with pytest.raises(InvalidInput):
        mem.remember("fine", user_id=uid, metadata={"f": object()})
    assert count_user_nodes(driver, uid)["cubes"] == 0


@pytest.mark.parametrize("bad_id", ["", None, 7, "x" * 500])
def test_wrong_id_types(mem: GraphMem, uid: str, bad_id: Any) -> None:
    with pytest.raises(InvalidInput):
        mem.get(bad_id, actor=f"user:{uid}")


def test_unknown_id_is_not_found_for_every_verb(mem: GraphMem, uid: str) -> None:
    actor = f"user:{uid}"
    for call in (
        lambda: mem.get("cube_doesnotexist", actor=actor),
        lambda: mem.history("cube_doesnotexist", actor=actor),
        lambda: mem.update("cube_doesnotexist", "x", actor=actor),
        lambda: mem.delete("cube_doesnotexist", actor=actor),
    ):
        with pytest.raises(NotFound, match="cube_doesnotexist"):
            call()


@pytest.mark.parametrize("bad_user", ["", "has space", "semi;colon", "a" * 200, "../etc", 5])
def test_bad_user_ids_and_principals(mem: GraphMem, bad_user: Any) -> None:
    with pytest.raises(InvalidInput):
        mem.add("hello", user_id=bad_user)
    with pytest.raises(InvalidInput):
        mem.get("cube_x", actor="robot:r2d2")


def test_wrong_kind_and_scope(mem: GraphMem, uid: str) -> None:
    with pytest.raises(InvalidInput):
        mem.remember("x", user_id=uid, kind="gossip")
    with pytest.raises(InvalidInput):
        mem.remember("x", user_id=uid, scope="private:someone")
