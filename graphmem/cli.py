"""The `graphmem` command line: thin wrappers over the GraphMem API, one command per verb."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from graphmem.errors import GraphMemError
from graphmem.models import MemCube, SearchHit
from graphmem.settings import Settings

if TYPE_CHECKING:
    from graphmem.chat import ChatAnswer

app = typer.Typer(
    name="graphmem",
    help="GraphMem: graph-native memory for LLM agents on Neo4j. Settings come from "
    "GRAPHMEM_* environment variables (e.g. GRAPHMEM_NEO4J_URI).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
schema_app = typer.Typer(help="Create and inspect the Neo4j schema (constraints, indexes).",
                         no_args_is_help=True)
app.add_typer(schema_app, name="schema")
console = Console()
err = Console(stderr=True)

UserOpt = Annotated[str, typer.Option("--user", "-u", help="User whose memory this is.")]
ActorOpt = Annotated[str | None, typer.Option(
    "--actor", help="Acting principal, e.g. user:alice or agent:planner (default: the user).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _register_subapps() -> None:
    from graphmem.neo4j_local.cli import app as neo4j_app

    app.add_typer(neo4j_app, name="neo4j", help="Run a local Neo4j 5.26 (no Docker needed).")
    from graphmem.eval.cli import app as eval_app

    app.add_typer(eval_app, name="eval", help="Memory benchmarks: PrefEval, PersonaMem, LoCoMo.")
    from graphmem.schedulers.cli import app as scheduler_app

    app.add_typer(scheduler_app, name="scheduler", help="Heat, lifecycle and the promotion queue.")
    from graphmem.bundle_cli import app as bundle_app

    app.add_typer(bundle_app, name="bundle", help="Memory bundles: export, inspect, install, "
                  "publish.")
    from graphmem.serve.cli import keys_app, mcp_stdio, serve

    app.add_typer(keys_app, name="keys", help="API keys of the server (graphmem serve).")
    app.command("serve")(serve)
    app.command("mcp")(mcp_stdio)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details.")] = False,
         ) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:  # the driver logs each retry; GraphMem reports the outcome itself
        logging.getLogger("neo4j").setLevel(logging.ERROR)
    try:  # every command reads the settings: one clear line for a bad GRAPHMEM_* value
        Settings.load()
    except GraphMemError as exc:
        raise _fail(exc) from exc


def _memory(settings: Settings | None = None) -> Any:
    from graphmem.api import GraphMem

    return GraphMem(settings or Settings())


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}")
    return typer.Exit(code=2)


def _actor(actor: str | None, user: str) -> str:
    return actor or f"user:{user}"


def _cube_table(cubes: list[MemCube], title: str) -> Table:
    table = Table(title=title, show_lines=False)
    for col in ("id", "kind", "v", "status", "text", "from turns"):
        table.add_column(col, overflow="fold")
    for c in cubes:
        table.add_row(c.id, c.meta.kind.value, str(c.meta.version), c.meta.status.value,
                      c.text, ", ".join(c.meta.provenance.episode_ids[:3]))
    return table


def _hits_table(hits: list[SearchHit], title: str) -> Table:
    table = Table(title=title)
    for col in ("score", "kind", "text", "why"):
        table.add_column(col, overflow="fold")
    for h in hits:
        table.add_row(f"{h.score:.3f}", h.cube.meta.kind.value, h.cube.text, h.explanation)
    return table


@schema_app.command("apply")
def schema_apply() -> None:
    """Create constraints, the vector index (cosine) and full-text indexes; idempotent."""
    from graphmem.store.neo4j_store import Neo4jStore

    settings = Settings()
    store = Neo4jStore(settings)
    try:
        store.ensure_schema(settings.embedding_dim)
        console.print(f"schema version {store.schema_version()} applied to "
                      f"{settings.neo4j_uri} ({settings.neo4j_database})")
    except GraphMemError as exc:
        raise _fail(exc) from exc
    finally:
        store.close()


@schema_app.command("status")
def schema_status() -> None:
    """Show the schema version recorded in the graph and node counts."""
    from graphmem.store.neo4j_store import Neo4jStore

    store = Neo4jStore(Settings())
    try:
        console.print({"schema_version": store.schema_version(), **store.stats()})
    except GraphMemError as exc:
        raise _fail(exc) from exc
    finally:
        store.close()


@app.command()
def add(
    text: Annotated[str | None, typer.Argument(help="A message from the user.")] = None,
    user: UserOpt = "default",
    file: Annotated[Path | None, typer.Option(
        "--file", "-f", help="JSON list of {role, content, timestamp?, id?} messages.")] = None,
    session: Annotated[str | None, typer.Option(help="Session id.")] = None,
    actor: ActorOpt = None,
    no_infer: Annotated[bool, typer.Option(
        "--no-infer", help="Store turns verbatim; run no extractor.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add dialogue to a user's memory: turns become Episodes, extracted facts and
    preferences become MemCubes linked to them."""
    if (text is None) == (file is None):
        raise _fail(ValueError("give either TEXT or --file"))
    messages: Any = text
    if file is not None:
        try:
            messages = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise _fail(exc) from exc
    try:
        with _memory() as mem:
            result = mem.add(messages, user_id=user, actor=actor, session_id=session,
                             infer=not no_infer)
    except GraphMemError as exc:
        raise _fail(exc) from exc
    if as_json:
        console.print_json(result.model_dump_json())
        return
    console.print(f"extractor: [bold]{result.extractor}[/bold]; episodes written: "
                  f"{result.episodes_written}; duplicates skipped: {result.skipped_duplicates}")
    console.print(_cube_table(result.cubes, f"new cubes for {result.user_id}"))


@app.command()
def ingest(
    path: Annotated[Path, typer.Argument(help="JSON or JSONL conversation file.")],
    user: UserOpt = "default",
    fmt: Annotated[str, typer.Option(
        "--format", help="auto, messages, graphmem, prefeval or locomo.")] = "auto",
    batch_size: Annotated[int, typer.Option(
        min=1, help="Messages per write transaction (at least 1).")] = 200,
    actor: ActorOpt = None,
) -> None:
    """Bulk-ingest conversations (plain message lists, GraphMem sessions, PrefEval or LoCoMo
    files): the whole file is validated first, then one transaction per batch, with a progress
    bar. Re-running adds nothing new."""
    import time

    from tqdm import tqdm

    from graphmem.formats import load_sessions

    if fmt not in ("auto", "messages", "graphmem", "prefeval", "locomo"):
        raise _fail(ValueError(f"unknown --format {fmt!r}"))
    try:
        sessions = load_sessions(path, fmt)  # type: ignore[arg-type]
    except GraphMemError as exc:
        raise _fail(exc) from exc
    batches = [(s, i, s.messages[i:i + batch_size]) for s in sessions
               for i in range(0, len(s.messages), batch_size)]
    total = sum(len(part) for _, _, part in batches)
    stats = {"batches": 0, "messages": 0, "episodes": 0, "cubes": 0, "superseded": 0,
             "duplicates": 0}
    extractor = "?"
    started = time.perf_counter()
    try:
        mem = _memory()
    except GraphMemError as exc:
        raise _fail(exc) from exc
    with mem:
        try:
            for session, i, part in batches:  # noqa: B007 - named in the error below
                mem.validate_messages(part, first_index=i)
        except GraphMemError as exc:
            raise _fail(GraphMemError(f"session {session.session_id}: {exc}; the file was "
                                      "validated first, so nothing was written")) from exc
        try:
            # Consecutive parts of about batch_size messages go to add_many together (one
            # spaCy pass, one embedding batch, one transaction across sessions).
            groups: list[list[tuple[Any, int, list[Any]]]] = [[]]
            for entry in batches:
                if groups[-1] and sum(len(p) for _, _, p in groups[-1]) + len(
                        entry[2]) > batch_size:
                    groups.append([])
                groups[-1].append(entry)
            with tqdm(total=total, unit="msg", desc="ingesting") as bar:
                for group in groups:
                    results = mem.add_many(
                        [{"messages": part, "user_id": session.user_id or user,
                          "session_id": session.session_id} for session, _, part in group],
                        actor=actor, batch_messages=batch_size)
                    for (_, _, part), result in zip(group, results, strict=True):
                        extractor = result.extractor
                        stats["batches"] += 1
                        stats["messages"] += len(part)
                        stats["episodes"] += result.episodes_written
                        stats["cubes"] += len(result.cubes)
                        stats["superseded"] += len(result.superseded)
                        stats["duplicates"] += result.skipped_duplicates
                    bar.update(sum(len(p) for _, _, p in group))
            merged = sum(mem.merge_duplicates(actor=_actor(actor, u))
                         for u in {s.user_id or user for s in sessions})
        except GraphMemError as exc:
            raise _fail(GraphMemError(
                f"{exc}. Written before the failure (committed, kept): {stats['batches']} of "
                f"{len(batches)} batches, {stats['messages']} messages, {stats['episodes']} "
                f"episodes, {stats['cubes']} cubes; re-running adds only what is missing"
            )) from exc
    elapsed = time.perf_counter() - started
    console.print(f"{len(sessions)} sessions, {total} messages in {elapsed:.1f}s "
                  f"({total / max(elapsed, 1e-9):.1f} msg/s), extractor {extractor}: "
                  f"{stats['episodes']} new episodes, {stats['cubes']} new cubes, "
                  f"{stats['superseded']} superseded, {stats['duplicates']} duplicates skipped, "
                  f"{merged} near-duplicates merged")


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    user: UserOpt = "default",
    limit: Annotated[int, typer.Option("--limit", "-k", min=1, max=1000,
                                       help="How many results (1-1000).")] = 5,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search the memories the actor may read."""
    try:
        with _memory() as mem:
            hits = mem.search(query, user_id=user, actor=actor, limit=limit)
    except GraphMemError as exc:
        raise _fail(exc) from exc
    if as_json:
        console.print_json(json.dumps([h.model_dump(mode="json") for h in hits]))
    else:
        console.print(_hits_table(hits, f"results for {query!r}"))


@app.command()
def get(
    cube_id: Annotated[str, typer.Argument(help="Cube id.")],
    user: UserOpt = "default",
    version: Annotated[int | None, typer.Option(help="A specific version.")] = None,
    actor: ActorOpt = None,
) -> None:
    """Print one cube as MemOS JSON ({"meta": ..., "payload": ...})."""
    try:
        with _memory() as mem:
            cube = mem.get(cube_id, actor=_actor(actor, user), version=version)
    except GraphMemError as exc:
        raise _fail(exc) from exc
    console.print_json(json.dumps(cube.to_memos_json()))


@app.command()
def history(
    cube_id: Annotated[str, typer.Argument(help="Cube id.")],
    user: UserOpt = "default",
    actor: ActorOpt = None,
) -> None:
    """Every version of a cube, oldest first, with provenance."""
    try:
        with _memory() as mem:
            versions = mem.history(cube_id, actor=_actor(actor, user))
    except GraphMemError as exc:
        raise _fail(exc) from exc
    console.print(_cube_table(versions, f"history of {cube_id}"))


@app.command()
def delete(
    cube_id: Annotated[str | None, typer.Argument(help="Cube id (not with --purge-user).")] = None,
    user: UserOpt = "default",
    actor: ActorOpt = None,
    purge_user: Annotated[bool, typer.Option(
        "--purge-user", help="Instead: erase EVERYTHING of --user (irreversible).")] = False,
) -> None:
    """Soft-delete (archive) a cube, or with --purge-user erase all of a user's memory."""
    try:
        with _memory() as mem:
            if purge_user:
                counts = mem.purge(user_id=user, actor=_actor(actor, user))
                console.print(f"purged user {user}: {counts}")
            elif cube_id is None:
                raise _fail(ValueError("give a CUBE_ID, or --purge-user"))
            else:
                cube = mem.delete(cube_id, actor=_actor(actor, user))
                console.print(f"{cube.id} is now {cube.meta.status.value} (restorable)")
    except GraphMemError as exc:
        raise _fail(exc) from exc


@app.command("export")
def export_(
    path: Annotated[Path, typer.Argument(help="Directory to write the bundle to.")],
    user: UserOpt = "default",
    actor: ActorOpt = None,
) -> None:
    """Export a user's cubes (all versions) and episodes as a bundle with a manifest."""
    try:
        with _memory() as mem:
            manifest = mem.export(user, path, actor=_actor(actor, user))
    except GraphMemError as exc:
        raise _fail(exc) from exc
    console.print(f"wrote {manifest.counts} to {path}")


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="Bundle directory.")],
    user: UserOpt = "default",
    actor: ActorOpt = None,
    remap_ids: Annotated[bool, typer.Option(
        help="Give imported cubes new ids (to copy memory into the same database).")] = False,
) -> None:
    """Import a bundle into a user's private memory (verifies the manifest hashes first)."""
    try:
        with _memory() as mem:
            created = mem.import_bundle(path, user_id=user, actor=actor, remap_ids=remap_ids)
    except GraphMemError as exc:
        raise _fail(exc) from exc
    console.print(f"imported {created} cube versions into user {user}")


@app.command()
def chat(
    message: Annotated[str | None, typer.Option(
        "--message", "-m", help="Ask one question and exit (otherwise: an interactive chat).")
    ] = None,
    user: UserOpt = "default",
    session: Annotated[str | None, typer.Option(help="Session id (working memory).")] = None,
    actor: ActorOpt = None,
    no_remember: Annotated[bool, typer.Option(
        "--no-remember", help="Do not add the exchange to memory.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Chat with memory: each question retrieves the user's memories, which go into the
    prompt; the model is GRAPHMEM_LLM_BASE_URL/_MODEL, GRAPHMEM_LLM_LOCAL_MODEL, or offline the
    SmolLM2 wheel. Shows the memories each answer used and its timings."""
    history: list[dict[str, str]] = []
    try:
        with _memory() as mem:
            for question in ([message] if message is not None else _questions()):
                history.append({"role": "user", "content": question})
                answer = _stream_answer(mem.chat_stream(
                    history, user_id=user, actor=actor, session_id=session,
                    remember=not no_remember), as_json)
                history.append({"role": "assistant", "content": answer.answer or "..."})
                _print_answer(answer, as_json)
    except GraphMemError as exc:
        raise _fail(exc) from exc


def _questions() -> Any:
    """Lines typed at the prompt until EOF, an empty line or 'exit'."""
    while True:
        try:
            line = console.input("[bold]you>[/bold] ").strip()
        except EOFError:
            return
        if not line or line in ("exit", "quit"):
            return
        yield line


def _stream_answer(pieces: Iterator[str | ChatAnswer], as_json: bool) -> ChatAnswer:
    """The answer, its text printed as it is generated (with --json only the final object
    is printed, so the output stays one JSON document)."""
    from graphmem.chat import ChatAnswer

    if not as_json:
        console.print("[bold]assistant>[/bold] ", end="")
    for item in pieces:
        if isinstance(item, ChatAnswer):
            if not as_json:
                console.print()
            return item
        if not as_json:  # model text, not markup
            console.print(item, end="", markup=False, highlight=False, soft_wrap=True)
            console.file.flush()
    raise GraphMemError("chat ended without an answer")


def _print_answer(answer: ChatAnswer, as_json: bool) -> None:
    if as_json:
        console.print_json(answer.model_dump_json())
        return
    for m in answer.memories:
        console.print(f"  [dim]memory {m.id} v{m.version} ({m.kind}): {m.text}[/dim]")
    t = answer.timings
    ttft = f", first token {t.ttft_ms:.0f} ms" if t.ttft_ms is not None else ""
    speed = f", {t.tokens_per_s:.1f} tok/s" if t.tokens_per_s else ""
    console.print(f"  [dim]{answer.model}: retrieval {t.retrieval_ms:.0f} ms, generation "
                  f"{t.generation_ms:.0f} ms{ttft}{speed}[/dim]")


@app.command()
def distill(
    user: UserOpt = "default",
    actor: ActorOpt = None,
    cube: Annotated[list[str] | None, typer.Option(
        "--cube", help="A cube to distil (repeatable). Default: the user's queued LoRA "
        "requests, else its current facts and preferences.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Parametric memory by hand: distil memories into the user's LoRA adapter of the local
    chat model (GRAPHMEM_LLM_LOCAL_MODEL, or the SmolLM2 wheel), stored as a Parametric MemCube
    and applied to the user's chats from then on."""
    acting = _actor(actor, user)
    try:
        with _memory() as mem:
            parametric = mem.parametric
            if parametric is None:
                raise GraphMemError("parametric memory needs a local chat model: set "
                                    "GRAPHMEM_LLM_LOCAL_MODEL or install the SmolLM2 wheel")
            if cube:
                made = [parametric.distil(acting, cube)]
            else:
                made = parametric.distil_queued(acting)
                if not made:
                    ids = [c.id for c in mem.list(actor=acting, kinds=["fact", "preference"])]
                    if not ids:
                        raise GraphMemError(f"{acting} has no facts or preferences to distil")
                    made = [parametric.distil(acting, ids)]
            listed = parametric.list(acting)
    except GraphMemError as exc:
        raise _fail(exc) from exc
    rows = [a for a in listed if a["id"] in made]
    if as_json:
        console.print_json(json.dumps(rows, default=str))
        return
    for a in rows:
        console.print(f"adapter {a['id']}: {a['cubes']} cubes, {(a['bytes'] or 0) / 1e6:.1f} MB, "
                      f"{a['state']}")


@app.command()
def demo(
    user: Annotated[str | None, typer.Option(help="Override the demo user id.")] = None,
    keep: Annotated[bool, typer.Option(help="Keep the demo user's previous memory.")] = False,
) -> None:
    """The main job: start Neo4j if needed, ingest a bundled multi-session conversation,
    show what was stored, answer questions from memory with provenance."""
    from graphmem.demo import run_demo

    try:
        run_demo(Settings(), console, user=user, fresh=not keep)
    except GraphMemError as exc:
        raise _fail(exc) from exc


def run() -> None:
    try:
        app()
    except GraphMemError as exc:  # pragma: no cover - safety net for subcommands
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(2)


_register_subapps()
