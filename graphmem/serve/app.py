"""The FastAPI application: one GraphMem per process, made in the lifespan and closed with it
(its audit queue and buffered scheduler hits are written on the way out).

`create_app()` with no argument reads the settings from the environment: that is the factory
`graphmem serve` hands uvicorn, so each of `--workers N` processes builds its own.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from graphmem.api import GraphMem
from graphmem.errors import StoreUnavailable
from graphmem.serve import errors
from graphmem.serve.context import RequestContext
from graphmem.serve.deps import Runtime
from graphmem.serve.keys import ApiKeys
from graphmem.serve.schemas import ErrorResponse
from graphmem.settings import Settings

log = logging.getLogger(__name__)
MemoryFactory = Callable[[Settings], GraphMem]
# Bundle uploads (tar.gz bodies) get GRAPHMEM_SERVE__MAX_IMPORT_BYTES, everything else
# GRAPHMEM_SERVE__MAX_BODY_BYTES.
BUNDLE_UPLOADS = ("/import", "/v1/bundles/install", "/v1/bundles/publish")


def _default_memory(settings: Settings) -> GraphMem:
    return GraphMem(settings, apply_schema=False)


def create_app(settings: Settings | None = None, *,
               memory_factory: MemoryFactory | None = None) -> FastAPI:
    settings = settings or Settings.load()
    make_memory = memory_factory or _default_memory

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        memory = make_memory(settings)
        rt = Runtime(memory=memory, keys=ApiKeys(memory.store))
        try:
            rt.ensure_schema()
        except StoreUnavailable as exc:  # start anyway: /readyz says 503 until Neo4j is back
            log.warning("Neo4j is not reachable at start (%s); serving 503 until it is", exc)
        app.state.runtime = rt
        mcp_lifespan = getattr(app.state, "mcp_lifespan", None)
        try:
            if mcp_lifespan is not None:
                async with mcp_lifespan(rt):
                    yield
            else:
                yield
        finally:
            app.state.runtime = None
            memory.close()

    app = FastAPI(
        title="GraphMem", version="0.1.0", lifespan=lifespan,
        description="Graph-native memory for LLM agents on Neo4j. Every request acts as the "
        "principal of its API key (`Authorization: Bearer <key>`); errors are "
        '`{"error": {"reason", "message", "request_id"}}`.',
        responses={code: {"model": ErrorResponse} for code in (400, 401, 403, 404,
                                                                       409, 413, 422, 503)},
    )
    errors.install(app)
    from graphmem.serve import routes_keys, routes_memory, routes_ops, routes_sharing

    for module in (routes_ops, routes_memory, routes_sharing, routes_keys):
        app.include_router(module.router)
    if settings.serve.console_enabled:
        from graphmem.serve import console

        app.include_router(console.router)
    if settings.serve.mcp_enabled:
        from graphmem.serve import mcp_server

        mcp_server.mount(app, settings)
    if settings.serve.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.serve.cors_origins,
                           allow_methods=["*"], allow_headers=["*"],
                           expose_headers=[settings.serve.request_id_header])
    serve = settings.serve

    def limit_for(path: str) -> int:
        return serve.max_import_bytes if path.endswith(BUNDLE_UPLOADS) \
            else serve.max_body_bytes

    app.add_middleware(RequestContext, header=serve.request_id_header, limit_for=limit_for)
    return app
