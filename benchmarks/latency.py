"""Search and add latency on a real Neo4j, at several store sizes.

For each size N the store holds N current cubes spread over ten users (the queried user owns a
tenth of them; half are preferences), with entities and ABOUT edges so the graph walk has
something to walk. Then:

- search: p50/p95/p99 over unique queries (query embedding included: the embedder's cache is
  off) for each retriever alone and for the fused pipeline;
- add: the median of single-message `add` calls (extraction + embedding + one write
  transaction) with the store at that size.

Runs against a dedicated benchmark server (ports 27687/27474, its own data directory) that it
starts and wipes, unless --uri names another server (which it will also wipe: never point it
at a graph you care about).

    python benchmarks/latency.py --sizes 10000,100000 --queries 1000 --adds 1000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from benchmarks.common import PERF_INSTANCES, perf_settings, wait_for_idle
from benchmarks.synthetic import PEOPLE, PLACES, TEMPLATES, THINGS, populate
from graphmem.api import GraphMem
from graphmem.embeddings import SentenceTransformerEmbedder
from graphmem.neo4j_local.server import status


def sentence(rng: random.Random) -> tuple[str, list[str]]:
    person, place, thing = rng.choice(PEOPLE), rng.choice(PLACES), rng.choice(THINGS)
    text = rng.choice(TEMPLATES).format(person=person, place=place, thing=thing)
    text += f" (note {rng.randrange(10**6)})"
    return text, [e for e in (person, place, thing) if e.lower() in text.lower()]


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def vector_index_build_s(mem: GraphMem, timeout_s: float = 3600.0) -> float:
    """Drop the cube vector index and time its rebuild over the cubes now in the graph."""
    mem.store.write_query("bench/drop_vector_index")
    started = time.perf_counter()
    mem.store.write_query("bench/create_vector_index", dim=mem.settings.embedding_dim)
    while time.perf_counter() - started < timeout_s:
        state = mem.store.read_query("bench/index_state", name="memcube_embedding")
        if state and state[0]["state"] == "ONLINE":
            return time.perf_counter() - started
        time.sleep(0.5)
    raise TimeoutError("the vector index did not come online")


def percentiles(samples: list[float]) -> dict[str, float]:
    arr = np.array(samples)
    return {"n": len(samples), "p50": float(np.percentile(arr, 50)),
            "p95": float(np.percentile(arr, 95)), "p99": float(np.percentile(arr, 99)),
            "mean": float(arr.mean())}


def bench_search(mem: GraphMem, queries: list[str], recipe: str) -> dict[str, Any]:
    """Wall time of the public call, plus the median of each stage the retriever timed
    (embed, each retriever's statement, rank; the retrievers of a group run as one statement
    and each reports the group's time); "bookkeeping" is the rest: audit and heat."""
    samples = []
    stages: dict[str, list[float]] = {}
    for q in queries[:20]:  # warm up plans and caches
        mem.retrieve(q + " warm", user_id="bench0", recipe=recipe, limit=5)
    for q in tqdm(queries, desc=f"search {recipe}", leave=False):
        t = time.perf_counter()
        result = mem.retrieve(q, user_id="bench0", recipe=recipe, limit=5)
        wall = (time.perf_counter() - t) * 1000
        samples.append(wall)
        for stage, ms in result.timings_ms.items():
            stages.setdefault(stage, []).append(ms)
        stages.setdefault("bookkeeping", []).append(wall - result.timings_ms["total"])
    return {**percentiles(samples),
            "stage_p50": {k: float(np.percentile(v, 50)) for k, v in stages.items()}}


def bench_add(mem: GraphMem, rng: random.Random, n: int, warm: int = 50) -> dict[str, float]:
    """Single adds, each saying something new. The sentences and message ids come from the
    seeded generator, so on a graph kept from an earlier run (--keep) they would repeat it,
    and a known message or sentence writes no cube (a cheaper path than a real add): the
    run's start time goes into both."""
    samples = []
    created = 0
    run = time.time_ns()
    # Warm up, as the searches do: Neo4j plans each statement again for every new
    # combination of parameter types (an empty list or a filled one, a null or a string; and
    # on a server that keeps Neo4j's default size hints, every new length), and an add's first
    # statement takes about half a second to plan; the JIT warms up over many more calls
    # (benchmarks/README.md, stops 22 and 23).
    for i in range(warm):
        text, _ = sentence(rng)
        mem.add([{"role": "user", "content": f"{text} warm {run}{i}",
                  "id": f"warm-{run}-{i}"}], user_id="bench0", session_id="bench-add-warm")
    for i in tqdm(range(n), desc="add", leave=False):
        text, _ = sentence(rng)
        text = f"{text.rstrip('.')} on trip {run}{i}."
        t = time.perf_counter()
        result = mem.add([{"role": "user", "content": text,
                           "id": f"add-{run}-{i}-{rng.random()}"}],
                         user_id="bench0", session_id="bench-add")
        samples.append((time.perf_counter() - t) * 1000)
        created += len(result.cubes)
    return {**percentiles(samples), "cubes_per_add": created / n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--adds", type=int, default=1000)
    ap.add_argument("--recipes", default="vector,bm25,graph,hybrid")
    ap.add_argument("--uri", default=None, help="benchmark against this Neo4j (it is wiped)")
    ap.add_argument("--instance", default="perf", choices=sorted(PERF_INSTANCES),
                    help="which local performance server (perf-1m keeps a 1M-cube graph)")
    ap.add_argument("--out", default="benchmarks/results/latency.json")
    ap.add_argument("--backend", default="onnx", choices=["torch", "onnx", "onnx-int8"])
    ap.add_argument("--shares", default="1000000:0.01",
                    help="size:share of the queried user (default 0.1)")
    ap.add_argument("--pool", type=int, default=2000, help="embedded template sentences")
    ap.add_argument("--index-build", nargs="?", const="last", choices=["first", "last"],
                    help="also time a rebuild of the cube vector index at each size: after "
                    "the searches (default), or first, before them")
    ap.add_argument("--append", action="store_true",
                    help="keep the other sizes already in --out (e.g. the 1M row, measured on "
                    "the perf-1m server, beside the 10k/100k rows of the perf server)")
    ap.add_argument("--keep", action="store_true",
                    help="reuse the cubes already in the benchmark graph (no wipe)")
    args = ap.parse_args()

    settings = perf_settings(args.uri, args.instance, embedding_backend=args.backend)
    server_pid = status(settings).pid if args.uri is None else None
    rng = random.Random(7)
    embedder = SentenceTransformerEmbedder(settings, cache_size=0)
    results: dict[str, Any] = {"machine": "2 cores shared with other work, 24 GiB",
                               "backend": args.backend, "heap": settings.neo4j_heap,
                               "pagecache": settings.neo4j_pagecache, "sizes": {}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    if args.append and Path(args.out).exists():
        results["sizes"] = json.loads(Path(args.out).read_text())["sizes"]
    shares = {int(k): float(v) for k, v in (p.split(":") for p in args.shares.split(",") if p)}
    with GraphMem(settings, embedder=embedder) as mem:
        if not args.keep:
            mem.store.wipe()
        mem.store.ensure_schema(settings.embedding_dim)
        for size in [int(s) for s in args.sizes.split(",")]:
            share = shares.get(size, 0.1)
            fill_s = populate(mem, size, users=max(10, round(1 / share)), queried_share=share,
                              pool=args.pool)
            queries = [f"what do I think about {rng.choice(THINGS)} in {rng.choice(PLACES)}? "
                       f"#{i}" for i in range(args.queries)]
            row: dict[str, Any] = {"cubes": mem.store.stats()["cubes"], "queried_share": share,
                                   "fill_s": fill_s}
            if server_pid is not None:
                row["settle_s"] = wait_for_idle([server_pid])
            if args.index_build == "first":
                # An index built under older settings (e.g. another merge factor) is searched
                # as it will be after this rebuild, not as it was.
                row["vector_index_build_s"] = vector_index_build_s(mem)
                if server_pid is not None:
                    row["settle_s"] = wait_for_idle([server_pid])
            for recipe in [r for r in args.recipes.split(",") if r]:
                row[f"search_{recipe}"] = bench_search(mem, queries, recipe)
            if args.adds:
                row["add"] = bench_add(mem, rng, args.adds)
            if args.index_build == "last":
                row["vector_index_build_s"] = vector_index_build_s(mem)
            row["client_rss_mb"] = rss_mb(os.getpid())
            if server_pid is not None:
                row["neo4j_rss_mb"] = rss_mb(server_pid)
            results["sizes"][str(size)] = row
            Path(args.out).write_text(json.dumps(results, indent=2))  # partial results too
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"\n{'cubes':>8} {'operation':<16} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for size, row in results["sizes"].items():
        for op, stats in row.items():
            if isinstance(stats, dict):
                print(f"{size:>8} {op:<16} {stats['p50']:8.1f} {stats['p95']:8.1f} "
                      f"{stats['p99']:8.1f}")
    print("\nstage medians (ms):")
    for size, row in results["sizes"].items():
        for op, stats in row.items():
            if isinstance(stats, dict) and "stage_p50" in stats:
                parts = ", ".join(f"{k} {v:.1f}" for k, v in stats["stage_p50"].items())
                print(f"{size:>8} {op:<16} {parts}")
    print(f"\n{'cubes':>8} {'fill s':>8} {'index build s':>14} {'Neo4j RSS MB':>13} "
          f"{'client RSS MB':>14}")
    for size, row in results["sizes"].items():
        build = row.get("vector_index_build_s", float("nan"))
        print(f"{size:>8} {row['fill_s']:8.1f} {build:14.1f}"
              f" {row.get('neo4j_rss_mb', float('nan')):13.0f} {row['client_rss_mb']:14.0f}")
    plot(results, Path(args.out).with_suffix(".png"))
    print(f"\nwrote {args.out}")


def plot(results: dict[str, Any], path: Path) -> None:
    """Log-log: latency percentiles against the number of cubes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(results["sizes"], key=int)
    xs = [int(s) for s in sizes]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ops = [op for op, v in results["sizes"][sizes[0]].items() if isinstance(v, dict)]
    for op in ops:
        for q, style in (("p50", "-o"), ("p95", "--x")):
            ax.plot(xs, [results["sizes"][s][op][q] for s in sizes], style, label=f"{op} {q}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("cubes in the graph")
    ax.set_ylabel("ms")
    ax.set_title("GraphMem latency vs graph size (2 shared cores)")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
