"""`graphmem neo4j up|down|status`: the local Neo4j server from the command line.

A Typer sub-app; the main CLI mounts it with ``app.add_typer(neo4j_cli.app, name="neo4j")``. It
uses a ``Settings`` found in ``ctx.obj`` (so the parent CLI decides how settings are built) and
falls back to ``Settings()`` from GRAPHMEM_* env vars when run on its own.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from graphmem.neo4j_local import server
from graphmem.settings import Settings

app = typer.Typer(
    help="Run a local Neo4j 5.26 Community server (no Docker needed: Maven + Java 17).",
    no_args_is_help=True,
)

EXIT_NOT_RUNNING = 3  # LSB convention for `status` of a stopped service, handy in scripts


def _settings(ctx: typer.Context) -> Settings:
    # click hands a parent's ctx.obj down to sub-commands, so the root CLI's Settings arrive here
    return ctx.obj if isinstance(ctx.obj, Settings) else Settings()


def _ensure_logging() -> None:
    """Show GraphMem's progress (the first `up` downloads ~200 jars) unless the parent CLI
    already configured logging; third-party loggers stay at WARNING."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = RichHandler(console=Console(stderr=True), show_path=False, show_time=False)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", handlers=[handler])
    logging.getLogger("graphmem").setLevel(logging.INFO)


def _fail(exc: server.Neo4jLocalError) -> typer.Exit:
    Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
    return typer.Exit(code=1)


@app.callback()
def _main() -> None:
    _ensure_logging()


@app.command()
def up(
    ctx: typer.Context,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for Bolt to accept the configured login.")
    ] = server.DEFAULT_START_TIMEOUT_S,
) -> None:
    """Start the local Neo4j and wait until it accepts the configured login.

    The first run downloads Neo4j and Neo4j Browser from Maven Central with `mvn` into the
    cache dir (GRAPHMEM_CACHE_DIR) and sets the password of user `neo4j` to
    GRAPHMEM_NEO4J_PASSWORD. Data, logs and conf live under GRAPHMEM_DATA_DIR/neo4j and survive
    restarts. Ports come from GRAPHMEM_NEO4J_BOLT_PORT / GRAPHMEM_NEO4J_HTTP_PORT; the server
    listens on 127.0.0.1 only. Running it again while the server is up is harmless.
    """
    settings = _settings(ctx)
    try:
        info = server.up(settings, timeout_s=timeout)
    except server.Neo4jLocalError as exc:
        raise _fail(exc) from exc
    console = Console()
    verb = "already running" if info.already_running else "started"
    console.print(f"[bold green]Neo4j {info.version} {verb}[/] (pid {info.pid})")
    console.print(f"  Bolt     {info.bolt_uri}  (user {settings.neo4j_user})")
    console.print(f"  Browser  {info.browser_url}")
    console.print(f"  Data     {info.data_dir}")
    console.print(f"  Log      {info.log_path}")


@app.command()
def down(
    ctx: typer.Context,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for a clean shutdown before SIGKILL.")
    ] = server.DEFAULT_STOP_TIMEOUT_S,
) -> None:
    """Stop the local Neo4j cleanly (SIGTERM, then SIGKILL only after --timeout).

    The data stays in GRAPHMEM_DATA_DIR/neo4j for the next `up`. Only the server this data dir
    started is touched; running it when nothing runs is harmless.
    """
    try:
        stopped = server.down(_settings(ctx), timeout_s=timeout)
    except server.Neo4jLocalError as exc:
        raise _fail(exc) from exc
    Console().print("[bold]Neo4j stopped[/]" if stopped else "Neo4j was not running")


@app.command()
def status(ctx: typer.Context) -> None:
    """Show whether the local Neo4j runs, its pid, ports and whether Bolt answers.

    Exit code 0 when this data dir's server is running, 3 when it is not (LSB convention).
    "Bolt answers" also reports a Neo4j on the Bolt port that this data dir did not start.
    """
    st = server.status(_settings(ctx))
    table = Table(show_header=False, box=None)
    table.add_row("running", "[green]yes[/]" if st.running else "[red]no[/]")
    table.add_row("pid", str(st.pid) if st.pid is not None else "-")
    table.add_row("version", st.version)
    table.add_row("bolt", f"{st.bolt_uri} ({'answers' if st.bolt_reachable else 'no answer'})")
    table.add_row("browser", st.browser_url)
    table.add_row("data dir", str(st.data_dir))
    table.add_row("log", str(st.log_path))
    Console().print(table)
    if not st.running:
        raise typer.Exit(code=EXIT_NOT_RUNNING)
