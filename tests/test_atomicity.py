"""A failure in the middle of a write leaves nothing half-written, and the caller can retry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from neo4j import Driver

from graphmem.api import GraphMem
from graphmem.embeddings import SentenceTransformerEmbedder
from graphmem.errors import Conflict, StoreUnavailable
from graphmem.ingest import Origin, cube_row, episode_rows
from graphmem.models import Message, NewCube
from graphmem.settings import Settings
from graphmem.store.protocol import WriteBatch
from tests.conftest import count_user_nodes
from tests.faults import CuttableProxy, graphmem_behind_proxy


def _batch(mem: GraphMem, uid: str, n: int) -> WriteBatch:
    origin = Origin(f"user:{uid}", f"scope:private:{uid}", uid, "s1", None, f"user:{uid}")
    msgs = [Message(role="user", content=f"turn {i}: I like topic {i}") for i in range(n)]
    episodes = episode_rows(msgs, origin)
    vectors = mem.embedder.embed([m.content for m in msgs])
    cubes = [
        cube_row(NewCube(text=m.content, episode_ids=[e.id]), origin, v, extractor="test",
                 extractor_version="1", model=None, entity_ids=[])
        for m, e, v in zip(msgs, episodes, vectors, strict=True)
    ]
    return WriteBatch(scope=origin.scope, episodes=episodes, cubes=cubes)


def test_constraint_violation_in_the_middle_rolls_back_the_whole_batch(
    mem: GraphMem, uid: str, driver: Driver
) -> None:
    mem.remember("setup", user_id=uid)  # creates the principal and scope
    batch = _batch(mem, uid, 6)
    # Cube 4 reuses cube 2's id: the unique constraint on `vid` fails after cubes 0-3 and all
    # episodes have been created inside the transaction.
    batch.cubes[4].props["id"] = batch.cubes[2].props["id"]
    before = count_user_nodes(driver, uid)
    with pytest.raises(Conflict):
        mem.store.write_batch(f"user:{uid}", batch)
    after = count_user_nodes(driver, uid)
    assert (after["cubes"], after["episodes"]) == (before["cubes"], before["episodes"]) == (1, 0)


@pytest.fixture
def proxied(neo4j_settings: Settings, embedder: SentenceTransformerEmbedder
            ) -> Iterator[tuple[GraphMem, CuttableProxy]]:
    with graphmem_behind_proxy(neo4j_settings, embedder) as pair:
        yield pair


def test_neo4j_going_down_mid_write_raises_and_loses_nothing(
    proxied: tuple[GraphMem, CuttableProxy], uid: str, driver: Driver
) -> None:
    mem, proxy = proxied
    mem.remember("setup", user_id=uid)
    batch = _batch(mem, uid, 5)
    proxy.cut_after(1)  # the transaction begins, then the connection dies
    with pytest.raises(StoreUnavailable, match="nothing was written"):
        mem.store.write_batch(f"user:{uid}", batch)
    counts = count_user_nodes(driver, uid)
    assert (counts["cubes"], counts["episodes"]) == (1, 0)
    proxy.restore()
    outcome = mem.store.write_batch(f"user:{uid}", batch)
    assert len(outcome.new_episode_ids) == 5
    counts = count_user_nodes(driver, uid)
    assert (counts["cubes"], counts["episodes"]) == (6, 5)


def test_unreachable_neo4j_is_a_clear_error(embedder: SentenceTransformerEmbedder) -> None:
    settings = Settings(neo4j_uri="bolt://127.0.0.1:1", neo4j_connect_timeout_s=1.0)
    with pytest.raises(StoreUnavailable, match=r"127\.0\.0\.1:1"):
        GraphMem(settings, embedder=embedder)
