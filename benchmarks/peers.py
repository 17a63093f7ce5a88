"""GraphMem beside Mem0 and Graphiti: search latency at N memories, ingestion, recall@k.

latency: the same N synthetic memories (benchmarks/synthetic.py: texts, vectors, entities;
the queried user owns a tenth) are loaded into every system (GraphMem through its batch write
path, each peer through its own bulk path with the same vectors), then the same queries run
round-robin across the systems, the starting system rotating, so machine noise hits all
alike. Every search is the system's public call with its query embedding included, the same
all-MiniLM-L6-v2 on ONNX Runtime for all (the peers load GraphMem's own encoder module); the
embedding alone is timed too, interleaved the same way. Ingestion: M fresh messages through
each system's public add path (GraphMem `add_many`, with and without extraction; Mem0
`add(infer=False)`; Graphiti's bulk save, since its add_episode needs an LLM).

recall: LoCoMo dev (both speakers' memories, merged) through graphmem.eval's own runner and
scoring, GraphMem beside the peers and BM25 over the raw turns.

Mem0 keeps its local default store (embedded Qdrant on disk); Graphiti runs on a Neo4j 5.26
of its own (same version and memory settings as GraphMem's, ports 47687/47474), since its
`Entity` label would mix with GraphMem's in one database. Each peer runs in its own
virtualenv (benchmarks/peer_client.py).

    flock /tmp/graphmem-bench.lock python -m benchmarks.peers latency --sizes 10000,100000
    flock /tmp/graphmem-bench.lock python -m benchmarks.peers recall --conversations 0,1,2,3,4
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from benchmarks.common import (
    PERF_HEAP,
    PERF_PAGECACHE,
    bench_settings,
    perf_settings,
    wait_for_idle,
    write_result,
)
from benchmarks.latency import rss_mb
from benchmarks.peer_client import PEERS, PeerSystem, PeerWorker, ensure_venv
from benchmarks.synthetic import PLACES, THINGS, SyntheticBatch, pool_sentences, populate
from graphmem.api import GraphMem
from graphmem.embeddings import SentenceTransformerEmbedder, bundled_model_path
from graphmem.embeddings_onnx import exported_path
from graphmem.neo4j_local.server import status, up
from graphmem.settings import Settings

PEER_BOLT, PEER_HTTP = 47687, 47474


def peer_neo4j(settings: Settings) -> Settings:
    """Graphiti's own server: GraphMem's provisioning, same version and memory sizing."""
    peer = Settings(neo4j_uri=f"bolt://127.0.0.1:{PEER_BOLT}", neo4j_bolt_port=PEER_BOLT,
                    neo4j_http_port=PEER_HTTP, data_dir=settings.cache_dir / "peer-neo4j",
                    neo4j_heap=PERF_HEAP, neo4j_pagecache=PERF_PAGECACHE)
    up(peer)
    return peer


def start_peers(names: list[str], settings: Settings) -> dict[str, PeerWorker]:
    model_dir = bundled_model_path(settings.embedding_model)
    exported_path(model_dir, settings.cache_dir, int8=False)  # the workers only load it
    workers: dict[str, PeerWorker] = {}
    for name in names:
        setup: dict[str, Any] = {
            "data_dir": str(settings.cache_dir / "peers" / f"{name}-data"),
            "graphmem_root": str(Path(__file__).resolve().parent.parent),
            "model_dir": str(model_dir), "cache_dir": str(settings.cache_dir)}
        if name == "graphiti":
            peer = peer_neo4j(settings)
            setup["neo4j"] = {"uri": peer.neo4j_uri, "user": peer.neo4j_user,
                              "password": peer.neo4j_password.get_secret_value()}
        workers[name] = PeerWorker(name, ensure_venv(name, settings.cache_dir), setup)
    return workers


def pct(samples: list[float]) -> dict[str, float]:
    arr = np.asarray(samples)
    return {"n": len(samples), "p50": float(np.percentile(arr, 50)),
            "p95": float(np.percentile(arr, 95)), "p99": float(np.percentile(arr, 99)),
            "mean": float(arr.mean())}


def bulk_items(b: SyntheticBatch, start: int) -> list[dict[str, Any]]:
    return [{"id": f"m{start + i}", "text": t, "embedding": v.tolist(), "entities": e}
            for i, (t, v, e) in enumerate(zip(b.texts, b.vectors, b.entities, strict=True))]


def fill(mem: GraphMem, workers: dict[str, PeerWorker], size: int) -> dict[str, float]:
    """GraphMem and every peer up to `size` memories, the same batches for all."""
    spent = {name: 0.0 for name in workers}
    loaded = [0]

    def to_peers(b: SyntheticBatch) -> None:
        items = bulk_items(b, loaded[0])
        loaded[0] += len(items)
        for name, worker in workers.items():
            for start in range(0, len(items), 1000):
                answer = worker.request("ingest", user=b.user, items=items[start:start + 1000],
                                        via="bulk")
                spent[name] += float(answer["seconds"])

    graphmem_s = populate(mem, size, users=10, queried_share=0.1, also=to_peers)
    return {"graphmem": graphmem_s, **spent}


def ingestion(mem: GraphMem, workers: dict[str, PeerWorker], n: int,
              rng: random.Random) -> dict[str, dict[str, float]]:
    """n fresh messages through each system's public add path, one user, then removed."""
    sentences = pool_sentences(400, seed=99)
    texts = [f"{rng.choice(sentences)[0]} (said {i})" for i in range(n)]
    out: dict[str, dict[str, float]] = {}
    for infer in (False, True):
        name = "graphmem" if infer else "graphmem-verbatim"
        convs = [{"messages": [{"role": "user", "content": t, "id": f"ing-{infer}-{i}"}
                               for i, t in enumerate(texts[s:s + 50], start=s)],
                  "user_id": "ingest0", "session_id": f"ing-{infer}-{s}"}
                 for s in range(0, n, 50)]
        started = time.perf_counter()
        mem.add_many(convs, infer=infer)
        seconds = time.perf_counter() - started
        out[name] = {"messages": n, "seconds": seconds, "msg_per_s": n / seconds}
        mem.purge(user_id="ingest0", actor="user:ingest0")
    items = [{"id": f"ing-{i}", "text": t, "embedding": None} for i, t in enumerate(texts)]
    for name, worker in workers.items():
        seconds = float(worker.request("ingest", user="ingest0", items=items,
                                       via="api")["seconds"])
        out[name] = {"messages": n, "seconds": seconds, "msg_per_s": n / seconds}
        worker.request("reset", user="ingest0")
    return out


def interleaved(mem: GraphMem, workers: dict[str, PeerWorker], queries: list[str],
                modes: dict[str, list[str]], limit: int, warmup: list[str]
                ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Each query through every system, the starting one rotating; ms per call, for the
    measured queries and for the warm-up ones before them (kept to show when each system
    settles: a JVM server compiles its hot paths over thousands of calls)."""
    embedder = mem.embedder
    calls: list[tuple[str, Any]] = [
        ("embed (yardstick)", lambda q: _wall(lambda: embedder.embed([q]))),
        ("graphmem", lambda q: _wall(lambda: mem.search(q, user_id="bench0", limit=limit)))]
    for name, worker in workers.items():
        for mode in modes.get(name, ["default"]):
            label = name if mode == "default" else f"{name} ({mode})"
            calls.append((label, lambda q, w=worker, m=mode: float(w.request(
                "search", user="bench0", query=q, limit=limit, mode=m)["ms"])))
    def run(batch: list[str], desc: str) -> dict[str, list[float]]:
        samples: dict[str, list[float]] = {label: [] for label, _ in calls}
        for i, q in enumerate(tqdm(batch, desc=desc, leave=False)):
            for j in range(len(calls)):
                label, call = calls[(i + j) % len(calls)]
                samples[label].append(call(q))
        return samples

    warm = run(warmup, "warm-up, interleaved")  # plans, caches and JITs
    return run(queries, "search, interleaved"), warm


def windows(samples: list[float], size: int = 50) -> list[float]:
    """p50 of each run of `size` calls: how a system's latency moved during the warm-up."""
    return [pct(samples[i:i + size])["p50"] for i in range(0, len(samples), size)]


def server_pids(settings: Settings, workers: dict[str, PeerWorker]) -> list[int]:
    """Every process a search goes through: GraphMem's Neo4j, the peers' workers and
    Graphiti's Neo4j."""
    servers = [status(settings).pid] + ([status(peer_neo4j(settings)).pid]
                                        if "graphiti" in workers else [])
    return [p for p in servers if p is not None] + [w.pid for w in workers.values()]


def _wall(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000.0


def run_latency(args: argparse.Namespace) -> None:
    settings = perf_settings(None)
    names = [p for p in args.peers.split(",") if p]
    workers = start_peers(names, settings)
    rng = random.Random(7)
    modes = {"graphiti": ["default", "bfs"]} if args.graphiti_bfs else {}
    results: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores shared by every system, 24 GiB",
        "versions": {n: w.version for n, w in workers.items()},
        "embedder": "all-MiniLM-L6-v2, ONNX Runtime (GraphMem's encoder module, all systems)",
        "limit": args.limit, "sizes": {}}
    embedder = SentenceTransformerEmbedder(settings, cache_size=0)
    try:
        with GraphMem(settings, embedder=embedder) as mem:
            mem.store.wipe()
            mem.store.ensure_schema(settings.embedding_dim)
            for size in [int(s) for s in args.sizes.split(",")]:
                row: dict[str, Any] = {"bulk_load_s": fill(mem, workers, size)}
                row["settle_s"] = wait_for_idle(server_pids(settings, workers))
                queries = [f"what do I think about {rng.choice(THINGS)} in "
                           f"{rng.choice(PLACES)}? #{size}-{i}" for i in range(args.queries)]
                warmup = [f"what do I think about {rng.choice(THINGS)} in "
                          f"{rng.choice(PLACES)}? warm #{size}-{i}" for i in range(args.warmup)]
                samples, warm = interleaved(mem, workers, queries, modes, args.limit, warmup)
                row["search"] = {label: pct(s) for label, s in samples.items()}
                row["warmup"] = {"queries": args.warmup,
                                 "p50_per_50": {label: windows(s) for label, s in warm.items()}}
                if args.ingest:
                    row["ingestion"] = ingestion(mem, workers, args.ingest, rng)
                row["rss_mb"] = {"client (GraphMem)": rss_mb(os.getpid()),
                                 **{n: rss_mb(w.pid) for n, w in workers.items()}}
                pid = status(settings).pid
                if pid is not None:
                    row["rss_mb"]["neo4j (GraphMem)"] = rss_mb(pid)
                row["counts"] = {n: w.request("stats").get("count") for n, w in workers.items()}
                results["sizes"][str(size)] = row
                write_result(Path(args.out), results)
    finally:
        for worker in workers.values():
            worker.close()
    print_latency(results)


def print_latency(results: dict[str, Any]) -> None:
    print(f"\n{'memories':>9} {'system':<26} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'p95 / GraphMem p95':>19}")
    for size, row in results["sizes"].items():
        ours = row["search"]["graphmem"]["p95"]
        for label, s in row["search"].items():
            print(f"{size:>9} {label:<26} {s['p50']:8.1f} {s['p95']:8.1f} "
                  f"{s['p95'] / ours:19.2f}")
    for size, row in results["sizes"].items():
        for label, s in row.get("ingestion", {}).items():
            print(f"{size:>9} ingest {label:<19} {s['msg_per_s']:8.1f} msg/s "
                  f"({s['messages']} in {s['seconds']:.1f} s)")


def run_recall(args: argparse.Namespace) -> None:
    from graphmem.eval.baselines import BM25Turns
    from graphmem.eval.cli import default_locomo_dir
    from graphmem.eval.locomo import load_conversations
    from graphmem.eval.report import locomo_markdown, locomo_summary, write_locomo_report
    from graphmem.eval.runner import GraphMemSystem, run_locomo

    settings = bench_settings(None)  # the benchmark server (27687), started if needed
    names = [p for p in args.peers.split(",") if p]
    workers = start_peers(names, settings)
    convs = load_conversations(default_locomo_dir() or Path("../shared/datasets/locomo-dev"),
                               args.conversations.split(",") if args.conversations else None,
                               None)
    systems: list[Any] = [GraphMemSystem(settings=settings), BM25Turns()]
    systems += [PeerSystem(w) for w in workers.values()]
    try:
        outcomes = run_locomo(convs, systems, run_tag=time.strftime("peers%Y%m%d%H%M%S"))
    finally:
        for s in systems:
            close = getattr(s, "close", None)
            if close is not None:
                close()
        for worker in workers.values():
            worker.close()
    out = Path(args.out)
    meta = {"systems": [s.name for s in systems], "conversations": [c.sample_id for c in convs],
            "questions": sum(len(c.questions) for c in convs),
            "versions": {n: w.version for n, w in workers.items()},
            "peers_ingest": "each user turn one memory, public add path (Mem0 infer=False)"}
    write_locomo_report(outcomes, out, (1, 3, 5, 10), meta)
    print(locomo_markdown(locomo_summary(outcomes, (1, 3, 5, 10))))
    print(f"wrote {out}")


def run_prefeval_recall(args: argparse.Namespace) -> None:
    """PrefEval at one distractor setting: the peers hold the turns as they are (no LLM), so
    this is what their search makes of a stated preference among distractors."""
    from graphmem.eval.cli import default_prefeval_dir
    from graphmem.eval.prefeval import load_inter_turns, load_items
    from graphmem.eval.report import prefeval_markdown, prefeval_summary, write_prefeval_report
    from graphmem.eval.runner import run_prefeval

    data = default_prefeval_dir() or Path("../shared/datasets/prefeval-dev")
    settings = bench_settings(None)
    workers = start_peers([p for p in args.peers.split(",") if p], settings)
    items = load_items(data, limit=args.limit)
    systems: list[Any] = [PeerSystem(w) for w in workers.values()]
    try:
        outcomes = run_prefeval(items, load_inter_turns(data), systems,
                                settings=[args.setting], k=5,
                                run_tag=time.strftime("peers%Y%m%d%H%M%S"))
    finally:
        for worker in workers.values():
            worker.close()
    ks = (1, 3, 5)
    meta = {"systems": [s.name for s in systems], "settings": [args.setting],
            "limit": args.limit, "items": len(items),
            "versions": {n: w.version for n, w in workers.items()}}
    write_prefeval_report(outcomes, Path(args.out), ks, meta)
    print(prefeval_markdown(prefeval_summary(outcomes, ks)))
    print(f"wrote {args.out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    lat = sub.add_parser("latency", help="search latency and ingestion at N memories")
    lat.add_argument("--sizes", default="10000,100000")
    lat.add_argument("--queries", type=int, default=300)
    lat.add_argument("--limit", type=int, default=10, help="memories per search")
    lat.add_argument("--warmup", type=int, default=300,
                     help="untimed queries through every system first (interleaved as the "
                     "timed ones): Neo4j's JIT warms up over thousands of statements, and 20 "
                     "(the earlier default) left the servers cold (benchmarks/README.md, stop 23)")
    lat.add_argument("--ingest", type=int, default=500,
                     help="messages through each public add path (0: skip)")
    lat.add_argument("--peers", default=",".join(PEERS))
    lat.add_argument("--graphiti-bfs", action="store_true",
                     help="also time Graphiti's search_ with BFS")
    lat.add_argument("--out", default="benchmarks/results/peers/latency.json")
    rec = sub.add_parser("recall", help="LoCoMo dev recall@k beside GraphMem and BM25")
    rec.add_argument("--conversations", default=None, help="0-based positions or ids")
    rec.add_argument("--peers", default=",".join(PEERS))
    rec.add_argument("--out", default="benchmarks/results/peers/locomo")
    pref = sub.add_parser("prefeval", help="PrefEval recall@k of the peers (GraphMem: "
                          "graphmem eval prefeval with the same --limit and --settings)")
    pref.add_argument("--limit", type=int, default=3, help="items per topic and form")
    pref.add_argument("--setting", type=int, default=300, help="distractor turns")
    pref.add_argument("--peers", default=",".join(PEERS))
    pref.add_argument("--out", default="benchmarks/results/peers/prefeval")
    args = ap.parse_args()
    if args.command == "latency":
        run_latency(args)
    elif args.command == "recall":
        run_recall(args)
    else:
        run_prefeval_recall(args)


if __name__ == "__main__":
    main()
