"""Search audit events are queued and written in batches, off the latency path, without
ever being skipped: the background flush writes them, readers of the trail and erasure flush
first, and a Neo4j outage keeps them queued until it is back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from neo4j import Driver

from graphmem.api import GraphMem
from graphmem.embeddings import SentenceTransformerEmbedder
from graphmem.errors import StoreUnavailable
from graphmem.settings import Settings
from graphmem.store.audit_buffer import AuditBuffer
from tests.faults import CuttableProxy, graphmem_behind_proxy


def _search_events(driver: Driver, uid: str) -> list[dict[str, Any]]:
    records, _, _ = driver.execute_query(
        "MATCH (a:AuditEvent {action: 'search', actor: $actor}) RETURN a.at AS at, "
        "a.targets AS targets ORDER BY a.at", actor=f"user:{uid}")
    return [dict(r) for r in records]


def test_search_events_reach_the_graph_without_a_flush_call(mem: GraphMem, uid: str,
                                                           driver: Driver) -> None:
    cube = mem.remember("I like jazz.", user_id=uid)
    before = time.time()
    for _ in range(3):
        mem.search("music", user_id=uid)
    deadline = time.monotonic() + 10
    while len(_search_events(driver, uid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    events = _search_events(driver, uid)
    assert len(events) == 3
    assert all(e["targets"] == [cube.id] for e in events)
    # Each event carries the time of its search, not of the flush that wrote it.
    assert all(e["at"].to_native().timestamp() >= before - 1 for e in events)


def test_purge_writes_queued_events_first_so_none_survive_the_erasure(
    neo4j_settings: Settings, embedder: SentenceTransformerEmbedder, uid: str, driver: Driver
) -> None:
    slow = neo4j_settings.model_copy(update={"audit_flush_ms": 60_000})
    with GraphMem(slow, embedder=embedder) as mem:
        mem.remember("I like jazz.", user_id=uid)
        mem.search("music", user_id=uid)
        assert mem.store.flush_audit() == 1  # queued, not yet written by the 60 s timer
        mem.search("music again", user_id=uid)
        mem.purge(user_id=uid, actor=f"user:{uid}")
    assert _search_events(driver, uid) == []


def test_sync_mode_writes_each_search_event_at_once(
    neo4j_settings: Settings, embedder: SentenceTransformerEmbedder, uid: str, driver: Driver
) -> None:
    sync = neo4j_settings.model_copy(update={"audit_reads": "sync", "audit_flush_ms": 60_000})
    with GraphMem(sync, embedder=embedder) as mem:
        mem.remember("I like jazz.", user_id=uid)
        mem.search("music", user_id=uid)
        assert len(_search_events(driver, uid)) == 1
        assert mem.store.flush_audit() == 0


@pytest.fixture
def proxied(neo4j_settings: Settings, embedder: SentenceTransformerEmbedder
            ) -> Iterator[tuple[GraphMem, CuttableProxy]]:
    with graphmem_behind_proxy(neo4j_settings, embedder, audit_flush_ms=60_000) as pair:
        yield pair


def test_an_outage_keeps_queued_events_until_neo4j_is_back(
    proxied: tuple[GraphMem, CuttableProxy], uid: str, driver: Driver
) -> None:
    mem, proxy = proxied
    mem.remember("I like jazz.", user_id=uid)
    mem.search("music", user_id=uid)
    proxy.cut_after(0)
    with pytest.raises(StoreUnavailable):
        mem.store.flush_audit()
    assert _search_events(driver, uid) == []
    proxy.restore()
    assert mem.store.flush_audit() == 1
    assert len(_search_events(driver, uid)) == 1


def test_buffer_bounds_what_it_keeps_through_a_long_outage() -> None:
    written: list[list[dict[str, Any]]] = []
    down = True

    def write(events: list[dict[str, Any]]) -> None:
        if down:
            raise StoreUnavailable("down")
        written.append(events)

    buffer = AuditBuffer(write, interval_s=60, max_events=2, background=False)
    for i in range(25):
        buffer.add({"n": i})
        with pytest.raises(StoreUnavailable):
            buffer.flush()
    assert buffer.pending == 20  # ten batches' worth, the newest
    down = False
    assert buffer.flush() == 20
    assert [e["n"] for e in written[0]] == list(range(5, 25))
    buffer.close()
