"""GraphMem as an MCP server (the official `mcp` SDK, 2.x `MCPServer`): the tools add,
search, get, history, update, delete and chat, with typed schemas from their signatures and
pydantic results.

Two transports, one tool set, one rule for who acts: the principal of an API key, checked on
every tool call (so a revoked key stops working at once, also in a long-lived session):
- stdio (`graphmem mcp`, for desktop agent clients): the key comes from GRAPHMEM_API_KEY;
- streamable HTTP at /mcp inside the REST app: the request's own `Authorization: Bearer`
  key, refused with the REST API's 401 JSON before the SDK sees the request. Stateless mode
  (no server-side MCP session), so any worker of `--workers N` can answer any request.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from graphmem.chat import ChatAnswer
from graphmem.errors import GraphMemError, InvalidInput
from graphmem.models import AddResult, CubeKind, MemCube, Message, SearchHit
from graphmem.serve.errors import STATUS, Unauthorized
from graphmem.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from graphmem.serve.deps import Runtime
    from graphmem.store.protocol import ApiKeyRow

INSTRUCTIONS = ("Long-term memory of the user and agent this key acts as: `search` before "
                "answering from what was said earlier, `add` new turns, `get`/`history` for a "
                "memory's versions and provenance.")


class SearchResult(BaseModel):
    hits: list[SearchHit]


class Versions(BaseModel):
    versions: list[MemCube]


def _key_from(headers: Any) -> str | None:
    if headers is None:
        return None
    auth = headers.get("authorization") or ""
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return headers.get("x-api-key") or None


def build(runtime: Callable[[], Runtime], stdio_key: str | None = None) -> MCPServer[Any]:
    """The MCP server over the process's Runtime; `stdio_key` is the key a stdio server acts
    with (None for HTTP, where each request brings its own)."""
    server: MCPServer[Any] = MCPServer("graphmem", instructions=INSTRUCTIONS, version="0.1.0")

    def acting(ctx: Context[Any, Any]) -> tuple[Runtime, str]:
        rt = runtime()
        headers = None
        with contextlib.suppress(ValueError, AttributeError):
            headers = ctx.headers
        key = _key_from(headers) if headers is not None else stdio_key
        row: ApiKeyRow | None = rt.keys.authenticate(key) if key else None
        if row is None:
            raise ToolError("unauthorized: unknown or revoked API key")
        return rt, row.principal

    def call(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except GraphMemError as exc:
            reason = next((r for cls, _, r in STATUS if isinstance(exc, cls)), "error")
            raise ToolError(f"{reason}: {exc}") from exc

    @server.tool()
    def add(ctx: Context[Any, Any],
            messages: Annotated[str | list[Message], Field(
                description="one user turn, or {role, content} turns")],
            session_id: str | None = None, user_id: Annotated[str | None, Field(
                description="whose memory (needs that user's write grant)")] = None,
            scope: str | None = None, infer: bool = True) -> AddResult:
        """Store dialogue turns; facts and preferences are extracted from the user turns."""
        rt, actor = acting(ctx)
        payload: Any = messages if isinstance(messages, str) else [
            m.model_dump() for m in messages]
        return call(lambda: rt.memory.add(payload, actor=actor, session_id=session_id,  # type: ignore[no-any-return]
                                          user_id=user_id, scope=scope, infer=infer))

    @server.tool()
    def search(ctx: Context[Any, Any], query: str,
               limit: Annotated[int, Field(ge=1, le=100)] = 5,
               kinds: list[CubeKind] | None = None, owner: str | None = None,
               session_id: str | None = None) -> SearchResult:
        """Memories this key may read, best first, with each retriever's score."""
        rt, actor = acting(ctx)
        return SearchResult(hits=call(lambda: rt.memory.search(
            query, actor=actor, limit=limit, kinds=kinds, owner=owner, session_id=session_id)))

    @server.tool()
    def get(ctx: Context[Any, Any], cube_id: str, version: int | None = None) -> MemCube:
        """One memory (MemOS meta + payload) with its provenance."""
        rt, actor = acting(ctx)
        return call(lambda: rt.memory.get(cube_id, actor=actor, version=version))  # type: ignore[no-any-return]

    @server.tool()
    def history(ctx: Context[Any, Any], cube_id: str) -> Versions:
        """Every version of a memory, oldest first."""
        rt, actor = acting(ctx)
        return Versions(versions=call(lambda: rt.memory.history(cube_id, actor=actor)))

    @server.tool()
    def update(ctx: Context[Any, Any], cube_id: str, text: str, reason: str = "update",
               expected_version: int | None = None) -> MemCube:
        """A new version of a memory (the old one stays in history)."""
        rt, actor = acting(ctx)
        return call(lambda: rt.memory.update(cube_id, text, actor=actor, reason=reason,  # type: ignore[no-any-return]
                                             expected_version=expected_version))

    @server.tool()
    def delete(ctx: Context[Any, Any], cube_id: str) -> MemCube:
        """Archive a memory (out of search, restorable)."""
        rt, actor = acting(ctx)
        return call(lambda: rt.memory.delete(cube_id, actor=actor))  # type: ignore[no-any-return]

    @server.tool()
    def chat(ctx: Context[Any, Any], message: str, session_id: str | None = None,
             remember: bool | None = None) -> ChatAnswer:
        """Answer a question from memory with the configured chat model, naming the memories
        it used."""
        rt, actor = acting(ctx)
        if not message.strip():
            raise ToolError(f"invalid_input: {InvalidInput('message is empty')}")
        return call(lambda: rt.memory.chat(message, actor=actor, session_id=session_id,  # type: ignore[no-any-return]
                                           remember=remember))

    return server


class _Gate:
    """ASGI in front of the SDK's streamable HTTP handler: no valid key, no MCP (the REST
    API's 401 body). The tools check the key again: that check names the principal."""

    def __init__(self, app: FastAPI, handler: Callable[..., Awaitable[None]]) -> None:
        self._app = app
        self._handler = handler

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        import anyio
        from starlette.datastructures import Headers

        from graphmem.serve.errors import for_exception

        rt = getattr(self._app.state, "runtime", None)
        key = _key_from(Headers(scope=scope))
        row = None
        if rt is not None and key:
            try:
                row = await anyio.to_thread.run_sync(rt.keys.authenticate, key)
            except GraphMemError as exc:
                await for_exception(exc)(scope, receive, send)
                return
        if row is None:
            await for_exception(Unauthorized("MCP needs 'Authorization: Bearer <key>'"))(
                scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = row.principal
        await self._handler(scope, receive, send)


def mount(app: FastAPI, settings: Settings) -> None:
    """Streamable HTTP at /mcp, behind the API keys; the SDK's session manager runs inside
    the app's lifespan (app.state.mcp_lifespan)."""
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.routing import Route

    server = build(lambda: app.state.runtime)
    local = settings.serve.host in ("127.0.0.1", "localhost", "::1")
    server.streamable_http_app(
        streamable_http_path="/mcp", stateless_http=True, json_response=True,
        host=settings.serve.host, max_request_body_size=settings.serve.max_body_bytes,
        transport_security=None if local else TransportSecuritySettings(
            enable_dns_rebinding_protection=False))
    manager = server.session_manager

    @contextlib.asynccontextmanager
    async def lifespan(_: Runtime) -> AsyncIterator[None]:
        async with manager.run():
            yield

    app.state.mcp_lifespan = lifespan
    # A Route whose endpoint is an ASGI app (not a request function) hands it the raw
    # scope, receive and send, as the SDK's handler needs.
    app.router.routes.append(Route("/mcp", _Gate(app, manager.handle_request),
                                   methods=["GET", "POST", "DELETE"], include_in_schema=False))


def run_stdio(settings: Settings, key: str) -> None:
    """`graphmem mcp`: one GraphMem in this process, the tools on stdin/stdout."""
    import anyio

    from graphmem.api import GraphMem
    from graphmem.serve.deps import Runtime
    from graphmem.serve.keys import ApiKeys

    memory = GraphMem(settings)
    try:
        rt = Runtime(memory=memory, keys=ApiKeys(memory.store), schema_ready=True)
        if rt.keys.authenticate(key) is None:
            raise Unauthorized("GRAPHMEM_API_KEY is not a live key (graphmem keys create)")
        anyio.run(build(lambda: rt, stdio_key=key).run_stdio_async)
    finally:
        memory.close()
