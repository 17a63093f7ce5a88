"""``graphmem scheduler``: inspect the MemScheduler and run its policies by hand.

The lead mounts :data:`app` on the main CLI (``app.add_typer(scheduler_app, name="scheduler")``).
Only the store is opened (no embedding model), so these commands start fast. Working-memory hit
rates live in the process that serves retrieval; a CLI process has seen no sessions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from graphmem.errors import GraphMemError
from graphmem.policies import SchedulerPolicy
from graphmem.schedulers.scheduler import MemScheduler, SchedulerStatus, TickReport

app = typer.Typer(
    help="The MemScheduler: heat, lifecycle (activate, archive, merge) and the KV-cache / "
    "LoRA promotion queue.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)

UserOpt = Annotated[str | None, typer.Option(
    "--user", "-u", help="Limit to the scopes of this user (acts as user:<id>).")]
ActorOpt = Annotated[str | None, typer.Option(
    "--actor", help="Limit to what this principal may access, e.g. agent:planner or "
    "group:team (overrides --user).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
PolicyOpt = Annotated[Path | None, typer.Option(
    "--policy", help="JSON file of SchedulerPolicy fields to override the defaults, e.g. "
    '{"half_life_hours": 12, "ttl_days": {"episode": 30}}. '
    "See `graphmem scheduler policy` for every field.")]


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}")
    return typer.Exit(code=2)


def load_policy(path: Path | None) -> SchedulerPolicy:
    if path is None:
        from graphmem.settings import Settings

        return Settings().scheduler
    try:
        return SchedulerPolicy.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError) as exc:
        raise _fail(exc) from exc


@contextmanager
def _scheduler(policy: SchedulerPolicy) -> Iterator[MemScheduler]:
    from graphmem.settings import Settings
    from graphmem.store.neo4j_store import Neo4jStore

    store = Neo4jStore(Settings())
    scheduler = MemScheduler(store, policy)
    try:
        yield scheduler
    finally:
        try:
            scheduler.close()
        finally:
            store.close()


def _acting(user: str | None, actor: str | None) -> str | None:
    return actor or (f"user:{user}" if user else None)


def status_tables(status: SchedulerStatus) -> list[Table]:
    who = status.actor or "all scopes"
    counts = Table(title=f"cubes by status ({who})")
    counts.add_column("status")
    counts.add_column("cubes", justify="right")
    for name in ("generated", "activated", "merged", "archived", "frozen"):
        counts.add_row(name, str(status.cubes_by_status.get(name, 0)))
    for name, n in sorted(status.cubes_by_status.items()):
        if name not in ("generated", "activated", "merged", "archived", "frozen"):
            counts.add_row(name, str(n))

    queue = Table(title="promotion queue (queued, oldest first)")
    for col in ("request", "target", "cubes", "heat", "queued at", "reason"):
        queue.add_column(col, overflow="fold")
    for r in status.queue:
        queue.add_row(r.id, r.target, ", ".join(r.cube_ids),
                      "" if r.heat is None else f"{r.heat:.2f}",
                      r.created_at.strftime("%Y-%m-%d %H:%M"), r.reason)
    totals = ", ".join(f"{t}: " + " ".join(f"{s}={n}" for s, n in sorted(by.items()))
                       for t, by in sorted(status.requests.items()))
    queue.caption = f"all requests - {totals}" if totals else "no promotion requests yet"

    hot = Table(title="hottest cubes")
    for col in ("cube", "kind", "status", "heat", "hits", "text"):
        hot.add_column(col, overflow="fold")
    for h in status.hottest:
        hot.add_row(h.id, h.kind, h.status, f"{h.heat:.2f}", str(h.hits),
                    h.text if len(h.text) <= 80 else h.text[:77] + "...")

    wm = Table(title="working memory (sessions seen by this process)")
    for col in ("user", "session", "searches", "hit rate", "preloaded"):
        wm.add_column(col)
    for s in status.working_memory:
        wm.add_row(s.user_id, s.session_id, str(s.observations),
                   "-" if s.hit_rate is None else f"{s.hit_rate:.0%}", str(s.preloaded))
    built = Table(title="artifacts (KV caches, LoRA adapters; newest first)")
    for col in ("id", "kind", "state", "cubes", "hits", "MB", "model"):
        built.add_column(col, overflow="fold")
    for a in status.artifacts:
        state = a["state"] + (f" ({a['stale_reason']})" if a.get("stale_reason") else "")
        built.add_row(str(a["id"]), str(a["kind"]), state, str(a["cubes"]), str(a["hits"]),
                      f"{(a.get('bytes') or 0) / 1e6:.1f}", str(a.get("model") or ""))
    if not status.artifacts:
        built.caption = "none built yet"
    return [counts, queue, hot, wm, built]


def tick_table(report: TickReport) -> Table:
    table = Table(title=f"tick at {report.now:%Y-%m-%d %H:%M:%S} "
                        f"({report.actor or 'all scopes'}, {report.seconds:.2f}s)")
    table.add_column("policy")
    table.add_column("changed", justify="right")
    for name, n in report.summary().items():
        table.add_row(name, str(n))
    return table


@app.command()
def status(
    user: UserOpt = None,
    actor: ActorOpt = None,
    hottest: Annotated[int, typer.Option(help="How many of the hottest cubes to list.")] = 10,
    policy: PolicyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show cubes per lifecycle status, the promotion queue and the hottest cubes.

    Without --user/--actor the whole graph is counted. Read-only.
    """
    try:
        with _scheduler(load_policy(policy)) as scheduler:
            snapshot = scheduler.status(actor=_acting(user, actor), hottest=hottest)
    except GraphMemError as exc:
        raise _fail(exc) from exc
    if as_json:
        console.print_json(json.dumps(snapshot.to_dict()))
        return
    for table in status_tables(snapshot):
        console.print(table)


@app.command()
def tick(
    user: UserOpt = None,
    actor: ActorOpt = None,
    all_scopes: Annotated[bool, typer.Option(
        "--all", help="Run over every scope in the graph (an operator's maintenance run).")]
    = False,
    policy: PolicyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the scheduler's policies now: decay heat, archive expired, past-TTL and cold cubes,
    activate hot ones, merge near-duplicates, queue KV-cache / LoRA promotions.

    Changes only scopes the --user/--actor may write; pass --all for the whole graph.

    Each transition is audited (lifecycle:*, promotion:queue). Frozen cubes are never touched.
    """
    acting = _acting(user, actor)
    if (acting is None) == (not all_scopes):
        raise _fail(ValueError("give --user/--actor to limit the run, or --all for every scope"))
    try:
        with _scheduler(load_policy(policy)) as scheduler:
            report = scheduler.tick(actor=acting)
    except GraphMemError as exc:
        raise _fail(exc) from exc
    if as_json:
        console.print_json(json.dumps(report.to_dict()))
    else:
        console.print(tick_table(report))


@app.command("policy")
def show_policy(policy: PolicyOpt = None, as_json: JsonOpt = False) -> None:
    """Print the effective scheduler policy: every threshold, its value and why it exists."""
    effective = load_policy(policy)
    if as_json:
        console.print_json(effective.model_dump_json())
        return
    table = Table(title="scheduler policy")
    for col in ("field", "value", "meaning"):
        table.add_column(col, overflow="fold")
    for name, info in SchedulerPolicy.model_fields.items():
        value = getattr(effective, name)
        shown = sorted(value) if isinstance(value, frozenset) else value
        table.add_row(name, json.dumps(shown, default=str), " ".join(
            (info.description or "").split()))
    console.print(table)
