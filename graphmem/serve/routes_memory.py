"""The Memory API over HTTP: each endpoint is one GraphMem call with the key's principal as
actor. Endpoints are plain `def`s: the facade and the driver are synchronous, so FastAPI runs
each request in its thread pool."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from graphmem.models import AddResult, CubeKind, MemCube
from graphmem.serve.deps import Caller, Memory
from graphmem.serve.schemas import (
    AddRequest,
    ChunkOut,
    CubeList,
    History,
    PurgeResponse,
    RememberRequest,
    RetrieveResponse,
    SearchRequest,
    SearchResponse,
    Turns,
    UpdateRequest,
)

router = APIRouter(prefix="/v1", tags=["memory"])
CubeId = Annotated[str, Query(min_length=1, max_length=200)]


@router.post("/add", response_model=AddResult)
def add(body: AddRequest, mem: Memory, who: Caller) -> AddResult:
    """Dialogue turns → episodes, and the memories extracted from them."""
    messages = body.messages if isinstance(body.messages, str) else [
        m.model_dump() for m in body.messages]
    return mem.add(messages, actor=who.principal, user_id=body.user_id,
                   session_id=body.session_id, agent_id=body.agent_id, scope=body.scope,
                   infer=body.infer, metadata=body.metadata)


@router.post("/memories", response_model=MemCube, status_code=status.HTTP_201_CREATED)
def remember(body: RememberRequest, mem: Memory, who: Caller) -> MemCube:
    """One memory stored verbatim (no extractor)."""
    return mem.remember(body.text, actor=who.principal, user_id=body.user_id, kind=body.kind,
                        scope=body.scope, priority=body.priority, expires=body.expires,
                        metadata=body.metadata)


@router.post("/search", response_model=SearchResponse)
def search(body: SearchRequest, mem: Memory, who: Caller) -> SearchResponse:
    """Ranked memories the key's principal may read, with each retriever's score."""
    return SearchResponse(hits=mem.search(
        body.query, actor=who.principal, limit=body.limit, kinds=body.kinds, owner=body.owner,
        recipe=body.recipe, session_id=body.session_id))


@router.post("/retrieve", response_model=RetrieveResponse)
def retrieve(body: SearchRequest, mem: Memory, who: Caller) -> RetrieveResponse:
    """Like search, plus the token-budget chunks to put into a prompt."""
    result = mem.retrieve(body.query, actor=who.principal, limit=body.limit, kinds=body.kinds,
                          owner=body.owner, recipe=body.recipe, session_id=body.session_id)
    return RetrieveResponse(
        hits=result.hits, timings_ms=result.timings_ms, per_retriever=result.per_retriever,
        chunks=[ChunkOut(text=c.text, cube_ids=c.cube_ids, tokens=c.tokens)
                for c in result.chunks])


@router.get("/memories", response_model=CubeList)
def list_memories(
    mem: Memory, who: Caller,
    kind: Annotated[list[CubeKind] | None, Query()] = None,
    owner: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,127}$",
                                       description="only this user's memories")] = None,
    include_archived: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> CubeList:
    """A page of the readable memories; `next_offset` is null on the last page."""
    items = mem.list(actor=who.principal, user_id=owner, kinds=kind,
                     include_archived=include_archived, limit=limit + 1, offset=offset)
    more = len(items) > limit
    return CubeList(items=items[:limit], limit=limit, offset=offset,
                    next_offset=offset + limit if more else None)


@router.get("/memories/{cube_id}", response_model=MemCube)
def get(cube_id: str, mem: Memory, who: Caller,
        version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None) -> MemCube:
    return mem.get(cube_id, actor=who.principal, version=version)


@router.get("/memories/{cube_id}/history", response_model=History)
def history(cube_id: str, mem: Memory, who: Caller) -> History:
    """Every version, oldest first, each with its provenance."""
    return History(versions=mem.history(cube_id, actor=who.principal))


@router.get("/memories/{cube_id}/turns", response_model=Turns)
def turns(cube_id: str, mem: Memory, who: Caller) -> Turns:
    """The dialogue turns the cube's versions were derived from (its provenance)."""
    return Turns.model_validate({"turns": mem.source_turns(cube_id, actor=who.principal)})


@router.patch("/memories/{cube_id}", response_model=MemCube)
def update(cube_id: str, body: UpdateRequest, mem: Memory, who: Caller) -> MemCube:
    """A new version (the old one stays in history); expected_version makes it conditional
    (409 when someone else updated first)."""
    return mem.update(cube_id, body.text, actor=who.principal, reason=body.reason,
                      expected_version=body.expected_version)


@router.delete("/memories/{cube_id}", response_model=MemCube)
def delete(cube_id: str, mem: Memory, who: Caller) -> MemCube:
    """Soft delete: archived, out of search, restorable."""
    return mem.delete(cube_id, actor=who.principal)


@router.post("/memories/{cube_id}/restore", response_model=MemCube)
def restore(cube_id: str, mem: Memory, who: Caller) -> MemCube:
    return mem.restore(cube_id, actor=who.principal)


@router.post("/users/{user_id}/purge", response_model=PurgeResponse)
def purge(user_id: str, mem: Memory, who: Caller) -> PurgeResponse:
    """Erase everything of a user, irreversibly; only that user's own key may."""
    counts = mem.purge(user_id=user_id, actor=who.principal)
    return PurgeResponse(cubes=counts.cubes, episodes=counts.episodes, entities=counts.entities,
                         audit_events=counts.audit_events, scopes=counts.scopes)
