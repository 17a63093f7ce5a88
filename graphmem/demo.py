"""`graphmem demo`: the end-to-end story in one command.

Starts the local Neo4j when the configured one is local and not running, ingests the bundled
three-session conversation, shows the memory it built and answers questions from it, each
answer traced back to the dialogue turn it came from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from graphmem.api import GraphMem
from graphmem.errors import StoreUnavailable
from graphmem.settings import Settings

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def load_demo_conversation() -> dict[str, Any]:
    text = (Path(__file__).parent / "data" / "demo_conversation.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def connect(settings: Settings, console: Console) -> GraphMem:
    """Connect, starting the project's own Neo4j first when the URI points at this machine."""
    parsed = urlparse(settings.neo4j_uri)
    if parsed.hostname in LOCAL_HOSTS:
        from graphmem.neo4j_local.server import bolt_answers

        if not bolt_answers(parsed.port or 7687):
            return _start_local(settings, console)
    try:
        return GraphMem(settings)
    except StoreUnavailable:
        if parsed.hostname not in LOCAL_HOSTS:
            raise
    return _start_local(settings, console)


def _start_local(settings: Settings, console: Console) -> GraphMem:
    from graphmem.neo4j_local.server import up

    console.print("Neo4j is not running here; starting the local server "
                  "(first run downloads it from Maven Central)...")
    info = up(settings)
    console.print(f"Neo4j {info.version} is up: {info.bolt_uri} (pid {info.pid})")
    return GraphMem(settings)


def run_demo(settings: Settings, console: Console, *, user: str | None = None,
             fresh: bool = True) -> None:
    convo = load_demo_conversation()
    user_id = user or convo["user_id"]
    actor = f"user:{user_id}"
    with connect(settings, console) as mem:
        if fresh:
            mem.purge(user_id=user_id, actor=actor)
        total = sum(len(s["messages"]) for s in convo["sessions"])
        extractor = "?"
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("ingesting conversation", total=total)
            for session in convo["sessions"]:
                result = mem.add(session["messages"], user_id=user_id,
                                 session_id=session["session_id"])
                extractor = result.extractor
                progress.advance(task, len(session["messages"]))
        console.rule(f"[bold]What GraphMem stored for {user_id}[/bold] (extractor: {extractor})")
        cubes = [c for c in mem.list(actor=actor, user_id=user_id, limit=500)
                 if c.meta.kind.value != "episode"]
        table = Table(show_lines=False)
        for col in ("kind", "memory", "polarity", "entities", "session"):
            table.add_column(col, overflow="fold")
        for c in sorted(cubes, key=lambda c: (c.meta.session_id or "", c.meta.created)):
            attrs = c.payload.attributes
            table.add_row(c.meta.kind.value, c.text, str(attrs.get("polarity", "")),
                          ", ".join(attrs.get("entities", [])), c.meta.session_id or "")
        console.print(table)
        episodes = len({e for c in mem.list(actor=actor, user_id=user_id, limit=500)
                        for e in c.meta.provenance.episode_ids})
        console.print(f"{len(cubes)} facts and preferences, derived from {episodes} turns "
                      f"across {len(convo['sessions'])} sessions.")
        console.rule("[bold]Answering from memory[/bold]")
        for question in convo["questions"]:
            hits = mem.search(question, user_id=user_id, limit=3)
            console.print(f"\n[bold cyan]Q:[/bold cyan] {question}")
            if not hits:
                console.print("   (nothing relevant in memory)")
            turn_text = _turns(mem, hits, actor)
            for rank, hit in enumerate(hits, 1):
                meta = hit.cube.meta
                console.print(f"  {rank}. [green]{hit.cube.text}[/green]  "
                              f"[dim]({meta.kind.value}, {hit.explanation})[/dim]")
                for eid in meta.provenance.episode_ids[:1]:
                    turn = turn_text.get(eid)
                    if turn:
                        console.print(f"     [dim]from {meta.session_id} turn "
                                      f"{turn.get('msg_id')} at {turn.get('ts')}: "
                                      f"\"{turn.get('content')}\" "
                                      f"(extractor {meta.provenance.extractor})[/dim]")
        console.rule("[bold]Explore it in Neo4j Browser[/bold]")
        console.print(f"Open {settings.browser_url} and log in as {settings.neo4j_user} "
                      "(password from GRAPHMEM_NEO4J_PASSWORD; default graphmem-local), then run:")
        console.print(f"  :param user => '{user_id}'", markup=False)
        console.print("  MATCH (c:MemCube {owner: $user}) WHERE c.current\n"
                      "  OPTIONAL MATCH (c)-[d:DERIVED_FROM]->(e:Episode)\n"
                      "  OPTIONAL MATCH (c)-[a:ABOUT]->(n:Entity)\n"
                      "  RETURN c, d, e, a, n LIMIT 300", markup=False, highlight=False)
        console.print("[dim](the same query is in cypher/explore/user_subgraph.cypher)[/dim]")


def _turns(mem: GraphMem, hits: list[Any], actor: str) -> dict[str, dict[str, Any]]:
    ids = [e for h in hits for e in h.cube.meta.provenance.episode_ids[:1]]
    return mem.store.episode_message_ids(actor, ids) if ids else {}
