"""The only layer that talks to Neo4j. Everything above it uses the Store protocol."""

from graphmem.store.neo4j_store import Neo4jStore
from graphmem.store.protocol import (
    AuditSpec,
    ChannelQuery,
    ChannelRows,
    CubeRow,
    EntityRow,
    EpisodeRow,
    RelationRow,
    Store,
    StoredCube,
    WriteBatch,
    WriteOutcome,
)

__all__ = [
    "AuditSpec",
    "ChannelQuery",
    "ChannelRows",
    "CubeRow",
    "EntityRow",
    "EpisodeRow",
    "Neo4jStore",
    "RelationRow",
    "Store",
    "StoredCube",
    "WriteBatch",
    "WriteOutcome",
]
