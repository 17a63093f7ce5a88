"""Neo4jStore: the Store protocol over the official Neo4j driver.

Each public method is one transaction that runs the operation's .cypher file and, in the same
transaction, its audit event; a read runs its statements each on its own (auto-commit,
`_read`). Driver errors are translated into GraphMem errors here, so no layer above ever sees
a neo4j exception or a session.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

from neo4j import READ_ACCESS, Driver, GraphDatabase, ManagedTransaction, Session
from neo4j import exceptions as neo4j_errors
from neo4j.time import Date, DateTime

from graphmem.errors import (
    Conflict,
    GraphMemError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    StoreUnavailable,
)
from graphmem.principals import Principal
from graphmem.settings import Settings
from graphmem.store import channel_union, statement_sequence
from graphmem.store.ann_share import AnnShare, ShareCache
from graphmem.store.audit_buffer import AuditBuffer
from graphmem.store.protocol import (
    ApiKeyRow,
    AuditSpec,
    ChannelQuery,
    ChannelRows,
    CubeRow,
    CubeWrite,
    PurgeCounts,
    StoredCube,
    WriteBatch,
    WriteCheck,
    WriteOutcome,
)
from graphmem.store.queries import Queries, split_statements
from graphmem.store.statement_sequence import Part

log = logging.getLogger(__name__)

# The Bolt URIs GraphMem speaks (the driver's HTTP "Query API" is a preview without
# transactions of the kind the store relies on).
BOLT_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
T = TypeVar("T")
# Where a statement runs: inside a transaction function, or on its own (auto-commit).
_Runner = ManagedTransaction | Session


def scope_key(scope: str) -> str:
    """A single Lucene token per scope, so full-text queries can be narrowed to the actor's
    scopes inside the index (scope ids themselves split into several tokens)."""
    return "k" + hashlib.sha256(scope.encode("utf-8")).hexdigest()[:20]


def _lost_scope(actor: str, scope: str) -> Conflict:
    """A write whose access check passed at its start but whose scope then vanished: only a
    concurrent erasure (or revoke) that held the locks while this transaction waited."""
    return Conflict(f"{actor}'s access to {scope} was removed by a concurrent transaction (an "
                    "erasure or a revoke) while this write waited; nothing was written")


def _native(value: Any) -> Any:
    """Neo4j temporal values → Python datetimes, recursively through lists and maps."""
    if isinstance(value, DateTime | Date):
        return value.to_native()
    if isinstance(value, list):
        return [_native(v) for v in value]
    if isinstance(value, dict):
        return {k: _native(v) for k, v in value.items()}
    return value


def _stored(record: Any) -> StoredCube:
    keys = record.keys()
    previous = record["previous"] if "previous" in keys else []
    return StoredCube(
        props=_native(dict(record["cube"])),
        episode_ids=list(record["episode_ids"]) if "episode_ids" in keys else [],
        entities=list(record["entities"]) if "entities" in keys else [],
        access=list(record["access"]) if "access" in keys else [],
        previous_version=previous[0] if previous else None,
        score=float(record["score"]) if "score" in keys else None,
        embedding=list(record["embedding"]) if "embedding" in keys and record["embedding"]
        else None,
        vias=list(record["vias"]) if "vias" in keys else [],
        similarity=float(record["similarity"])
        if "similarity" in keys and record["similarity"] is not None else None,
    )


# Cube timestamps that the search channels and cubes/get_many return as ISO text: the driver
# turns each temporal value into a Python object at ~60 us apiece, more than the rest of a
# candidate's row together. One not listed here still arrives as a DateTime (slower, right).
_TEMPORAL_AS_TEXT = ("created_at", "updated_at", "expires_at", "heat_at", "hot_since",
                     "last_hit_at", "status_changed_at", "imported_at")


def _created_ids(outcome: WriteOutcome) -> list[str]:
    return list(dict.fromkeys(c.id for c in outcome.cubes if c.created))


def _row_with_text_times(record: Any) -> StoredCube:
    row = _stored(record)
    for key in _TEMPORAL_AS_TEXT:
        value = row.props.get(key)
        if isinstance(value, str):
            # A named zone follows the offset in brackets ("...+01:00[Europe/Lisbon]"); the
            # offset alone fixes the instant.
            row.props[key] = datetime.fromisoformat(value.split("[", 1)[0])
    return row


def _search_label(queries: Sequence[ChannelQuery]) -> str:
    """How a failed search names itself (Neo4jStore._translated)."""
    return f"search ({', '.join(q.retriever for q in queries)})"


class Neo4jStore:
    # The files an add runs joined into statements (graphmem.store.statement_sequence), each
    # with the columns its rows return.
    SEQUENCED: ClassVar[Mapping[str, tuple[str, ...]]] = MappingProxyType({
        "acl/begin_write": ("actor_exists", "may_write_scope", "may_own"),
        "episodes/write": ("id", "is_new"),
        "entities/merge": ("id",),
        "cubes/create": ("requested_id", "id", "created"),
        "entities/relate": ("related",),
        "cubes/supersede": ("old",),
        "audit/record": ("id",),
        "cubes/get_many": ("cube", "episode_ids", "entities", "access"),
    })

    def __init__(self, settings: Settings, driver: Driver | None = None) -> None:
        self._settings = settings
        self._q = Queries()
        self._db = settings.neo4j_database
        self._driver = driver or self._connect(settings)
        self._audit_buffer = AuditBuffer(self._write_audit_batch,
                                         interval_s=settings.audit_flush_ms / 1000)
        self._shares = ShareCache(settings.ann_share_ttl_s)

    # --- plumbing -----------------------------------------------------------------------------

    @staticmethod
    def _connect(settings: Settings) -> Driver:
        scheme = settings.neo4j_uri.partition("://")[0]
        try:
            if scheme not in BOLT_SCHEMES:
                raise ValueError(f"scheme {scheme!r} is not one of {', '.join(BOLT_SCHEMES)}")
            return GraphDatabase.driver(
                settings.neo4j_uri,
                auth=(settings.neo4j_user, settings.neo4j_password.get_secret_value()),
                connection_timeout=settings.neo4j_connect_timeout_s,
                max_transaction_retry_time=settings.neo4j_connect_timeout_s,
                connection_acquisition_timeout=settings.neo4j_connect_timeout_s * 2,
                notifications_min_severity="OFF",
            )
        except (ValueError, neo4j_errors.ConfigurationError) as exc:
            raise InvalidInput(
                f"GRAPHMEM_NEO4J_URI {settings.neo4j_uri!r} is not a Neo4j URI (use bolt://, "
                f"neo4j://, or their +s / +ssc forms, e.g. bolt://127.0.0.1:7687): {exc}"
            ) from exc

    def close(self) -> None:
        try:
            self._audit_buffer.close()
        except GraphMemError as exc:
            log.warning("closing with %d search audit events unwritten: %s",
                        self._audit_buffer.pending, exc)
        self._driver.close()

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except GraphMemError:
            raise  # raised on purpose inside a transaction (PermissionDenied is an OSError too)
        except neo4j_errors.ConstraintError as exc:
            raise Conflict(f"{what}: a concurrent write got there first ({exc.message})") from exc
        except neo4j_errors.ClientError as exc:  # AuthError included
            raise self._client_error(what, exc) from exc
        except (
            neo4j_errors.ServiceUnavailable,
            neo4j_errors.SessionExpired,
            neo4j_errors.IncompleteCommit,
            OSError,
        ) as exc:
            raise StoreUnavailable(
                f"{what}: Neo4j at {self._settings.neo4j_uri} is unavailable ({exc}); "
                "the transaction was rolled back, nothing was written"
            ) from exc

    def _client_error(self, what: str, exc: neo4j_errors.ClientError) -> Exception:
        """The client errors a caller can act on; any other is a bug and stays as it is."""
        code = exc.code or ""
        if code.endswith("EntityNotFound"):
            return Conflict(f"{what}: a node this write needed was deleted by a concurrent "
                            "transaction (an erasure?); nothing was written")
        if code.endswith("DatabaseNotFound"):
            return StoreUnavailable(f"{what}: Neo4j at {self._settings.neo4j_uri} has no "
                                    f"database {self._db!r} (GRAPHMEM_NEO4J_DATABASE)")
        if code.endswith("AuthenticationRateLimit"):
            return StoreUnavailable(f"{what}: Neo4j refuses logins for a while after too many "
                                    "failed attempts; wait, then check GRAPHMEM_NEO4J_USER / "
                                    "GRAPHMEM_NEO4J_PASSWORD")
        if isinstance(exc, neo4j_errors.AuthError) or code.startswith("Neo.ClientError.Security"):
            return StoreUnavailable(f"{what}: Neo4j rejected the credentials for user "
                                    f"{self._settings.neo4j_user!r}")
        return exc

    def _write(self, what: str, fn: Callable[[ManagedTransaction], T]) -> T:
        with self._translated(what), self._driver.session(database=self._db) as session:
            return session.execute_write(fn)

    def _read(self, what: str, fn: Callable[[Session], T]) -> T:
        """`fn` with a read session whose statements each run as their own transaction.

        Why not a transaction function: Neo4j reads at read-committed isolation, so a read
        transaction of several statements gave them no common snapshot, only BEGIN and COMMIT,
        a round trip and about 0.6 ms of Neo4j CPU (graphmem.store.channel_union); every
        statement checks the ACL and the cube's state itself. Reads are idempotent, so
        `fn` is run again on an error the driver calls retryable (a pooled connection the
        server closed, a leader change), as a transaction function would be, for at most
        `neo4j_connect_timeout_s`."""
        deadline = time.monotonic() + self._settings.neo4j_connect_timeout_s
        delay = 0.05
        with self._translated(what):
            while True:
                try:
                    with self._driver.session(database=self._db,
                                              default_access_mode=READ_ACCESS) as session:
                        return fn(session)
                except (neo4j_errors.Neo4jError, neo4j_errors.DriverError) as exc:
                    if not exc.is_retryable() or time.monotonic() + delay > deadline:
                        raise
                    log.info("%s: retrying after %s", what, exc)
                    time.sleep(delay)
                    delay = min(delay * 2, 1.0)

    def _run(self, tx: _Runner, query: str, /, **params: Any) -> list[Any]:
        return list(tx.run(self._q[query], **params))

    def _audit_tx(self, tx: ManagedTransaction, actor: str, action: str, *,
                  targets: list[str], **details: Any) -> None:
        self._run(tx, "audit/record", **self._audit_params(actor, action, targets=targets,
                                                           **details))

    @staticmethod
    def _audit_params(actor: str, action: str, *, targets: list[str], scope: str | None = None,
                      subject: str | None = None, result: str = "ok",
                      detail: str | None = None) -> dict[str, Any]:
        return {"actor": actor, "action": action, "targets": targets, "scope": scope,
                "subject": subject, "result": result, "detail": detail}

    # --- schema -------------------------------------------------------------------------------

    def apply_schema(self, version: str, dim: int) -> None:
        """Constraints and indexes are idempotent (IF NOT EXISTS); safe to run at every start."""
        with self._translated("apply schema"), self._driver.session(database=self._db) as s:
            for path in self._q.schema_files():
                for statement in split_statements(path.read_text(encoding="utf-8")):
                    s.run(statement, dim=dim, version=version).consume()
            s.run(self._q["schema/await_indexes"]).consume()

    def ensure_schema(self, dim: int) -> str:
        """Apply the schema unless the graph already records this exact schema version."""
        version = self._q.schema_fingerprint()
        if self.schema_version() != version:
            log.info("applying schema %s", version)
            self.apply_schema(version, dim)
        return version

    def schema_version(self) -> str | None:
        def fn(tx: _Runner) -> str | None:
            rows = self._run(tx, "schema/get_version")
            return rows[0]["version"] if rows else None

        return self._read("read schema version", fn)

    # --- principals and ACL -------------------------------------------------------------------

    def ensure_principal(
        self, principal: str, kind: str, name: str, scope: str, scope_kind: str
    ) -> None:
        def fn(tx: ManagedTransaction) -> None:
            self._ensure_principal_tx(tx, Principal.parse(principal))

        self._write("ensure principal", fn)

    def _ensure_principal_tx(self, tx: ManagedTransaction, principal: Principal) -> None:
        self._run(tx, "acl/ensure_principal", principal=principal.id, kind=principal.kind,
                  name=principal.name, scope=principal.own_scope,
                  scope_kind=principal.scope_kind, scope_key=scope_key(principal.own_scope))

    def _begin_write(self, tx: ManagedTransaction, actor: str, scope: str, owner: str, *,
                     then: dict[str, dict[str, Any]] | None = None
                     ) -> dict[str, list[dict[str, Any]]]:
        """First statement of every transaction that stores memory: the acting user or agent
        exists from its first write on, the ACL and ownership checks pass, and the owner and
        scope are locked against a concurrent erasure (cypher/acl/begin_write.cypher).

        The checks run first, and the principal is made (acl/ensure_principal) only when they
        find it missing, or find it writing its own scope without a write grant; then they
        run again. A statement less for every write but a principal's first (one round trip,
        about 1.3 ms of an add). An existing principal writing another scope no longer has a
        missing own scope made again on the way.

        `then`'s files (name: parameters) run in the same statement, after the checks
        (graphmem.store.statement_sequence): another round trip less. They run before Python
        reads the checks' answer, so each must first match the actor's write grant on the
        scope (as every write file does): then a scope the actor may not write, or a
        principal not made yet, makes them write nothing, and they can run again after
        ensure_principal. A write the owner did not consent to (`may_own`) is written, and
        the error raised here rolls the whole transaction back. Returns their rows."""
        acting = Principal.parse(actor)
        params = {"actor": actor, "owner": owner, "scope": scope,
                  "owner_scope": Principal.parse(owner).own_scope}
        parts = {"acl/begin_write": params, **(then or {})}
        rows = self._sequence(tx, parts)
        row = rows.pop("acl/begin_write")[0]
        if acting.kind != "group" and (not row["actor_exists"] or (
                not row["may_write_scope"] and scope == acting.own_scope)):
            self._ensure_principal_tx(tx, acting)
            rows = self._sequence(tx, parts)
            row = rows.pop("acl/begin_write")[0]
        if not row["actor_exists"]:
            raise NotFound(f"no principal {actor}")
        if not row["may_write_scope"] and acting.kind != "group" and scope == acting.own_scope:
            # The statement above made sure of this scope; only an erasure that held its locks
            # while this transaction waited can have taken it away again.
            raise Conflict(f"{actor} was erased by a concurrent purge while this write waited; "
                           "nothing was written")
        if not row["may_write_scope"]:
            raise PermissionDenied(f"{actor} may not write to scope {scope}")
        if not row["may_own"]:
            raise PermissionDenied(
                f"{actor} may not write memories owned by {owner}: a write names its own "
                f"actor as owner, unless {owner} granted it write on its private scope")
        return rows

    def principal_exists(self, principal: str) -> bool:
        def fn(tx: _Runner) -> bool:
            return bool(self._run(tx, "acl/principal_exists", principal=principal)[0]["exists"])

        return self._read("principal", fn)

    def accept_invitation(self, actor: str, group: str) -> bool:
        return self._acl_write("accept_invitation", "acl/accept_invitation", actor,
                               {"group": group}, subject=group)

    def _acl_write(self, action: str, query: str, actor: str, params: dict[str, Any], *,
                   audit_scope: str | None = None, subject: str | None = None) -> bool:
        def fn(tx: ManagedTransaction) -> bool:
            ok = bool(self._run(tx, query, actor=actor, **params))
            self._audit_tx(tx, actor, action, targets=[], scope=audit_scope, subject=subject,
                           result="ok" if ok else "denied")
            return ok

        return self._write(action, fn)

    def create_group(self, actor: str, group: str, name: str, scope: str) -> bool:
        return self._acl_write("create_group", "acl/create_group", actor,
                               {"group": group, "name": name, "scope": scope,
                                "scope_key": scope_key(scope)},
                               audit_scope=scope, subject=group)

    def add_member(self, actor: str, group: str, member: str, kind: str, name: str) -> bool:
        return self._acl_write("add_member", "acl/add_member", actor,
                               {"group": group, "member": member, "kind": kind, "name": name},
                               subject=member)

    def create_shared_scope(self, actor: str, scope: str) -> bool:
        return self._acl_write("create_scope", "acl/create_shared_scope", actor,
                               {"scope": scope, "scope_key": scope_key(scope)},
                               audit_scope=scope)

    def grant(self, actor: str, scope: str, principal: str, kind: str, name: str, *,
              read: bool, write: bool) -> bool:
        return self._acl_write("grant", "acl/grant", actor,
                               {"scope": scope, "principal": principal, "kind": kind,
                                "name": name, "read": read, "write": write},
                               audit_scope=scope, subject=principal)

    def revoke(self, actor: str, scope: str, principal: str, *, read: bool,
               write: bool) -> bool:
        return self._acl_write("revoke", "acl/revoke", actor,
                               {"scope": scope, "principal": principal, "read": read,
                                "write": write},
                               audit_scope=scope, subject=principal)

    def readable_scopes(self, actor: str) -> list[str]:
        def fn(tx: _Runner) -> list[str]:
            return [r["scope"] for r in self._run(tx, "acl/readable_scopes", actor=actor)]

        return self._read("readable scopes", fn)

    # --- writes -------------------------------------------------------------------------------

    def _existing(self, query: str, ids: list[str]) -> set[str]:
        def fn(tx: _Runner) -> set[str]:
            return {r["id"] for r in self._run(tx, query, ids=ids)}

        return self._read(query, fn)

    def existing_entity_ids(self, ids: list[str]) -> set[str]:
        return self._existing("entities/existing", ids)

    def write_batch(self, actor: str, batch: WriteBatch) -> WriteOutcome:
        """Episodes, entities, cubes, relations and the audit event: one transaction."""
        return self._write("add", lambda tx: self._write_batch_tx(tx, actor, batch)[0])

    def write_batches(self, batches: list[tuple[str, WriteBatch]]) -> list[WriteOutcome]:
        """Several (actor, batch) writes, in order, in one transaction: a bulk ingest pays
        one commit (and one log flush) per batch of conversations instead of one each. Each
        keeps its own ACL check and audit event; all commit together or none does."""
        def fn(tx: ManagedTransaction) -> list[WriteOutcome]:
            # The created cubes as each actor reads them, once every batch is written (a later
            # batch may supersede an earlier one's preference). For one actor (every `add`),
            # the read closes the last batch's closing statement; for several, each actor's
            # is a statement of its own after it.
            actors = list(dict.fromkeys(a for a, _ in batches))
            outcomes: list[WriteOutcome] = []
            read: list[StoredCube] = []
            for i, (actor, batch) in enumerate(batches):
                fold = len(actors) == 1 and i == len(batches) - 1
                outcome, read = self._write_batch_tx(tx, actor, batch,
                                                     read_back=outcomes if fold else None)
                outcomes.append(outcome)
            if len(actors) > 1:
                read = [cube for a in actors
                        if (ids := [i for (b, _), o in zip(batches, outcomes, strict=True)
                                    if b == a for i in _created_ids(o)])
                        for cube in self._get_cubes_tx(tx, a, ids)]
            by_id = {c.props["id"]: c for c in read}
            for outcome in outcomes:
                outcome.stored = [by_id[i] for i in _created_ids(outcome) if i in by_id]
            return outcomes

        return self._write("add", fn) if batches else []

    def _write_batch_tx(
        self, tx: ManagedTransaction, actor: str, batch: WriteBatch, *,
        read_back: list[WriteOutcome] | None = None,
    ) -> tuple[WriteOutcome, list[StoredCube]]:
        """Two statements: the ACL check and what the batch writes, then supersession, the
        audit event and the read-back of the cubes this batch and the earlier `read_back`
        outcomes created (none without it). Returns the outcome and the cubes read back.

        Every file is in its statement whatever the batch holds, with no rows where it has
        none (an empty file costs a few hundredths of a millisecond): so there are two
        statement texts in all, each planned once, where leaving empty files out made a text,
        and half a second of planning, for each combination of them."""
        has_episodes = bool(batch.episodes)  # the links, names and reply context come with them
        parts = {
            "episodes/write": dict(
                actor=actor, scope=batch.scope, rows=[vars(e) for e in batch.episodes],
                pairs=[{"prev": a, "next": b} for a, b in batch.session_links
                       ] if has_episodes else [],
                principal=batch.subject or actor,
                names=batch.subject_names if has_episodes else [],
                extensions=[{"episode": e, "text": t} for e, t in batch.context_extensions
                            ] if has_episodes else []),
            "entities/merge": dict(actor=actor, scope=batch.scope,
                                   rows=[vars(e) for e in batch.entities]),
            "cubes/create": dict(actor=actor, scope=batch.scope,
                                 rows=[vars(c) for c in batch.cubes]),
            "entities/relate": dict(actor=actor, scope=batch.scope,
                                    rows=[vars(r) for r in batch.relations]),
        }
        written = self._begin_write(tx, actor, batch.scope, batch.subject or actor, then=parts)
        for name, sent in (("episodes/write", batch.episodes), ("entities/merge", batch.entities),
                           ("cubes/create", batch.cubes)):
            if len(written[name]) != len(sent):
                raise _lost_scope(actor, batch.scope)
        episode_ids = [r["id"] for r in written["episodes/write"]]
        new_ids = [r["id"] for r in written["episodes/write"] if r["is_new"]]
        entity_ids = [r["id"] for r in written["entities/merge"]]
        cubes = [CubeWrite(r["requested_id"], r["id"], r["created"])
                 for r in written["cubes/create"]]
        props_by_id = {row.props["id"]: row.props for row in batch.cubes}
        created_prefs = [
            {"id": c.id, "topic": p.get("topic"), "category": p.get("category"),
             "polarity": p.get("polarity")}
            for c in cubes
            if c.created and (p := props_by_id[c.requested_id]).get("kind") == "preference"
        ]
        outcome = WriteOutcome(episode_ids, new_ids, cubes, entity_ids)
        read_ids = [i for o in [*read_back, outcome] for i in _created_ids(o)
                    ] if read_back is not None else []
        closed = self._sequence(tx, {
            "cubes/supersede": dict(rows=created_prefs, batch_ids=[c.id for c in cubes],
                                    single_valued=list(batch.single_valued_categories)),
            "audit/record": self._audit_params(
                actor, "add", targets=[c.id for c in cubes if c.created], scope=batch.scope,
                subject=batch.subject, detail=f"episodes={len(new_ids)} cubes={len(cubes)}"),
            "cubes/get_many": {"actor": actor, "ids": read_ids},
        })
        outcome.superseded = [r["old"] for r in closed["cubes/supersede"]]
        return outcome, [_row_with_text_times(r) for r in closed["cubes/get_many"]]

    def _sequence(self, tx: ManagedTransaction, files: dict[str, dict[str, Any]]
                  ) -> dict[str, list[dict[str, Any]]]:
        """The named files (name: parameters) as one statement, in order: each one's rows.
        Only SEQUENCED files (a test checks that none holds a `$` inside a string, which the
        renaming would change)."""
        unlisted = [name for name in files if name not in self.SEQUENCED]
        if unlisted:
            raise ValueError(f"not a sequenced Cypher file: {unlisted}")
        text, params = statement_sequence.sequence(
            [Part(self._q[name], self.SEQUENCED[name], own) for name, own in files.items()])
        record = tx.run(text, params).single(strict=True)
        return dict(zip(files, statement_sequence.rows(record, len(files)), strict=True))

    def check_write(self, actor: str, cube_id: str) -> WriteCheck | None:
        def fn(tx: _Runner) -> WriteCheck | None:
            rows = self._run(tx, "cubes/get_for_write", actor=actor, id=cube_id)
            if not rows:
                return None
            r = rows[0]
            return WriteCheck(r["vid"], r["version"], r["status"], r["scope"], r["text"],
                              r["owner"], r["kind"] or "fact", r["can_read"], r["can_write"])

        return self._read("check write access", fn)

    def new_version(self, actor: str, vid: str, *, text: str, embedding: list[float],
                    content_hash: str, attributes_json: str | None, reason: str) -> int:
        def fn(tx: ManagedTransaction) -> int:
            rows = self._run(tx, "cubes/new_version", actor=actor, vid=vid, text=text,
                             embedding=embedding, content_hash=content_hash,
                             attributes_json=attributes_json, reason=reason)
            if not rows:
                raise Conflict(f"cube version {vid} is no longer current; re-read and retry")
            self._audit_tx(tx, actor, "update", targets=[rows[0]["id"]],
                           detail=f"version={rows[0]['version']} reason={reason}")
            return int(rows[0]["version"])

        return self._write("update", fn)

    def set_status(self, actor: str, vid: str, *, to: str, from_: list[str]) -> bool:
        def fn(tx: ManagedTransaction) -> bool:
            rows = self._run(tx, "cubes/set_status", actor=actor, vid=vid, to=to, **{"from": from_})
            self._audit_tx(tx, actor, f"status:{to}", targets=[vid.rsplit(":v", 1)[0]],
                           result="ok" if rows else "unchanged")
            return bool(rows)

        return self._write("change status", fn)

    # --- reads (audited, hence write transactions) --------------------------------------------

    def get_cube(self, actor: str, cube_id: str, version: int | None = None) -> StoredCube | None:
        def fn(tx: ManagedTransaction) -> StoredCube | None:
            rows = self._run(tx, "cubes/get", actor=actor, id=cube_id, version=version)
            self._audit_tx(tx, actor, "get", targets=[cube_id],
                           result="ok" if rows else "not_found")
            return _stored(rows[0]) if rows else None

        return self._write("get", fn)

    def get_cubes(self, actor: str, ids: list[str]) -> list[StoredCube]:
        """Several current cubes in one read (the caller's write was already audited)."""
        if not ids:
            return []
        return self._read("get cubes", lambda session: self._get_cubes_tx(session, actor, ids))

    def _get_cubes_tx(self, tx: _Runner, actor: str, ids: list[str]) -> list[StoredCube]:
        return [_row_with_text_times(r)
                for r in self._run(tx, "cubes/get_many", actor=actor, ids=ids)]

    def list_cubes(self, actor: str, *, owner: str | None, kinds: list[str] | None,
                   statuses: list[str] | None, limit: int, offset: int) -> list[StoredCube]:
        def fn(tx: ManagedTransaction) -> list[StoredCube]:
            rows = self._run(tx, "cubes/list", actor=actor, owner=owner, kinds=kinds,
                             statuses=statuses, limit=limit, offset=offset)
            cubes = [_stored(r) for r in rows]
            self._audit_tx(tx, actor, "list", targets=[c.props["id"] for c in cubes],
                           subject=owner)
            return cubes

        return self._write("list", fn)

    def history(self, actor: str, cube_id: str) -> list[StoredCube]:
        def fn(tx: ManagedTransaction) -> list[StoredCube]:
            rows = self._run(tx, "cubes/history", actor=actor, id=cube_id)
            self._audit_tx(tx, actor, "history", targets=[cube_id],
                           result="ok" if rows else "not_found")
            return [_stored(r) for r in rows]

        return self._write("history", fn)

    def retrieve(self, actor: str, queries: Sequence[ChannelQuery]) -> list[ChannelRows]:
        """Run retrieval channels (search/<retriever>.cypher) as one read statement
        (graphmem.store.channel_union), each channel's rows apart.

        An `ann` channel (over a vector index shared by all users, graphmem.retrieval.channels)
        is over-fetched in proportion to the actor's share of the graph; when ACL filtering
        leaves fewer than k, the ANN query runs again alone with four times the candidates, and
        only then an exact scan of the readable scopes (which is exact but grows with the
        actor's cubes)."""

        return self._read(_search_label(queries),
                          lambda session: self._channels(session, actor, queries))

    def retrieve_then_read(self, actor: str, queries: Sequence[ChannelQuery],
                           choose: Callable[[list[ChannelRows]], list[str]]
                           ) -> list[StoredCube]:
        """retrieve(), then the current cubes of the ids `choose` names (from those rows and
        whatever else it waits for), read whole in the same session."""

        def fn(session: Session) -> list[StoredCube]:
            ids = choose(self._channels(session, actor, queries))
            return self._get_cubes_tx(session, actor, ids) if ids else []

        return self._read(f"{_search_label(queries)} and hits", fn)

    def _channels(self, session: Session, actor: str,
                  queries: Sequence[ChannelQuery]) -> list[ChannelRows]:
        if not queries:
            return []
        started = time.perf_counter()
        files = [f"search/{q.retriever}" for q in queries]
        params = [{"actor": actor, **q.params} for q in queries]
        for i, q in enumerate(queries):
            if q.ann:
                share = self._ann_share(session, actor).params(q.retriever)
                if share["own"] < q.params["k"]:  # the index cannot give k: scan them all
                    files[i] += "_exact"
                else:
                    params[i].update(share, overfetch=1.0)
        if len(queries) == 1:
            parts = [self._run(session, files[0], **params[0])]
        else:
            text, merged = channel_union.union(
                [(self._q[f], p) for f, p in zip(files, params, strict=True)])
            parts = [[] for _ in queries]
            for row in session.run(text, merged):
                parts[row[channel_union.PART_COLUMN]].append(row)
            # Each file orders its rows by score; a union does not promise to keep that order
            # (Neo4j's runtimes do today), and ranking reads positions. Stable: ties keep it.
            parts = [sorted(rows, key=lambda r: -(r["score"] or 0.0)) for rows in parts]
        for i, q in enumerate(queries):
            if q.ann and "overfetch" in params[i] and len(parts[i]) < q.params["k"]:
                parts[i] = self._widen(session, q, {**params[i], "overfetch": 4.0})
        ms = (time.perf_counter() - started) * 1000.0  # one statement: the group's time
        return [ChannelRows([_row_with_text_times(r) for r in rows], ms) for rows in parts]

    def _widen(self, session: Session, q: ChannelQuery, params: dict[str, Any]) -> list[Any]:
        """An ANN channel that came back short: four times the candidates, then the exact
        scan."""
        rows = self._run(session, f"search/{q.retriever}", **params)
        if len(rows) < q.params["k"]:
            rows = self._run(session, f"search/{q.retriever}_exact", actor=params["actor"],
                             **q.params)
        return rows

    def _ann_share(self, session: Session, actor: str) -> AnnShare:
        share = self._shares.get(actor)
        if share is None:
            rows = self._run(session, "search/ann_share", actor=actor)
            if not rows:  # no such principal (yet): nothing to read, nothing to keep
                return AnnShare(0, 0, 0, 0)
            share = AnnShare.from_row(rows[0])
            self._shares.put(actor, share)
        return share

    def reader_names(self, actor: str) -> list[str]:
        """The names a question may call the reading principal by (principals/names)."""
        rows = self._read("reader names", lambda session: self._run(
            session, "principals/names", actor=actor))
        return [str(n) for n in rows[0]["names"]] if rows else []

    # --- erasure, export, import --------------------------------------------------------------

    def purge_user(self, actor: str, principal: str) -> PurgeCounts:
        # Queued search events naming the user must reach the graph before the erasure, or
        # they would be written after it.
        self._audit_buffer.flush()
        def fn(tx: ManagedTransaction) -> PurgeCounts:
            self._run(tx, "cubes/purge_lock", principal=principal)
            rows = self._run(tx, "cubes/purge_user", principal=principal)
            counts = PurgeCounts(0, 0, 0, 0, 0) if not rows else PurgeCounts(
                rows[0]["cubes"], rows[0]["episodes"], rows[0]["entities"],
                rows[0]["audit_events"], rows[0]["scopes"], list(rows[0]["artifact_paths"]))
            # The erasure itself is audited without naming the erased user.
            self._audit_tx(tx, actor if actor != principal else "erased-principal", "purge",
                           targets=[], detail=f"cubes={counts.cubes} episodes={counts.episodes}")
            return counts

        return self._write("purge", fn)

    def export_user(self, actor: str, user_id: str) -> tuple[list[StoredCube],
                                                             list[dict[str, Any]]]:
        def fn(tx: ManagedTransaction) -> tuple[list[StoredCube], list[dict[str, Any]]]:
            rows = self._run(tx, "cubes/export_user", actor=actor, user_id=user_id)
            cubes = []
            for r in rows:
                stored = _stored(r)
                emb = stored.props.pop("embedding", None)
                stored.embedding = list(emb) if emb is not None else None
                cubes.append(stored)
            episodes = [_native(dict(r["episode"])) for r in
                        self._run(tx, "cubes/export_episodes", actor=actor, user_id=user_id)]
            self._audit_tx(tx, actor, "export", targets=sorted({c.props["id"] for c in cubes}),
                           subject=user_id)
            return cubes, episodes

        return self._write("export", fn)

    def import_rows(self, actor: str, scope: str, cubes: list[CubeRow],
                    episodes: list[dict[str, Any]], *, owner: str) -> int:
        def fn(tx: ManagedTransaction) -> int:
            self._begin_write(tx, actor, scope, owner)
            if episodes:
                got = self._run(tx, "cubes/import_episodes", actor=actor, scope=scope,
                                rows=episodes)
                if not got or got[0]["episodes"] != len(episodes):
                    raise Conflict("the bundle holds episode ids that exist in another scope; "
                                   "import with new ids (remap_ids=True)")
            rows = self._run(tx, "cubes/import_versions", actor=actor, scope=scope,
                             rows=[vars(c) for c in cubes])
            if len(rows) != len(cubes):
                raise Conflict("the bundle holds cube ids or versions that exist in another "
                               "scope; nothing was imported; import with new ids "
                               "(remap_ids=True)")
            ids = sorted({c.props["id"] for c in cubes})
            self._run(tx, "cubes/link_versions", ids=ids)
            created = sum(1 for r in rows if r["is_new"])
            self._audit_tx(tx, actor, "import", targets=ids, scope=scope,
                           detail=f"versions_created={created}")
            return created

        return self._write("import", fn)

    def episode_message_ids(self, actor: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        def fn(tx: _Runner) -> dict[str, dict[str, Any]]:
            rows = self._run(tx, "episodes/message_ids", actor=actor, ids=ids)
            return {r["id"]: _native(dict(r)) for r in rows}

        return self._read("episodes", fn)

    # --- API keys -----------------------------------------------------------------------------

    @staticmethod
    def _key_row(record: Any) -> ApiKeyRow:
        k = _native(dict(record["key"]))
        return ApiKeyRow(id=k["id"], principal=k["principal"], admin=bool(k["admin"]),
                         label=k.get("label"), created_at=k["created_at"],
                         created_by=k.get("created_by"), revoked_at=k.get("revoked_at"))

    def create_key(self, actor: str, *, key_id: str, key_hash: str, principal: str,
                   admin: bool, label: str | None) -> ApiKeyRow:
        def fn(tx: ManagedTransaction) -> ApiKeyRow:
            acting = Principal.parse(principal)
            if acting.kind != "group":
                self._ensure_principal_tx(tx, acting)
            row = self._key_row(self._run(tx, "keys/create", id=key_id, hash=key_hash,
                                          principal=principal, admin=admin, label=label,
                                          created_by=actor)[0])
            self._audit_tx(tx, actor, "key_create", targets=[key_id], subject=principal,
                           detail="admin" if admin else None)
            return row

        return self._write("create key", fn)

    def key_for_hash(self, key_hash: str) -> ApiKeyRow | None:
        def fn(tx: _Runner) -> ApiKeyRow | None:
            rows = self._run(tx, "keys/lookup", hash=key_hash)
            return self._key_row(rows[0]) if rows else None

        return self._read("look up key", fn)

    def list_keys(self, principal: str | None) -> list[ApiKeyRow]:
        def fn(tx: _Runner) -> list[ApiKeyRow]:
            return [self._key_row(r) for r in self._run(tx, "keys/list", principal=principal)]

        return self._read("list keys", fn)

    def revoke_key(self, actor: str, key_id: str, *, principal: str | None) -> ApiKeyRow | None:
        def fn(tx: ManagedTransaction) -> ApiKeyRow | None:
            rows = self._run(tx, "keys/revoke", id=key_id, principal=principal, actor=actor)
            self._audit_tx(tx, actor, "key_revoke", targets=[key_id],
                           subject=rows[0]["key"]["principal"] if rows else None,
                           result="ok" if rows else "not_found")
            return self._key_row(rows[0]) if rows else None

        return self._write("revoke key", fn)

    # --- audit and admin ----------------------------------------------------------------------

    def audit(self, actor: str, action: str, *, targets: list[str], scope: str | None,
              subject: str | None, result: str, detail: str | None = None) -> None:
        def fn(tx: ManagedTransaction) -> None:
            self._audit_tx(tx, actor, action, targets=targets, scope=scope, subject=subject,
                           result=result, detail=detail)

        self._write("audit", fn)

    def audit_read(self, actor: str, action: str, *, targets: list[str], scope: str | None,
                   subject: str | None, result: str, detail: str | None = None) -> None:
        """Audit a read outside any transaction of its own: queued for the next batched
        write (store/audit_buffer.py), or written now when settings.audit_reads is "sync"."""
        if self._settings.audit_reads == "sync":
            self.audit(actor, action, targets=targets, scope=scope, subject=subject,
                       result=result, detail=detail)
            return
        self._audit_buffer.add({
            "at": datetime.now(UTC), "actor": actor, "action": action, "targets": targets,
            "scope": scope, "subject": subject, "result": result, "detail": detail})

    def flush_audit(self) -> int:
        return self._audit_buffer.flush()

    def _write_audit_batch(self, events: list[dict[str, Any]]) -> None:
        def fn(tx: ManagedTransaction) -> None:
            self._run(tx, "audit/record_batch", events=events)

        self._write("audit", fn)

    def recent_audit(self, principal: str, limit: int) -> list[dict[str, Any]]:
        self._audit_buffer.flush()  # the trail a reader sees includes queued search events
        def fn(tx: _Runner) -> list[dict[str, Any]]:
            rows = self._run(tx, "audit/recent", principal=principal, limit=limit)
            return [_native(dict(r["event"])) for r in rows]

        return self._read("audit", fn)

    def stats(self) -> dict[str, int]:
        def fn(tx: _Runner) -> dict[str, int]:
            rows = self._run(tx, "admin/stats")
            return {k: int(v) for k, v in dict(rows[0]).items()}

        return self._read("stats", fn)

    def wipe(self) -> None:
        with self._translated("wipe"), self._driver.session(database=self._db) as s:
            s.run(self._q["admin/wipe"]).consume()

    def read_query(self, name: str, /, **params: Any) -> list[dict[str, Any]]:
        """Run one named read query file; rows as plain dicts."""
        return self.read_queries([(name, params)])[0]

    def read_queries(self, queries: Sequence[tuple[str, dict[str, Any]]]
                     ) -> list[list[dict[str, Any]]]:
        """Several named read queries in one session, each one's rows as plain dicts."""

        def fn(tx: _Runner) -> list[list[dict[str, Any]]]:
            return [[_native(dict(r)) for r in self._run(tx, name, **params)]
                    for name, params in queries]

        return self._read(", ".join(name for name, _ in queries), fn)

    def write_query(self, name: str, /, *, audit: AuditSpec | None = None,
                    **params: Any) -> list[dict[str, Any]]:
        """Run one named write query file, and its audit event, in one transaction."""

        def fn(tx: ManagedTransaction) -> list[dict[str, Any]]:
            rows = [_native(dict(r)) for r in self._run(tx, name, **params)]
            if audit is not None:
                targets = audit.targets if audit.targets is not None else [
                    str(r[audit.target_key]) for r in rows if audit.target_key in r]
                self._audit_tx(tx, audit.actor, audit.action, targets=targets,
                               scope=audit.scope, subject=audit.subject,
                               result=audit.result, detail=audit.detail)
            return rows

        return self._write(name, fn)
