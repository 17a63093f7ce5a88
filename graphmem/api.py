"""GraphMem: the public facade (add, get, list, search, update, delete, purge, history,
export, import, and the ACL calls).

Validation happens here, before any I/O: a malformed request raises InvalidInput (or
PayloadTooLarge) and nothing is written. Every call names the acting principal; the store
applies the ACL inside its Cypher, so this layer never filters results after the fact.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import shutil
import time
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from pydantic import TypeAdapter, ValidationError

from graphmem import ingest, validation
from graphmem.chat import ChatAnswer, ChatTimings, used, with_memories
from graphmem.embeddings import Embedder, SentenceTransformerEmbedder
from graphmem.errors import (
    Conflict,
    InvalidInput,
    LLMError,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
)
from graphmem.ingestion import BulkItem, Ingestor
from graphmem.llm import ChatBackend, ChatResult, TransformersBackend, chat_backend
from graphmem.models import (
    SEARCHABLE_STATUSES,
    AddResult,
    Conversation,
    CubeKind,
    MemCube,
    Message,
    NewCube,
    Priority,
    SearchHit,
    Status,
    utcnow,
)
from graphmem.principals import Principal, check_name, check_scope, shared_scope
from graphmem.records import cube_from_stored
from graphmem.retrieval import RECIPES, HybridRetriever, RetrievalResult, SearchConfig
from graphmem.schedulers.scheduler import MemScheduler
from graphmem.settings import Settings
from graphmem.store.neo4j_store import Neo4jStore
from graphmem.store.protocol import CubeRow, PurgeCounts, Store, WriteCheck

if TYPE_CHECKING:
    from graphmem.cubes.activation.memory import ActivationMemory
    from graphmem.cubes.bundle import BundleManifest
    from graphmem.cubes.memstore import InstallReport, MemStore
    from graphmem.cubes.parametric.memory import ParametricMemory
    from graphmem.extractors.base import Extractor

log = logging.getLogger(__name__)
_MESSAGES = TypeAdapter(list[Message])


@dataclass(frozen=True)
class _Generated:
    """The end of a streamed generation: the backend's result and which memories shaped it."""

    result: ChatResult
    kv_cache: Literal["hit", "miss", "off"]
    adapter: str | None


def _location(loc: tuple[int | str, ...], first_index: int) -> str:
    """A pydantic error location ("3.content") with the message index shifted to where the
    batch starts in its conversation."""
    head, *rest = loc
    index = head + first_index if isinstance(head, int) else head
    return ".".join(str(p) for p in (index, *rest))


class GraphMem:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: Store | None = None,
        embedder: Embedder | None = None,
        extractor: Extractor | None = None,
        scheduler: MemScheduler | None = None,
        chat_model: ChatBackend | None = None,
        apply_schema: bool = True,
    ) -> None:
        self.settings = settings or Settings()
        self.store: Store = store or Neo4jStore(self.settings)
        self.embedder: Embedder = embedder or SentenceTransformerEmbedder(self.settings)
        self._extractor = extractor
        self._chat_model = chat_model
        self._activation: ActivationMemory | None = None
        self._parametric: ParametricMemory | None = None
        self.retriever = HybridRetriever(self.store, self.embedder)
        self.ingestor = Ingestor(self.store, self.embedder, self.settings, lambda: self.extractor)
        self.scheduler = scheduler or MemScheduler(self.store, self.settings.scheduler)
        if apply_schema:
            self.store.ensure_schema(self.settings.embedding_dim)

    # --- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        self.retriever.close()
        self.ingestor.close()
        self.scheduler.close()
        self.store.close()

    def __enter__(self) -> GraphMem:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def extractor(self) -> Extractor:
        if self._extractor is None:
            from graphmem.extractors.factory import build_extractor

            self._extractor = build_extractor(self.settings)
            log.info("extractor: %s", self._extractor.name)
        return self._extractor

    # --- principals ---------------------------------------------------------------------------
    # Reads never create a principal (an unknown one simply reads nothing). Writes that store
    # memory create the acting user or agent inside their own transaction (store.write_batch),
    # so no process keeps a cache that another process's purge could make stale. ACL calls
    # create their acting user or agent first (_acting_for_acl); groups only create_group makes.

    def _actor(self, actor: str | None, user_id: str | None) -> Principal:
        if actor is None and user_id is None:
            raise InvalidInput("name the acting principal: pass actor='user:<id>' or user_id")
        if user_id is not None:
            check_name(user_id, "user id")
        return Principal.parse(actor if actor is not None else f"user:{user_id}")

    def _acting_for_acl(self, actor: str) -> Principal:
        acting = Principal.parse(actor)
        if acting.kind == "group":
            raise InvalidInput("a group cannot act; act as one of its members")
        self.store.ensure_principal(acting.id, acting.kind, acting.name, acting.own_scope,
                                    acting.scope_kind)
        return acting

    def _owner(self, acting: Principal, user_id: str | None) -> Principal:
        """Whose memory a write stores: the actor's own, or the named user's. Writing for
        another principal needs its consent (write on its private scope), checked in the write
        transaction (acl/begin_write), so a write can never name someone else as owner."""
        return Principal.parse(f"user:{user_id}") if user_id else acting

    # --- validation ---------------------------------------------------------------------------

    def validate_messages(self, messages: object, *, first_index: int = 0) -> list[Message]:
        """The checks `add` makes before anything is written, for callers (bulk ingestion)
        that must know a whole file is valid before they write its first batch; errors number
        messages from `first_index` (the batch's position in its conversation)."""
        if isinstance(messages, str):
            messages = [{"role": "user", "content": self._check_text(messages, "message")}]
        if not isinstance(messages, list | tuple) or not messages:
            raise InvalidInput("messages must be a non-empty string or list of "
                               "{role, content, timestamp?, id?} objects")
        if len(messages) > self.settings.max_batch_items:
            raise PayloadTooLarge(f"{len(messages)} messages in one call; the limit is "
                                  f"{self.settings.max_batch_items} (GRAPHMEM_MAX_BATCH_ITEMS)")
        raw = [m.model_dump() if isinstance(m, Message) else m for m in messages]
        try:
            parsed = _MESSAGES.validate_python(raw)
        except ValidationError as exc:
            problems = "; ".join(f"message {_location(e['loc'], first_index)}: {e['msg']}"
                                 for e in exc.errors())
            raise InvalidInput(f"malformed messages, nothing was written: {problems}") from exc
        seen: dict[str, str] = {}
        for i, m in enumerate(parsed, first_index):
            self._check_text(m.content, f"message {i}")
            if m.name is not None:
                self._check_text(m.name, f"message {i} name")
            if m.id is not None:
                validation.check_id(m.id, f"message {i} id")
                if seen.setdefault(m.id, m.content) != m.content:
                    raise InvalidInput(f"message {i}: id {m.id!r} is used twice with different "
                                       "content; nothing was written")
        return parsed

    def _check_text(self, text: object, what: str) -> str:
        return validation.check_text(text, what, self.settings.max_text_chars,
                                     "GRAPHMEM_MAX_TEXT_CHARS")

    def _check_attributes(self, attributes: object) -> dict[str, Any]:
        return validation.check_metadata(attributes, self.settings.max_metadata_bytes,
                                         self.settings.max_metadata_depth)

    def _target_scope(self, owner: Principal, scope: str | None) -> str:
        return owner.own_scope if scope is None else check_scope(scope)

    # --- writes -------------------------------------------------------------------------------

    def add(
        self,
        messages: str | Sequence[Message | dict[str, Any]],
        *,
        user_id: str | None = None,
        actor: str | None = None,
        session_id: str | None = None,
        agent_id: str | None = None,
        scope: str | None = None,
        infer: bool = True,
        metadata: dict[str, Any] | None = None,
    ) -> AddResult:
        """Store dialogue turns as Episodes and the memories extracted from them as MemCubes.

        With infer=False no extractor runs: each user turn is kept verbatim as a cube.
        Re-adding the same messages (same ids, or same content in the session) adds nothing.
        """
        parsed = self.validate_messages(messages)
        attributes = self._check_attributes(metadata)
        if session_id is not None:
            check_name(session_id, "session id")
        if agent_id is not None:
            check_name(agent_id, "agent id")
        acting = self._actor(actor, user_id)
        owner = self._owner(acting, user_id)
        origin = ingest.Origin(acting.id, self._target_scope(owner, scope), owner.name,
                               session_id, agent_id, owner.id)
        return self.ingestor.add(parsed, origin, infer=infer, attributes=attributes)

    def add_many(
        self,
        conversations: Sequence[Conversation | dict[str, Any]],
        *,
        actor: str | None = None,
        infer: bool = True,
        batch_messages: int = 512,
        progress: bool = False,
    ) -> builtins.list[AddResult]:
        """Bulk `add`: the same result, conversation by conversation, as calling add on each
        in order, at a fraction of the cost (graphmem.ingestion.Ingestor.add_many batches the
        extractor, the embedder, entity resolution and the write transaction).

        Every conversation is validated before anything is written, so one malformed
        conversation fails the call with nothing stored. Conversations are then written in
        transactions of about `batch_messages` messages; if one fails, the batches before it
        stay committed (re-running adds only what is missing)."""
        validation.check_int(batch_messages, "batch_messages", 1)
        if not isinstance(conversations, list | tuple):
            raise InvalidInput("conversations must be a list of {messages, user_id?, "
                               "session_id?, agent_id?, scope?, metadata?} objects")
        items: builtins.list[BulkItem] = []
        for n, raw in enumerate(conversations):
            try:
                conv = raw if isinstance(raw, Conversation) else Conversation.model_validate(raw)
                items.append(self._bulk_item(conv, actor))
            except ValidationError as exc:
                raise InvalidInput(f"conversation {n}: {exc.errors()[0]['msg']} at "
                                   f"{'.'.join(map(str, exc.errors()[0]['loc']))}; nothing "
                                   "was written") from exc
            except InvalidInput as exc:
                raise InvalidInput(f"conversation {n}: {exc}; nothing was written") from exc
        batches: builtins.list[builtins.list[BulkItem]] = [[]]
        for item in items:
            if batches[-1] and sum(len(i.messages) for i in batches[-1]) + len(
                    item.messages) > batch_messages:
                batches.append([])
            batches[-1].append(item)
        results: builtins.list[AddResult] = []
        from tqdm import tqdm

        with tqdm(total=sum(len(i.messages) for i in items), unit="msg", desc="ingesting",
                  disable=not progress) as bar:
            for batch in batches:
                results += self.ingestor.add_many(batch, infer=infer)
                bar.update(sum(len(i.messages) for i in batch))
        return results

    def _bulk_item(self, conv: Conversation, actor: str | None) -> BulkItem:
        """The checks and the origin of one `add` call, for one conversation of add_many."""
        parsed = self.validate_messages(conv.messages)
        attributes = self._check_attributes(conv.metadata)
        if conv.session_id is not None:
            check_name(conv.session_id, "session id")
        if conv.agent_id is not None:
            check_name(conv.agent_id, "agent id")
        acting = self._actor(actor, conv.user_id)
        owner = self._owner(acting, conv.user_id)
        origin = ingest.Origin(acting.id, self._target_scope(owner, conv.scope), owner.name,
                               conv.session_id, conv.agent_id, owner.id)
        return BulkItem(parsed, origin, attributes)

    def remember(
        self,
        text: str,
        *,
        user_id: str | None = None,
        actor: str | None = None,
        kind: CubeKind | str = CubeKind.FACT,
        scope: str | None = None,
        priority: Priority = "mid",
        expires: datetime | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> MemCube:
        """Store one cube verbatim (no dialogue, no extractor): a fact, a note, a preference."""
        clean = self._check_text(text, "text")
        attributes = self._check_attributes(metadata)
        try:
            cube = NewCube(text=clean, kind=CubeKind(kind), priority=priority, expires=expires,
                           attributes=attributes)
        except (ValidationError, ValueError) as exc:
            raise InvalidInput(f"invalid cube: {exc}") from exc
        acting = self._actor(actor, user_id)
        owner = self._owner(acting, user_id)
        origin = ingest.Origin(acting.id, self._target_scope(owner, scope), owner.name, None,
                               None, owner.id)
        return self.get(self.ingestor.remember(cube, origin), actor=acting.id)

    def update(self, cube_id: str, text: str, *, actor: str, reason: str = "update",
               expected_version: int | None = None) -> MemCube:
        """Write a new version; the previous one stays readable through history()."""
        clean = self._check_text(text, "text")
        reason = validation.check_text(reason, "reason", self.settings.max_reason_chars,
                                       "GRAPHMEM_MAX_REASON_CHARS")
        if expected_version is not None:
            validation.check_int(expected_version, "expected_version", 1)
        acting = Principal.parse(actor)
        check = self._writable(acting, self._check_id(cube_id))
        if expected_version is not None and check.version != expected_version:
            raise Conflict(f"cube {cube_id} is at version {check.version}, "
                           f"not {expected_version}")
        if check.status in (Status.ARCHIVED, Status.MERGED, Status.FROZEN):
            raise InvalidInput(f"cube {cube_id} is {check.status}; restore it before updating")
        self.store.new_version(acting.id, check.vid, text=clean,
                               embedding=self.embedder.embed([clean])[0],
                               content_hash=ingest.cube_hash(check.kind, clean),
                               attributes_json=None, reason=reason)
        return self.get(cube_id, actor=acting.id)

    def delete(self, cube_id: str, *, actor: str) -> MemCube:
        """Soft delete: the cube is archived (left out of search) and can be restored."""
        return self._transition(cube_id, actor, Status.ARCHIVED,
                                [Status.GENERATED, Status.ACTIVATED, Status.FROZEN])

    def restore(self, cube_id: str, *, actor: str) -> MemCube:
        return self._transition(cube_id, actor, Status.GENERATED, [Status.ARCHIVED])

    def _transition(self, cube_id: str, actor: str, to: Status, from_: list[Status]) -> MemCube:
        acting = Principal.parse(actor)
        check = self._writable(acting, self._check_id(cube_id))
        if not self.store.set_status(acting.id, check.vid, to=to.value,
                                     from_=[s.value for s in from_]):
            raise InvalidInput(f"cube {cube_id} is {check.status}; cannot move it to {to}")
        return self.get(cube_id, actor=acting.id)

    def _writable(self, acting: Principal, cube_id: str) -> WriteCheck:
        check = self.store.check_write(acting.id, cube_id)
        if check is None or not check.can_read:
            self.store.audit(acting.id, "write", targets=[cube_id], scope=None, subject=None,
                             result="not_found")
            raise NotFound(f"cube {cube_id!r} not found (or not readable by {acting.id})")
        if not check.can_write:
            self.store.audit(acting.id, "write", targets=[cube_id], scope=check.scope,
                             subject=None, result="denied")
            raise PermissionDenied(f"{acting.id} may read cube {cube_id!r} but not change it")
        return check

    def merge_duplicates(self, *, actor: str) -> int:
        """Merge near-duplicate cubes in the scopes the actor may write (status merged, linked
        MERGED_INTO the survivor); the scheduler's tick runs the same pass."""
        acting = Principal.parse(actor)
        return self.scheduler.lifecycle.merge(utcnow(), actor=acting.id).count

    def purge(self, *, user_id: str, actor: str) -> PurgeCounts:
        """Erase everything of a user (all versions, episodes, entities, audit trail).

        Only the user itself may do this; the returned counts say what was removed."""
        target = Principal.parse(f"user:{user_id}")
        acting = Principal.parse(actor)
        if acting != target:
            raise PermissionDenied(f"only {target.id} may purge its memory; {acting.id} may not")
        counts = self.store.purge_user(acting.id, target.id)
        for path in counts.artifact_paths:  # the caches' tensors go with their nodes
            shutil.rmtree(path, ignore_errors=True)
        return counts

    # --- reads --------------------------------------------------------------------------------

    def _check_id(self, cube_id: object) -> str:
        return validation.check_id(cube_id, "cube id")

    def get(self, cube_id: str, *, actor: str, version: int | None = None) -> MemCube:
        acting = Principal.parse(actor)
        if version is not None:
            validation.check_int(version, "version", 1)
        stored = self.store.get_cube(acting.id, self._check_id(cube_id), version)
        if stored is None:
            raise NotFound(f"cube {cube_id!r} not found (or not readable by {acting.id})")
        return cube_from_stored(stored)

    def list(self, *, actor: str | None = None, user_id: str | None = None,
             kinds: Iterable[CubeKind | str] | None = None, include_archived: bool = False,
             limit: int = 100, offset: int = 0) -> list[MemCube]:
        acting = self._actor(actor, user_id)
        validation.check_int(limit, "limit", 1, 10_000)
        validation.check_int(offset, "offset", 0)
        statuses = None if include_archived else list(SEARCHABLE_STATUSES)
        kind_list = validation.check_choices(kinds, "kind", (k.value for k in CubeKind))
        rows = self.store.list_cubes(acting.id, owner=user_id, kinds=kind_list,
                                     statuses=statuses, limit=limit, offset=offset)
        return [cube_from_stored(r) for r in rows]

    def history(self, cube_id: str, *, actor: str) -> builtins.list[MemCube]:
        acting = Principal.parse(actor)
        rows = self.store.history(acting.id, self._check_id(cube_id))
        if not rows:
            raise NotFound(f"cube {cube_id!r} not found (or not readable by {acting.id})")
        return [cube_from_stored(r) for r in rows]

    def search(self, query: str, *, user_id: str | None = None, actor: str | None = None,
               limit: int | None = None, kinds: Iterable[CubeKind | str] | None = None,
               owner: str | None = None, recipe: str = "hybrid",
               config: SearchConfig | None = None,
               session_id: str | None = None) -> builtins.list[SearchHit]:
        """Ranked memories the actor may read (hybrid retrieval unless another recipe is named)."""
        return self.retrieve(query, user_id=user_id, actor=actor, limit=limit, kinds=kinds,
                             owner=owner, recipe=recipe, config=config,
                             session_id=session_id).hits

    def retrieve(self, query: str, *, user_id: str | None = None, actor: str | None = None,
                 limit: int | None = None, kinds: Iterable[CubeKind | str] | None = None,
                 owner: str | None = None, recipe: str = "hybrid",
                 config: SearchConfig | None = None,
                 session_id: str | None = None) -> RetrievalResult:
        """Like search(), plus the token-budget chunks and per-retriever timings."""
        clean = self._check_text(query, "query")
        acting = self._actor(actor, user_id)
        k = self.settings.top_k if limit is None else validation.check_int(limit, "limit", 1, 1000)
        if session_id is not None:
            check_name(session_id, "session id")
        if config is None:
            if not isinstance(recipe, str) or recipe not in RECIPES:
                raise InvalidInput(f"unknown recipe {recipe!r:.40}; known: {sorted(RECIPES)}")
            config = RECIPES[recipe]
        kind_list = validation.check_choices(kinds, "kind", (k.value for k in CubeKind))
        if owner is not None:
            check_name(owner, "owner")
        result = self.retriever.search(acting.id, clean, config, limit=k, owner=owner,
                                       kinds=kind_list)
        ids = [h.cube.id for h in result.hits]
        self.store.audit_read(acting.id, "search", targets=ids, scope=None, subject=owner,
                              result="ok", detail=recipe)
        self.scheduler.on_retrieval(acting.id, user_id or acting.name, session_id, clean, ids)
        return result

    # --- chat ---------------------------------------------------------------------------------

    @property
    def activation(self) -> ActivationMemory | None:
        """Activation memory (KV caches of memory sets) for a local chat model; None for an
        HTTP endpoint, whose server keeps its own prefix cache, or when switched off."""
        if self._activation is None and self.settings.activation_enabled and isinstance(
                self.chat_model, TransformersBackend):
            from graphmem.cubes.activation.memory import ActivationMemory

            self._activation = ActivationMemory(
                self.store, self.chat_model, self.settings.cache_dir / "kv",
                gpu_bytes=self.settings.activation_gpu_bytes,
                host_bytes=self.settings.activation_host_bytes,
                promotions=self.scheduler.promotions)
        return self._activation

    @property
    def chat_model(self) -> ChatBackend:
        """The model chat answers with (graphmem.llm decides which), created on first use."""
        if self._chat_model is None:
            self._chat_model = chat_backend(self.settings)
        return self._chat_model

    def chat(self, messages: str | Sequence[Message | dict[str, Any]], *,
             user_id: str | None = None, actor: str | None = None,
             session_id: str | None = None, limit: int | None = None,
             recipe: str = "hybrid", remember: bool | None = None) -> ChatAnswer:
        """Answer the last user turn from memory: retrieve for it, put the memories into the
        first system message, generate; then (settings.chat_remember) store the exchange like
        add() does. The answer names the memories it was given, with their provenance."""
        for item in self.chat_stream(messages, user_id=user_id, actor=actor,
                                     session_id=session_id, limit=limit, recipe=recipe,
                                     remember=remember):
            if isinstance(item, ChatAnswer):
                return item
        raise LLMError("chat ended without an answer")  # chat_stream always ends in one

    def chat_stream(self, messages: str | Sequence[Message | dict[str, Any]], *,
                    user_id: str | None = None, actor: str | None = None,
                    session_id: str | None = None, limit: int | None = None,
                    recipe: str = "hybrid", remember: bool | None = None
                    ) -> Generator[str | ChatAnswer, None, None]:
        """chat(), streamed: the answer's text pieces as the model produces them, then the
        ChatAnswer (its answer is the pieces joined, stripped). The messages are checked now;
        retrieval and generation run as the stream is read, and closing it early stops the
        generation (nothing is remembered then)."""
        parsed = self.validate_messages(messages)
        question = next((m.content for m in reversed(parsed) if m.role == "user"), None)
        if question is None:
            raise InvalidInput("chat needs at least one user turn")
        return self._chat(parsed, question, user_id=user_id, actor=actor,
                          session_id=session_id, limit=limit, recipe=recipe,
                          remember=self.settings.chat_remember if remember is None else remember)

    def _chat(self, parsed: builtins.list[Message], question: str, *, user_id: str | None,
              actor: str | None, session_id: str | None, limit: int | None, recipe: str,
              remember: bool) -> Generator[str | ChatAnswer, None, None]:
        started = time.perf_counter()
        hits = self.search(question, user_id=user_id, actor=actor, limit=limit, recipe=recipe,
                           session_id=session_id)
        retrieval_ms = (time.perf_counter() - started) * 1000.0
        prompt = with_memories([{"role": m.role, "content": m.content} for m in parsed], hits,
                               self._display_name(self._actor(actor, user_id)))
        generating = time.perf_counter()
        done: _Generated | None = None
        with contextlib.closing(self._generate(self._actor(actor, user_id).id, prompt)) as pieces:
            for item in pieces:
                if isinstance(item, _Generated):
                    done = item
                else:
                    yield item
        generation_ms = (time.perf_counter() - generating) * 1000.0
        if done is None:
            raise LLMError("the chat model ended without a result")
        result = done.result
        remembered = 0
        if remember and validation.visible(result.text):
            exchange = [*parsed, Message(role="assistant", content=result.text.strip())]
            remembered = len(self.add(exchange, user_id=user_id, actor=actor,
                                      session_id=session_id).cubes)
        yield ChatAnswer(
            answer=result.text.strip(), model=self.chat_model.model, memories=used(hits),
            timings=ChatTimings(retrieval_ms=retrieval_ms, generation_ms=generation_ms,
                                ttft_ms=result.ttft_ms,
                                tokens_per_s=result.tokens_out / (generation_ms / 1000.0)
                                if generation_ms > 0 else None),
            tokens_in=result.tokens_in, tokens_out=result.tokens_out, remembered=remembered,
            kv_cache=done.kv_cache, adapter=done.adapter)

    def _display_name(self, principal: Principal) -> str:
        """What the memory block calls the asker: the name its messages carried ("Maya"), else
        its id's name. A small model given an opaque id ("u-5f3a9c said: ...") answered about
        the wrong city; given the name, from the memory."""
        names = self.store.reader_names(principal.id)
        return names[-1] if len(names) > 1 else principal.name

    def _generate(self, actor: str, prompt: builtins.list[dict[str, str]]
                  ) -> Generator[str | _Generated, None, None]:
        """One streamed completion (text pieces, then what was generated and how); for a
        local model with the actor's own adapter active (parametric memory) and, when one
        matches, a KV cache of the memory prefix (activation memory). The adapter stays active,
        under the model's lock, until the stream is finished or closed."""
        backend = self.chat_model
        if not isinstance(backend, TransformersBackend):
            with contextlib.closing(backend.stream(prompt)) as pieces:
                for item in pieces:
                    yield _Generated(item, "off", None) if isinstance(item, ChatResult) else item
            return
        parametric, activation = self.parametric, self.activation
        with parametric.lock if parametric is not None else contextlib.nullcontext():
            adapter = parametric.activate_for(actor) if parametric is not None else None
            try:
                cache = activation.lookup(actor, prompt[0]["content"], adapter_id=adapter) \
                    if activation is not None else None
                state: Literal["hit", "miss", "off"] = "off" if activation is None else (
                    "hit" if cache is not None else "miss")
                # closed here, before the adapter goes: the worker is done with the model
                with contextlib.closing(backend.stream(prompt, prefix=cache)) as pieces:
                    for item in pieces:
                        yield _Generated(item, state, adapter) if isinstance(
                            item, ChatResult) else item
            finally:
                if parametric is not None:
                    parametric.deactivate()

    @property
    def parametric(self) -> ParametricMemory | None:
        """Parametric memory (the owner's LoRA adapters) for a local chat model; None for an
        HTTP endpoint or when switched off."""
        if self._parametric is None and self.settings.parametric_enabled and isinstance(
                self.chat_model, TransformersBackend):
            from graphmem.cubes.parametric.memory import ParametricMemory

            self._parametric = ParametricMemory(
                self.store, self.chat_model, self.settings.cache_dir / "lora",
                settings=self.settings.lora, budget=self.settings.lora_resident_adapters,
                promotions=self.scheduler.promotions)
        return self._parametric

    def episode_message_ids(self, episode_ids: Sequence[str], *, actor: str) -> dict[str, str]:
        """Map episode node ids to the message ids the caller supplied (readable ones only)."""
        acting = Principal.parse(actor)
        ids = validation.check_ids(episode_ids, "episode ids", self.settings.max_batch_items)
        rows = self.store.episode_message_ids(acting.id, ids)
        return {eid: row["msg_id"] for eid, row in rows.items() if row.get("msg_id")}

    # --- sharing ------------------------------------------------------------------------------

    def create_shared_scope(self, name: str, *, actor: str) -> str:
        acting = self._acting_for_acl(actor)
        scope = shared_scope(name)
        if not self.store.create_shared_scope(acting.id, scope):
            raise PermissionDenied(f"scope {scope} exists and is owned by someone else")
        return scope

    def create_group(self, name: str, *, actor: str) -> str:
        acting = self._acting_for_acl(actor)
        group = Principal.parse(f"group:{name}")
        if not self.store.create_group(acting.id, group.id, group.name, group.own_scope):
            raise PermissionDenied(f"group {group.id} exists and was created by someone else")
        return group.own_scope

    def add_member(self, group: str, member: str, *, actor: str) -> None:
        """Invite `member` into a group the actor owns. The invitation grants nothing until
        the member accepts it (accept_invitation), so nobody joins a group without consent."""
        acting = self._acting_for_acl(actor)
        g, m = Principal.parse(f"group:{group}"), Principal.parse(member)
        self._require_principal(m)
        if not self.store.add_member(acting.id, g.id, m.id, m.kind, m.name):
            raise PermissionDenied(f"{acting.id} does not own group {g.id}")

    def accept_invitation(self, group: str, *, actor: str) -> str:
        """Join a group one was invited to; returns the group's scope."""
        acting = self._acting_for_acl(actor)
        g = Principal.parse(f"group:{group}")
        if not self.store.accept_invitation(acting.id, g.id):
            raise NotFound(f"{acting.id} has no invitation to {g.id}")
        return g.own_scope

    def _require_principal(self, principal: Principal) -> None:
        """A group named as a member or grantee must exist: naming it must not create a group
        principal that nobody created (and whose name nobody could then claim)."""
        if principal.kind == "group" and not self.store.principal_exists(principal.id):
            raise NotFound(f"no group {principal.id}")

    def grant(self, scope: str, principal: str, *, actor: str, read: bool = True,
              write: bool = False) -> None:
        acting = self._acting_for_acl(actor)
        target = Principal.parse(principal)
        self._require_principal(target)
        if not self.store.grant(acting.id, check_scope(scope), target.id, target.kind,
                                target.name, read=read, write=write):
            raise PermissionDenied(f"{acting.id} does not own scope {scope}")

    def revoke(self, scope: str, principal: str, *, actor: str, read: bool = True,
               write: bool = True) -> None:
        acting = Principal.parse(actor)
        target = Principal.parse(principal)
        if not self.store.revoke(acting.id, check_scope(scope), target.id, read=read,
                                 write=write):
            raise PermissionDenied(f"{acting.id} does not own scope {scope}")

    def scopes(self, *, actor: str) -> builtins.list[str]:
        """The scopes the actor may read (its own, granted ones, its groups')."""
        return self.store.readable_scopes(Principal.parse(actor).id)

    def source_turns(self, cube_id: str, *, actor: str) -> builtins.list[dict[str, Any]]:
        """The dialogue turns a cube's versions were derived from, that the actor may read."""
        acting = Principal.parse(actor)
        return self.store.read_query("cubes/source_turns", actor=acting.id,
                                     id=self._check_id(cube_id))

    def audit_trail(self, *, actor: str, limit: int = 50) -> builtins.list[dict[str, Any]]:
        """The actor's latest audit events (as actor or as subject), newest first."""
        validation.check_int(limit, "limit", 1, 1000)
        return self.store.recent_audit(Principal.parse(actor).id, limit)

    # --- bundles ------------------------------------------------------------------------------

    def export(self, user_id: str, path: str | Path, *, actor: str) -> BundleManifest:
        """Write a user's cubes (every version) and episodes as a portable bundle."""
        from graphmem.cubes.bundle import write_bundle

        acting = Principal.parse(actor)
        owner = Principal.parse(f"user:{user_id}")
        target = Path(path)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise InvalidInput(f"{target} exists and is not an empty directory; export writes a "
                               "new bundle directory")
        cubes, episodes = self.store.export_user(acting.id, owner.name)
        if not cubes and not episodes:
            raise NotFound(f"nothing of user {owner.name!r} is readable by {acting.id}")
        return write_bundle(target, owner.name, [(cube_from_stored(c), c.embedding)
                                                     for c in cubes], episodes, self.settings)

    def import_bundle(self, path: str | Path, *, user_id: str, actor: str | None = None,
                      remap_ids: bool = False) -> int:
        """Load a bundle into a user's private scope; returns the versions created."""
        from graphmem.cubes.bundle import read_bundle

        bundle = read_bundle(Path(path), self.settings, remap_ids=remap_ids)
        acting = self._actor(actor, user_id)
        owner = Principal.parse(f"user:{user_id}")
        rows: list[CubeRow] = []
        for cube, embedding in bundle.cubes:
            if embedding is None:
                embedding = self.embedder.embed([cube.text])[0]
            rows.append(bundle.row_for(cube, embedding, owner))
        episodes = [dict(e, owner=owner.name, owner_id=owner.id) for e in bundle.episodes]
        return self.store.import_rows(acting.id, owner.own_scope, rows, episodes, owner=owner.id)

    # --- MemStore: bundles as installables (cubes/memstore.py) -------------------------------

    @property
    def memstore(self) -> MemStore:
        from graphmem.cubes.memstore import MemStore

        return MemStore(self.store, self.embedder, self.settings)

    def export_bundle(self, path: str | Path, *, actor: str, user_id: str | None = None,
                      scope: str | None = None, kinds: Iterable[CubeKind | str] | None = None,
                      topic: str | None = None, name: str | None = None,
                      description: str = "", licence: str | None = None) -> BundleManifest:
        """A bundle of the cubes the actor may read that match the selection (a user's, a
        scope's, some kinds, a topic), with a manifest of what, whence and which model."""
        acting = Principal.parse(actor)
        user = check_name(user_id, "user id") if user_id is not None else None
        where = check_scope(scope) if scope is not None else None
        kind_list = validation.check_choices(kinds, "kind", (k.value for k in CubeKind))
        about = {key: validation.check_text(value, key, 2_000) if value else value
                 for key, value in (("topic", topic), ("name", name),
                                    ("description", description), ("licence", licence))}
        return self.memstore.export(Path(path), actor=acting, user=user, scope=where,
                                    kinds=kind_list, topic=about["topic"], name=about["name"],
                                    description=about["description"] or "",
                                    licence=about["licence"])

    def install_bundle(self, path: str | Path, *, actor: str, user_id: str | None = None,
                       scope: str | None = None, on_conflict: str = "skip",
                       dry_run: bool = False) -> InstallReport:
        """Install a bundle into a user's private scope (default: the actor's own) or into a
        scope the actor may write; see cubes/memstore.py for ids, re-embedding, conflicts."""
        acting = self._acting_for_acl(actor) if not dry_run else Principal.parse(actor)
        owner = self._owner(acting, user_id)
        target = self._target_scope(owner, scope)
        return self.memstore.install(Path(path), actor=acting, owner=owner, scope=target,
                                     on_conflict=on_conflict, dry_run=dry_run)

    def publish_bundle(self, path: str | Path, name: str, *, actor: str,
                       subscribers: Sequence[str] = (), on_conflict: str = "skip"
                       ) -> InstallReport:
        """Install a bundle as the shared scope scope:shared:<name> the actor owns, and grant
        each subscriber read (not write) on it: a read-only installed module."""
        subs = [Principal.parse(s) for s in subscribers]
        for sub in subs:
            self._require_principal(sub)
        scope = self.create_shared_scope(name, actor=actor)
        report = self.install_bundle(path, actor=actor, scope=scope, on_conflict=on_conflict)
        for sub in subs:
            self.grant(scope, sub.id, actor=actor, read=True, write=False)
        return report
