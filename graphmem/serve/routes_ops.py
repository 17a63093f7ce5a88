"""Everything around the memory calls: liveness and readiness, who a key is, the scheduler's
status, the audit trail, chat, and bundles as tar.gz over HTTP."""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from graphmem.chat import ChatAnswer
from graphmem.errors import GraphMemError, InvalidInput, PayloadTooLarge
from graphmem.serve.deps import Caller, Memory, Runtime, runtime
from graphmem.serve.errors import for_exception
from graphmem.serve.schemas import (
    NAME_PATTERN,
    SCOPE_PATTERN,
    AuditList,
    ChatRequest,
    Health,
    ImportResponse,
    InstallReportOut,
    WhoAmI,
)

router = APIRouter(tags=["operations"])
BUNDLE_FILES = ("manifest.json", "cubes.jsonl", "episodes.jsonl")


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """Liveness: the process answers (Neo4j is not consulted)."""
    return Health(status="ok", worker=os.getpid())


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(request: Request) -> Any:
    """Readiness: Neo4j answers and the schema is applied; 503 while it does not, and ready
    again by itself once it does (the driver reconnects; the schema is applied then)."""
    rt: Runtime = runtime(request)

    def check() -> str | None:
        rt.ensure_schema()
        return rt.memory.store.schema_version()

    version: str | None = None
    problem = "no answer from Neo4j within GRAPHMEM_SERVE__READY_TIMEOUT_S"
    with anyio.move_on_after(rt.memory.settings.serve.ready_timeout_s):
        try:
            version = await anyio.to_thread.run_sync(check, abandon_on_cancel=True)
            problem = ""
        except GraphMemError as exc:
            problem = str(exc)
    if problem:
        return JSONResponse(Health(status="unavailable", neo4j=problem).model_dump(),
                            status_code=503, headers={"Retry-After": "5"})
    return Health(status="ok", neo4j="ok", schema_version=version)


@router.get("/v1/whoami", response_model=WhoAmI)
def whoami(who: Caller) -> WhoAmI:
    return WhoAmI(principal=who.principal, key_id=who.id, admin=who.admin)


@router.get("/v1/scheduler/status")
def scheduler_status(mem: Memory, who: Caller) -> dict[str, Any]:
    """Cubes per status, the promotion queue, the hottest cubes and artifacts in the scopes
    the key's principal may read; working-memory hit rates of this worker's sessions (the
    `worker` field names it: with --workers N each process keeps its own)."""
    return {**mem.scheduler.status(actor=who.principal).to_dict(), "worker": os.getpid()}


@router.get("/v1/audit", response_model=AuditList)
def audit(mem: Memory, who: Caller,
          limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> AuditList:
    """The latest audit events naming the key's principal (as actor or subject)."""
    return AuditList.model_validate({"events": mem.audit_trail(actor=who.principal,
                                                               limit=limit)})


@router.post("/v1/chat", response_model=ChatAnswer)
def chat(body: ChatRequest, mem: Memory, who: Caller) -> ChatAnswer:
    """Answer the last user turn from memory, naming the memories used (whole; /v1/chat/stream
    streams it)."""
    messages = body.messages if isinstance(body.messages, str) else [
        m.model_dump() for m in body.messages]
    return mem.chat(messages, actor=who.principal, session_id=body.session_id,
                    limit=body.limit, recipe=body.recipe, remember=body.remember)


@router.post("/v1/chat/stream", response_class=StreamingResponse, responses={200: {
    "content": {"text/event-stream": {}},
    "description": "server-sent events: `token` ({\"text\"}) per piece as the model "
    "produces it, then one `answer` (the ChatAnswer); `error` ({\"error\"}) if it fails "
    "after the stream began"}})
def chat_stream(body: ChatRequest, mem: Memory, who: Caller) -> StreamingResponse:
    """chat, streamed as server-sent events (GraphMem.chat_stream). The messages are
    checked before the stream starts (errors then are the usual JSON); closing the
    connection stops the generation."""
    messages = body.messages if isinstance(body.messages, str) else [
        m.model_dump() for m in body.messages]
    pieces = mem.chat_stream(messages, actor=who.principal, session_id=body.session_id,
                             limit=body.limit, recipe=body.recipe, remember=body.remember)

    def events() -> Iterator[str]:
        try:
            for item in pieces:
                if isinstance(item, ChatAnswer):
                    yield f"event: answer\ndata: {item.model_dump_json()}\n\n"
                else:
                    yield f"event: token\ndata: {json.dumps({'text': item})}\n\n"
        except GraphMemError as exc:
            error = json.loads(bytes(for_exception(exc).body))
            yield f"event: error\ndata: {json.dumps(error)}\n\n"
        finally:
            pieces.close()

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store"})


@router.get("/v1/users/{user_id}/export", response_class=Response,
            responses={200: {"content": {"application/gzip": {}},
                             "description": "the bundle directory as a tar.gz"}})
def export(user_id: str, mem: Memory, who: Caller) -> Response:
    """A user's cubes (every version) and episodes as a bundle (tar.gz of manifest.json,
    cubes.jsonl, episodes.jsonl), as far as the key's principal may read them."""
    with tempfile.TemporaryDirectory(prefix="graphmem-export-") as tmp:
        target = Path(tmp) / "bundle"
        mem.export(user_id, target, actor=who.principal)
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w:gz") as tar:
            for name in BUNDLE_FILES:
                tar.add(target / name, arcname=name)
    return Response(data.getvalue(), media_type="application/gzip", headers={
        "Content-Disposition": f'attachment; filename="{user_id}.graphmem.tar.gz"'})


@router.post("/v1/users/{user_id}/import", response_model=ImportResponse,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/octet-stream": {"schema": {
                     "type": "string", "format": "binary",
                     "description": "the bundle tar.gz (any content type is read as bytes)"}}}}})
async def import_(user_id: str, request: Request, who: Caller,
                  remap_ids: bool = False) -> ImportResponse:
    """Import a bundle (the tar.gz that export returns) into the user's private scope; the
    manifest's hashes are checked before anything is written."""
    body = await request.body()
    rt: Runtime = runtime(request)

    def run() -> int:
        with tempfile.TemporaryDirectory(prefix="graphmem-import-") as tmp:
            _unpack(body, Path(tmp), rt.memory.settings.serve.max_import_bytes)
            return rt.memory.import_bundle(tmp, user_id=user_id, actor=who.principal,
                                           remap_ids=remap_ids)

    return ImportResponse(versions_created=await anyio.to_thread.run_sync(run))


BUNDLE_BODY = {"requestBody": {"required": True, "content": {"application/octet-stream": {
    "schema": {"type": "string", "format": "binary", "description": "a bundle tar.gz"}}}}}
ConflictMode = Literal["skip", "new-version", "fail"]


@router.post("/v1/bundles/install", response_model=InstallReportOut,
             openapi_extra=BUNDLE_BODY)
async def install_bundle(
        request: Request, who: Caller,
        user_id: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
        scope: Annotated[str | None, Query(pattern=SCOPE_PATTERN)] = None,
        on_conflict: ConflictMode = "skip", dry_run: bool = False) -> InstallReportOut:
    """Install a bundle (MemStore) into a user's private scope (default: the key's own) or a
    scope the key may write: re-embedded when its model is not this instance's, under
    scope-derived ids, conflicts as asked; dry_run reports and writes nothing."""
    body = await request.body()
    rt: Runtime = runtime(request)

    def run() -> Any:
        with tempfile.TemporaryDirectory(prefix="graphmem-install-") as tmp:
            _unpack(body, Path(tmp), rt.memory.settings.serve.max_import_bytes)
            return rt.memory.install_bundle(tmp, actor=who.principal, user_id=user_id,
                                            scope=scope, on_conflict=on_conflict,
                                            dry_run=dry_run)

    return InstallReportOut.model_validate(asdict(await anyio.to_thread.run_sync(run)))


@router.post("/v1/bundles/publish", response_model=InstallReportOut, status_code=201,
             openapi_extra=BUNDLE_BODY)
async def publish_bundle(
        request: Request, who: Caller, name: Annotated[str, Query(pattern=NAME_PATTERN)],
        subscriber: Annotated[list[str] | None, Query(
            description="user:<id>, agent:<id> or group:<id>; repeatable")] = None,
        on_conflict: ConflictMode = "skip") -> InstallReportOut:
    """Install a bundle as scope:shared:<name>, owned by the key's principal, and grant each
    subscriber read (not write) on it."""
    body = await request.body()
    rt: Runtime = runtime(request)

    def run() -> Any:
        with tempfile.TemporaryDirectory(prefix="graphmem-publish-") as tmp:
            _unpack(body, Path(tmp), rt.memory.settings.serve.max_import_bytes)
            return rt.memory.publish_bundle(tmp, name, actor=who.principal,
                                            subscribers=subscriber or [],
                                            on_conflict=on_conflict)

    return InstallReportOut.model_validate(asdict(await anyio.to_thread.run_sync(run)))


def _unpack(body: bytes, into: Path, limit: int) -> None:
    """Only the three bundle files, as regular files, within the size limit: no paths, links
    or devices from a caller's archive ever reach the disk."""
    try:
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
            total = 0
            for member in tar.getmembers():
                if member.name not in BUNDLE_FILES or not member.isfile():
                    raise InvalidInput(f"unexpected entry {member.name!r:.60} in the bundle "
                                       f"archive; it holds only {', '.join(BUNDLE_FILES)}")
                total += member.size
                if total > limit:
                    raise PayloadTooLarge(f"bundle unpacks to more than {limit} bytes")
                source = tar.extractfile(member)
                assert source is not None
                (into / member.name).write_bytes(source.read())
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InvalidInput(f"the body is not a bundle tar.gz ({exc}); nothing was "
                           "imported") from exc
