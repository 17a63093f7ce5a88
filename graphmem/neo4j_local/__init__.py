"""A local Neo4j 5.26 Community server for machines without Docker (``graphmem neo4j up``).

Jars come from Maven Central via ``mvn``; the server runs on Java 17+ bound to 127.0.0.1. See
``server`` for the lifecycle and ``testing`` for picking a Neo4j in test sessions.
"""

from __future__ import annotations

from graphmem.neo4j_local.server import (
    CredentialsError,
    JavaError,
    Neo4jLocalError,
    PortInUseError,
    ProvisionError,
    ServerInfo,
    ServerLayout,
    ServerStatus,
    StartError,
    bolt_answers,
    down,
    ensure_jars,
    status,
    up,
)

__all__ = [
    "CredentialsError",
    "JavaError",
    "Neo4jLocalError",
    "PortInUseError",
    "ProvisionError",
    "ServerInfo",
    "ServerLayout",
    "ServerStatus",
    "StartError",
    "bolt_answers",
    "down",
    "ensure_jars",
    "status",
    "up",
]
