"""Shared fixtures: a real Neo4j for the whole session, and a GraphMem per test.

Which Neo4j: when GRAPHMEM_NEO4J_URI is set, that server (it must be reachable). Otherwise a
dedicated test server on ports 17687/17474 with its own data directory, so tests never write
into the graph `graphmem demo` uses: reused when already running, else a testcontainers
container where a Docker engine exists, else the project's own local server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from neo4j import Driver, GraphDatabase

from graphmem.api import GraphMem
from graphmem.embeddings import SentenceTransformerEmbedder
from graphmem.neo4j_local.testing import neo4j_for_tests
from graphmem.settings import Settings


def _base_settings() -> Settings:
    if os.environ.get("GRAPHMEM_NEO4J_URI"):
        return Settings()
    base = Settings()
    return Settings(
        neo4j_uri="bolt://127.0.0.1:17687",
        neo4j_bolt_port=17687,
        neo4j_http_port=17474,
        data_dir=base.cache_dir / "test-neo4j",
        neo4j_heap="1g",
        neo4j_pagecache="256m",
    )


@pytest.fixture(scope="session")
def neo4j_settings() -> Iterator[Settings]:
    with neo4j_for_tests(_base_settings()) as settings:
        yield settings


@pytest.fixture(scope="session")
def embedder(neo4j_settings: Settings) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(neo4j_settings)


@pytest.fixture(scope="session")
def driver(neo4j_settings: Settings) -> Iterator[Driver]:
    """A raw driver for tests that check the graph with their own Cypher."""
    auth = (neo4j_settings.neo4j_user, neo4j_settings.neo4j_password.get_secret_value())
    with GraphDatabase.driver(neo4j_settings.neo4j_uri, auth=auth) as drv:
        yield drv


@pytest.fixture
def mem(neo4j_settings: Settings, embedder: SentenceTransformerEmbedder) -> Iterator[GraphMem]:
    with GraphMem(neo4j_settings, embedder=embedder) as m:
        yield m


@pytest.fixture
def uid() -> str:
    """A fresh user id per test, so tests never see each other's memory."""
    return f"u{uuid.uuid4().hex[:10]}"


def count_user_nodes(driver: Driver, user_id: str, database: str = "neo4j") -> dict[str, Any]:
    """Everything in the graph that belongs to or names a user, counted with plain Cypher."""
    records, _, _ = driver.execute_query(
        """
        CALL () { MATCH (c:MemCube) WHERE c.owner = $u RETURN count(c) AS cubes }
        CALL () { MATCH (e:Episode) WHERE e.owner = $u RETURN count(e) AS episodes }
        CALL () { MATCH (n:Entity) WHERE n.owner = $u RETURN count(n) AS entities }
        CALL () { MATCH (p:Principal {id: 'user:' + $u}) RETURN count(p) AS principals }
        CALL () { MATCH (s:Scope) WHERE s.id = 'scope:private:' + $u RETURN count(s) AS scopes }
        CALL () { MATCH (a:AuditEvent) WHERE a.actor = 'user:' + $u OR a.subject = 'user:' + $u
                  RETURN count(a) AS audit }
        RETURN cubes, episodes, entities, principals, scopes, audit
        """,
        u=user_id,
        database_=database,
    )
    return dict(records[0])


@contextmanager
def named_queries(mem: GraphMem) -> Iterator[list[str]]:
    """The names of the .cypher files the store runs while the block runs: those it runs one
    by one (`Neo4jStore._run`) and each file of a write sequence (`Neo4jStore._sequence`); a
    channel group joined into one statement is not among them."""
    seen: list[str] = []
    run, sequence = mem.store._run, mem.store._sequence

    def spy(tx: Any, query: str, /, **params: Any) -> list[Any]:
        seen.append(query)
        return run(tx, query, **params)

    def sequence_spy(tx: Any, files: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        seen.extend(files)
        return sequence(tx, files)

    mem.store._run = spy  # type: ignore[method-assign]
    mem.store._sequence = sequence_spy  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        mem.store._run = run  # type: ignore[method-assign]
        mem.store._sequence = sequence  # type: ignore[method-assign]


@contextmanager
def written_statements(mem: GraphMem) -> Iterator[list[str]]:
    """The statement texts the store's write transactions run while the block runs, in order
    (a sequenced write is one text however many files it joins)."""
    seen: list[str] = []
    write = mem.store._write

    def spy(what: str, fn: Any) -> Any:
        def counted(tx: Any) -> Any:
            run = tx.run
            tx.run = lambda query, *a, **k: (seen.append(query), run(query, *a, **k))[1]
            return fn(tx)
        return write(what, counted)

    mem.store._write = spy  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        mem.store._write = write  # type: ignore[method-assign]
