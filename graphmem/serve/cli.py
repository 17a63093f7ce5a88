"""`graphmem serve` and `graphmem keys create|list|revoke`. Keys made here are made by
whoever holds the database credentials (audit actor `system:cli`): the way to get the first
admin key."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from graphmem.errors import GraphMemError
from graphmem.settings import Settings

if TYPE_CHECKING:
    from graphmem.serve.keys import ApiKeys
    from graphmem.store.neo4j_store import Neo4jStore

keys_app = typer.Typer(help="API keys of the server: each acts as one user or agent.",
                       no_args_is_help=True)
console = Console()
err = Console(stderr=True)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}")
    return typer.Exit(code=2)


def log_config(level: str) -> dict[str, object]:
    """uvicorn's logging, with the request id in every line (its own access log is off:
    graphmem.serve.access writes one line per request, with the id and the principal)."""
    return {
        "version": 1, "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "graphmem.serve.context.RequestIdFilter"}},
        "formatters": {"default": {"format": LOG_FORMAT}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "default",
                                 "filters": ["request_id"], "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["default"], "level": level.upper()},
        "loggers": {"uvicorn": {"level": level.upper()}, "neo4j": {"level": "ERROR"},
                    "uvicorn.access": {"level": "WARNING"}},
    }


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (GRAPHMEM_SERVE__HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (GRAPHMEM_SERVE__PORT).")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, max=64, help="Worker processes, each with its own GraphMem "
        "(GRAPHMEM_SERVE__WORKERS); see the README's Serving section for what that means.")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning.")] = "info",
) -> None:
    """Serve the Memory API over HTTP (OpenAPI at /docs and /openapi.json), MCP at /mcp and
    the web console at /console, behind API keys."""
    import uvicorn

    settings = Settings.load()
    s = settings.serve
    uvicorn.run("graphmem.serve.app:create_app", factory=True, host=host or s.host,
                port=s.port if port is None else port, workers=workers or s.workers,
                log_config=log_config(log_level), access_log=False, proxy_headers=False)


def _keys() -> tuple[Neo4jStore, ApiKeys]:
    from graphmem.serve.keys import ApiKeys
    from graphmem.store.neo4j_store import Neo4jStore

    settings = Settings.load()
    store = Neo4jStore(settings)
    store.ensure_schema(settings.embedding_dim)
    return store, ApiKeys(store)


@keys_app.command("create")
def keys_create(
    principal: Annotated[str, typer.Option(help="user:<id> or agent:<id>.")],
    admin: Annotated[bool, typer.Option(help="May create and revoke others' keys.")] = False,
    label: Annotated[str | None, typer.Option(help="A note on what the key is for.")] = None,
) -> None:
    """Create a key and print it once (only its sha256 is stored)."""
    from graphmem.serve.keys import CLI_ACTOR

    try:
        store, keys = _keys()
        try:
            made = keys.create(principal, actor=CLI_ACTOR, admin=admin, label=label)
        finally:
            store.close()
    except GraphMemError as exc:
        raise _fail(exc) from exc
    err.print(f"key {made.row.id} for {made.row.principal}{' (admin)' if admin else ''}; "
              "shown once, store it now:")
    print(made.key)


@keys_app.command("list")
def keys_list(
    principal: Annotated[str | None, typer.Option(help="Only this principal's keys.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Keys (id, principal, admin, created, revoked); never a key or its hash."""
    try:
        store, keys = _keys()
        try:
            rows = keys.list(principal)
        finally:
            store.close()
    except GraphMemError as exc:
        raise _fail(exc) from exc
    if as_json:
        print(json.dumps([vars(r) for r in rows], default=str))
        return
    for r in rows:
        state = f"revoked {r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "live"
        console.print(f"{r.id}  {r.principal:<24} {'admin' if r.admin else '     '}  "
                      f"{r.created_at:%Y-%m-%d %H:%M}  {state}  {r.label or ''}")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (key_...).")]) -> None:
    """Revoke a key: refused from its next request on, by every server process."""
    from graphmem.serve.keys import CLI_ACTOR

    try:
        store, keys = _keys()
        try:
            row = keys.revoke(key_id, actor=CLI_ACTOR, admin=True)
        finally:
            store.close()
    except GraphMemError as exc:
        raise _fail(exc) from exc
    console.print(f"revoked {row.id} ({row.principal})")


def mcp_stdio(
    key: Annotated[str | None, typer.Option(
        envvar="GRAPHMEM_API_KEY", help="Act as this key's principal (env GRAPHMEM_API_KEY).")
    ] = None,
) -> None:
    """An MCP server on stdin/stdout (for desktop agent clients), acting as the principal of
    the given API key."""
    from graphmem.serve.mcp_server import run_stdio

    logging.basicConfig(level=logging.WARNING)
    if not key:
        raise _fail(GraphMemError("give --key or set GRAPHMEM_API_KEY (graphmem keys create)"))
    try:
        run_stdio(Settings.load(), key)
    except GraphMemError as exc:
        raise _fail(exc) from exc
