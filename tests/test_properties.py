"""Property-based: whatever a caller passes to the Memory API, the outcome is success or a
GraphMem error with nothing written; never another exception type (issue 8)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from neo4j import Driver

from graphmem.api import GraphMem
from graphmem.errors import GraphMemError
from tests.conftest import count_user_nodes

texts = st.one_of(st.text(max_size=60), st.just("\u200b"), st.just("caf\udce9"),
                  st.integers(), st.none(), st.lists(st.text(max_size=5), max_size=2))
names = st.one_of(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,8}", fullmatch=True),
                  st.text(max_size=12), st.just("bob\n"), st.integers(), st.none())
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                      st.text(max_size=10))
metadata = st.one_of(st.none(), st.integers(),
                     st.dictionaries(st.text(max_size=5),
                                     st.recursive(json_leaf, lambda c: st.lists(c, max_size=3)
                                                  | st.dictionaries(st.text(max_size=3), c,
                                                                    max_size=3), max_leaves=8),
                                     max_size=3))
limits = st.one_of(st.integers(min_value=-3, max_value=2**65), st.floats(), st.text(max_size=3),
                   st.none(), st.booleans())
kinds = st.one_of(st.none(), st.just("fact"), st.lists(st.sampled_from(
    ["fact", "preference", "bogus", "", "episode"]), max_size=2), st.integers())
messages = st.one_of(
    texts,
    st.lists(st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "robot"]), "content": texts},
        optional={"id": st.one_of(st.text(max_size=4), st.integers()),
                  "timestamp": st.one_of(st.just("2024-05-01T10:00:00"), st.text(max_size=4))}),
        max_size=3),
)

EXAMPLES = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def _outcome(mem: GraphMem, driver: Driver, user: str, call: Any) -> None:
    before = count_user_nodes(driver, user)
    try:
        call()
    except GraphMemError:
        after = count_user_nodes(driver, user)
        assert {k: after[k] for k in ("cubes", "episodes", "entities")} == {
            k: before[k] for k in ("cubes", "episodes", "entities")}


@pytest.fixture
def user(mem: GraphMem) -> str:
    name = f"prop{uuid.uuid4().hex[:8]}"
    mem.remember("seed memory", user_id=name)
    return name


@EXAMPLES
@given(text=texts, meta=metadata, kind=st.sampled_from(["fact", "preference", "x", 3]))
def test_remember(mem: GraphMem, driver: Driver, user: str, text: Any, meta: Any,
                  kind: Any) -> None:
    _outcome(mem, driver, user, lambda: mem.remember(text, user_id=user, metadata=meta,
                                                     kind=kind))


@EXAMPLES
@given(msgs=messages, session=names)
def test_add(mem: GraphMem, driver: Driver, user: str, msgs: Any, session: Any) -> None:
    _outcome(mem, driver, user, lambda: mem.add(msgs, user_id=user, session_id=session,
                                                infer=False))


@EXAMPLES
@given(query=texts, limit=limits, kind=kinds, owner=names)
def test_search(mem: GraphMem, driver: Driver, user: str, query: Any, limit: Any, kind: Any,
                owner: Any) -> None:
    _outcome(mem, driver, user, lambda: mem.search(query, user_id=user, limit=limit,
                                                   kinds=kind, owner=owner))


@EXAMPLES
@given(limit=limits, offset=limits, kind=kinds, cube_id=texts, version=limits, who=names)
def test_reads(mem: GraphMem, driver: Driver, user: str, limit: Any, offset: Any, kind: Any,
               cube_id: Any, version: Any, who: Any) -> None:
    _outcome(mem, driver, user, lambda: mem.list(user_id=user, limit=limit, offset=offset,
                                                 kinds=kind))
    _outcome(mem, driver, user, lambda: mem.get(cube_id, actor=f"user:{user}", version=version))
    _outcome(mem, driver, user, lambda: mem.history(cube_id, actor=who))


@EXAMPLES
@given(text=texts, reason=texts, expected=limits)
def test_update(mem: GraphMem, driver: Driver, user: str, text: Any, reason: Any,
                expected: Any) -> None:
    cube = mem.list(user_id=user)[0]
    _outcome(mem, driver, user, lambda: mem.update(cube.id, text, actor=f"user:{user}",
                                                   reason=reason, expected_version=expected))
