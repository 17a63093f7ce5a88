"""The Store protocol and the plain rows that cross it.

Rows are dataclasses, not pydantic models: they are built by trusted code after validation
at the API edge, and they map one-to-one onto the `$rows` parameters of the Cypher files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass
class EpisodeRow:
    id: str
    owner: str
    role: str
    content: str
    seq: int
    owner_id: str | None = None
    session_id: str | None = None
    agent_id: str | None = None
    msg_id: str | None = None
    ts: datetime | None = None
    speaker: str | None = None  # the message's `name`


@dataclass
class EntityRow:
    id: str
    owner: str
    name: str
    norm: str
    type: str
    aliases: list[str] = field(default_factory=list)
    embedding: list[float] | None = None
    owner_id: str | None = None


@dataclass
class CubeRow:
    """A new cube; `props` are the node properties (primitives only), the rest become edges."""

    props: dict[str, Any]
    labels: list[str]
    embedding: list[float]
    episode_ids: list[str] = field(default_factory=list)
    entity_ids: list[str] = field(default_factory=list)
    search_text: str | None = None  # what the full-text index reads; None: the text


@dataclass
class RelationRow:
    source: str
    relation: str
    target: str
    episode_ids: list[str] = field(default_factory=list)
    extractor: str | None = None


@dataclass
class WriteBatch:
    """Everything one `add` writes: committed together or not at all."""

    scope: str
    episodes: list[EpisodeRow] = field(default_factory=list)
    entities: list[EntityRow] = field(default_factory=list)
    cubes: list[CubeRow] = field(default_factory=list)
    relations: list[RelationRow] = field(default_factory=list)
    session_links: list[tuple[str, str]] = field(default_factory=list)
    # (stored episode id, text): the batch's first turn appended to the search text of the
    # stored turn before it, whose cube was written without knowing its reply
    context_extensions: list[tuple[str, str]] = field(default_factory=list)
    subject_names: list[str] = field(default_factory=list)  # names the owner spoke under
    subject: str | None = None
    single_valued_categories: tuple[str, ...] = ("diet", "budget")


@dataclass
class CubeWrite:
    requested_id: str
    id: str
    created: bool


@dataclass
class WriteOutcome:
    episode_ids: list[str]
    new_episode_ids: list[str]
    cubes: list[CubeWrite]
    entity_ids: list[str]
    superseded: list[str] = field(default_factory=list)
    # write_batches: the cubes it created, as the batch's actor reads them at commit
    stored: list[StoredCube] = field(default_factory=list)


@dataclass
class StoredCube:
    """A cube node as read back: its properties plus the edges that make its provenance."""

    props: dict[str, Any]
    episode_ids: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    access: list[str] = field(default_factory=list)
    previous_version: int | None = None
    score: float | None = None
    embedding: list[float] | None = None
    vias: list[str] = field(default_factory=list)
    similarity: float | None = None  # Neo4j's cosine to the query, (1 + cos) / 2


@dataclass
class WriteCheck:
    vid: str
    version: int
    status: str
    scope: str
    text: str
    owner: str | None
    kind: str
    can_read: bool
    can_write: bool


@dataclass
class PurgeCounts:
    cubes: int
    episodes: int
    entities: int
    audit_events: int
    scopes: int
    # Files of erased artifacts (KV caches) for the caller to delete after the commit.
    artifact_paths: list[str] = field(default_factory=list)


@dataclass
class AuditSpec:
    """The audit event a generic write records; targets default to the rows' `target_key`."""

    actor: str
    action: str
    targets: list[str] | None = None
    target_key: str = "id"
    scope: str | None = None
    subject: str | None = None
    result: str = "ok"
    detail: str | None = None


class SchemaStore(Protocol):
    """Constraints and indexes (cypher/schema)."""

    def apply_schema(self, version: str, dim: int) -> None: ...
    def ensure_schema(self, dim: int) -> str: ...
    def schema_version(self) -> str | None: ...


class AclStore(Protocol):
    """Principals, scopes, groups and grants: who may read and write what."""

    def ensure_principal(self, principal: str, kind: str, name: str, scope: str,
                         scope_kind: str) -> None: ...
    def principal_exists(self, principal: str) -> bool: ...
    def accept_invitation(self, actor: str, group: str) -> bool: ...
    def create_group(self, actor: str, group: str, name: str, scope: str) -> bool: ...
    def add_member(self, actor: str, group: str, member: str, kind: str, name: str) -> bool: ...
    def create_shared_scope(self, actor: str, scope: str) -> bool: ...
    def grant(self, actor: str, scope: str, principal: str, kind: str, name: str, *,
              read: bool, write: bool) -> bool: ...
    def revoke(self, actor: str, scope: str, principal: str, *, read: bool,
               write: bool) -> bool: ...
    def readable_scopes(self, actor: str) -> list[str]: ...


class CubeReader(Protocol):
    def get_cubes(self, actor: str, ids: list[str]) -> list[StoredCube]: ...


class CubeStore(CubeReader, Protocol):
    """Memory itself: episodes and cubes written, read, versioned, erased, moved."""

    def existing_entity_ids(self, ids: list[str]) -> set[str]: ...
    def write_batch(self, actor: str, batch: WriteBatch) -> WriteOutcome: ...
    def write_batches(self, batches: list[tuple[str, WriteBatch]]) -> list[WriteOutcome]: ...
    def get_cube(self, actor: str, cube_id: str,
                 version: int | None = None) -> StoredCube | None: ...
    def list_cubes(self, actor: str, *, owner: str | None, kinds: list[str] | None,
                   statuses: list[str] | None, limit: int, offset: int) -> list[StoredCube]: ...
    def check_write(self, actor: str, cube_id: str) -> WriteCheck | None: ...
    def new_version(self, actor: str, vid: str, *, text: str, embedding: list[float],
                    content_hash: str, attributes_json: str | None, reason: str) -> int: ...
    def set_status(self, actor: str, vid: str, *, to: str, from_: list[str]) -> bool: ...
    def history(self, actor: str, cube_id: str) -> list[StoredCube]: ...
    def episode_message_ids(self, actor: str, ids: list[str]) -> dict[str, dict[str, Any]]: ...
    def purge_user(self, actor: str, principal: str) -> PurgeCounts: ...
    def export_user(self, actor: str, user_id: str) -> tuple[list[StoredCube],
                                                             list[dict[str, Any]]]: ...
    def import_rows(self, actor: str, scope: str, cubes: list[CubeRow],
                    episodes: list[dict[str, Any]], *, owner: str) -> int: ...


@dataclass(frozen=True)
class ChannelQuery:
    """One retrieval channel's query (search/<retriever>.cypher) and its parameters; `ann`
    marks a channel over a vector index shared by all users (graphmem.retrieval.channels)."""

    retriever: str
    params: dict[str, Any]
    ann: bool = False


@dataclass
class ChannelRows:
    rows: list[StoredCube]
    ms: float  # its group's statement time (the channels of a group run as one statement)


class SearchStore(CubeReader, Protocol):
    """The retrieval channels (cypher/search), each with the ACL inside.

    `retrieve` runs the channels it is given as one read statement (the retriever runs two
    such groups side by side: fewer round trips than one per channel, and still Python and
    Neo4j at work together; benchmarks/README.md). A channel's rows carry only
    what ranking reads (id, text, kind, category, owner, speaker, priority, created_at, source
    turns): whole cubes are read once, for the hits that are returned, since reading and
    decoding every candidate's full property map (its timestamps above all) cost more than the
    index lookups themselves. `retrieve_then_read` reads those hits right after its channels,
    in the same session, once its `choose` (which may wait for the other group) has named
    them."""

    def retrieve(self, actor: str, queries: Sequence[ChannelQuery]) -> list[ChannelRows]: ...
    def retrieve_then_read(self, actor: str, queries: Sequence[ChannelQuery],
                           choose: Callable[[list[ChannelRows]], list[str]]
                           ) -> list[StoredCube]: ...
    def reader_names(self, actor: str) -> list[str]: ...


class QueryStore(Protocol):
    """Named .cypher files run on their own (a write with its audit event in one
    transaction): for components (the scheduler, ingestion) whose queries are theirs alone."""

    def read_query(self, name: str, /, **params: Any) -> list[dict[str, Any]]: ...
    def read_queries(self, queries: Sequence[tuple[str, dict[str, Any]]]
                     ) -> list[list[dict[str, Any]]]: ...
    def write_query(self, name: str, /, *, audit: AuditSpec | None = None,
                    **params: Any) -> list[dict[str, Any]]: ...


class AuditStore(Protocol):
    def audit(self, actor: str, action: str, *, targets: list[str], scope: str | None,
              subject: str | None, result: str, detail: str | None = None) -> None: ...
    def audit_read(self, actor: str, action: str, *, targets: list[str], scope: str | None,
                   subject: str | None, result: str, detail: str | None = None) -> None: ...
    def flush_audit(self) -> int: ...
    def recent_audit(self, principal: str, limit: int) -> list[dict[str, Any]]: ...


@dataclass
class ApiKeyRow:
    """An API key as stored: never the key, only who it acts as and its life."""

    id: str
    principal: str
    admin: bool
    label: str | None
    created_at: datetime
    created_by: str | None
    revoked_at: datetime | None = None


class KeyStore(Protocol):
    """API keys of the server (cypher/keys): only the sha256 of a key is stored, and every
    lookup reads the graph, so a revocation holds at once in every process."""

    def create_key(self, actor: str, *, key_id: str, key_hash: str, principal: str,
                   admin: bool, label: str | None) -> ApiKeyRow: ...
    def key_for_hash(self, key_hash: str) -> ApiKeyRow | None: ...
    def list_keys(self, principal: str | None) -> list[ApiKeyRow]: ...
    def revoke_key(self, actor: str, key_id: str, *, principal: str | None) -> ApiKeyRow | None: ...


class AdminStore(Protocol):
    def close(self) -> None: ...
    def stats(self) -> dict[str, int]: ...
    def wipe(self) -> None: ...


class Store(SchemaStore, AclStore, CubeStore, SearchStore, QueryStore, AuditStore, KeyStore,
            AdminStore, Protocol):
    """What GraphMem needs from a graph database, by concern: a component depends on the
    pieces it uses (the retriever on SearchStore, the scheduler on QueryStore), the facade on
    the whole. Every method names the acting principal and applies the ACL inside its query."""
