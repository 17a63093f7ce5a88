"""`graphmem bundle export|inspect|install|publish`: MemStore bundles from the command line
(cubes/memstore.py does the work)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from graphmem.errors import GraphMemError
from graphmem.settings import Settings

app = typer.Typer(help="Memory bundles as installables: export a selection, inspect, install "
                  "(re-embedding when the model differs), publish as a read-only shared scope.",
                  no_args_is_help=True)
console = Console()
err = Console(stderr=True)
ActorOpt = Annotated[str, typer.Option("--actor", help="Acting principal (user:x, agent:y).")]
ConflictOpt = Annotated[str, typer.Option(
    "--on-conflict", help="skip, new-version or fail, for cubes installed before or whose "
    "content the scope already holds.")]


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}")
    return typer.Exit(code=2)


def _memory() -> Any:
    from graphmem.api import GraphMem

    return GraphMem(Settings.load())


def _report(report: Any) -> None:
    console.print_json(json.dumps(asdict(report)))


@app.command("export")
def export(
    path: Annotated[Path, typer.Argument(help="New directory for the bundle.")],
    actor: ActorOpt,
    user: Annotated[str | None, typer.Option(help="Cubes owned by this user.")] = None,
    scope: Annotated[str | None, typer.Option(help="Cubes of this scope.")] = None,
    kind: Annotated[list[str] | None, typer.Option(help="Only these kinds (repeatable).")] = None,
    topic: Annotated[str | None, typer.Option(help="Only cubes about this (text or entity).")
                     ] = None,
    name: Annotated[str | None, typer.Option(help="The bundle's name.")] = None,
    description: Annotated[str, typer.Option(help="What the bundle holds.")] = "",
    licence: Annotated[str | None, typer.Option(help="e.g. CC-BY-4.0.")] = None,
) -> None:
    """Export the cubes the actor may read that match the selection."""
    try:
        with _memory() as mem:
            manifest = mem.export_bundle(path, actor=actor, user_id=user, scope=scope,
                                         kinds=kind, topic=topic, name=name,
                                         description=description, licence=licence)
    except GraphMemError as exc:
        raise _fail(exc) from exc
    console.print(f"wrote {manifest.counts} to {path}")


@app.command("inspect")
def inspect(path: Annotated[Path, typer.Argument(help="Bundle directory.")]) -> None:
    """Check a bundle's hashes and print its manifest (no database needed)."""
    from graphmem.cubes.memstore import MemStore

    try:
        manifest = MemStore.inspect(path)
    except GraphMemError as exc:
        raise _fail(exc) from exc
    console.print_json(manifest.model_dump_json())


@app.command("install")
def install(
    path: Annotated[Path, typer.Argument(help="Bundle directory.")],
    actor: ActorOpt,
    user: Annotated[str | None, typer.Option(help="Into this user's private scope.")] = None,
    scope: Annotated[str | None, typer.Option(help="Into this scope instead.")] = None,
    on_conflict: ConflictOpt = "skip",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report only; write nothing.")
                       ] = False,
) -> None:
    """Install a bundle into a user's private scope (default: the actor's) or a scope."""
    try:
        with _memory() as mem:
            report = mem.install_bundle(path, actor=actor, user_id=user, scope=scope,
                                        on_conflict=on_conflict, dry_run=dry_run)
    except GraphMemError as exc:
        raise _fail(exc) from exc
    _report(report)


@app.command("publish")
def publish(
    path: Annotated[Path, typer.Argument(help="Bundle directory.")],
    name: Annotated[str, typer.Option(help="The shared scope: scope:shared:<name>.")],
    actor: ActorOpt,
    subscriber: Annotated[list[str] | None, typer.Option(
        help="A principal granted read (repeatable).")] = None,
    on_conflict: ConflictOpt = "skip",
) -> None:
    """Install a bundle as a shared scope the actor owns; subscribers may read, not write."""
    try:
        with _memory() as mem:
            report = mem.publish_bundle(path, name, actor=actor, subscribers=subscriber or [],
                                        on_conflict=on_conflict)
    except GraphMemError as exc:
        raise _fail(exc) from exc
    _report(report)
