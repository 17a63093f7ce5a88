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
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from benchmarks.common import bench_settings
from graphmem.api import GraphMem
from graphmem.embeddings import SentenceTransformerEmbedder
from graphmem.ingest import Origin, cube_row, entity_id, normalise_entity
from graphmem.models import CubeKind, NewCube
from graphmem.store.protocol import EntityRow, WriteBatch

PEOPLE = ["Ana", "Tom", "Lea", "Omar", "Yuki", "Carlos", "Priya", "Jonas", "Mina", "Sam"]
PLACES = ["Lisbon", "Porto", "Berlin", "Kyoto", "Lyon", "Oslo", "Austin", "Cape Town", "Hanoi",
          "Quebec", "Seville", "Tallinn"]
THINGS = ["window seats", "spicy food", "jazz concerts", "hiking trails", "night trains",
          "board games", "sushi", "yoga classes", "vintage cameras", "electric cars",
          "crowded bars", "early flights", "gluten", "peanuts", "red wine", "sci-fi novels",
          "road trips", "museums", "street food", "rooftop pools", "camping", "podcasts"]
TEMPLATES = [
    "I really like {thing} when I visit {place}.",
    "I can't stand {thing}, especially in {place}.",
    "{person} recommended {thing} to me last week.",
    "My friend {person} lives in {place} and loves {thing}.",
    "I prefer {thing} over anything else on weekends.",
    "Next month I'm flying to {place} with {person}.",
    "I avoid {thing} because of my health.",
    "We talked about {thing} and {place} for an hour.",
]


def sentence(rng: random.Random) -> tuple[str, list[str]]:
    person, place, thing = rng.choice(PEOPLE), rng.choice(PLACES), rng.choice(THINGS)
    text = rng.choice(TEMPLATES).format(person=person, place=place, thing=thing)
    text += f" (note {rng.randrange(10**6)})"
    return text, [e for e in (person, place, thing) if e.lower() in text.lower()]


PREFERENCE_CUES = ("I really like", "I can't stand", "I prefer", "I avoid")


def kind_of(text: str) -> CubeKind:
    """Half the templates state a preference: those cubes are preferences, so the preference
    channel searches thousands of them per user at 100k cubes."""
    return CubeKind.PREFERENCE if text.startswith(PREFERENCE_CUES) else CubeKind.FACT


def populate(mem: GraphMem, target: int, rng: random.Random, batch: int = 1000) -> None:
    have = mem.store.stats()["cubes"]
    users = [f"bench{u}" for u in range(10)]
    for u in users:
        mem.remember("setup", user_id=u)
    with tqdm(total=target, initial=have, desc=f"populate to {target}") as bar:
        while have < target:
            n = min(batch, target - have)
            user = users[have // batch % len(users)]
            origin = Origin(f"user:{user}", f"scope:private:{user}", user, "bench", None,
                            f"user:{user}")
            texts = [sentence(rng) for _ in range(n)]
            vectors = mem.embedder.embed([t for t, _ in texts])
            names = sorted({e for _, ents in texts for e in ents})
            entities = [EntityRow(entity_id(origin.scope, normalise_entity(e)), user, e,
                                  normalise_entity(e), "other", [e]) for e in names]
            ids = {e.name: e.id for e in entities}
            cubes = [
                cube_row(NewCube(text=t, kind=kind_of(t)), origin, v, extractor="bench",
                         extractor_version="1", model=None, entity_ids=[ids[e] for e in ents])
                for (t, ents), v in zip(texts, vectors, strict=True)
            ]
            mem.store.write_batch(origin.actor, WriteBatch(scope=origin.scope, entities=entities,
                                                           cubes=cubes))
            have += n
            bar.update(n)


def percentiles(samples: list[float]) -> dict[str, float]:
    arr = np.array(samples)
    return {"n": len(samples), "p50": float(np.percentile(arr, 50)),
            "p95": float(np.percentile(arr, 95)), "p99": float(np.percentile(arr, 99)),
            "mean": float(arr.mean())}


def bench_search(mem: GraphMem, queries: list[str], recipe: str) -> dict[str, Any]:
    """Wall time of the public call, plus the median of each stage the retriever timed
    (embed, each retriever's query, rank); "bookkeeping" is the rest: audit and heat."""
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


def bench_add(mem: GraphMem, rng: random.Random, n: int) -> dict[str, float]:
    samples = []
    for i in tqdm(range(n), desc="add", leave=False):
        text, _ = sentence(rng)
        t = time.perf_counter()
        mem.add([{"role": "user", "content": text, "id": f"add-{i}-{rng.random()}"}],
                user_id="bench0", session_id="bench-add")
        samples.append((time.perf_counter() - t) * 1000)
    return percentiles(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--adds", type=int, default=1000)
    ap.add_argument("--recipes", default="vector,bm25,graph,hybrid")
    ap.add_argument("--uri", default=None, help="benchmark against this Neo4j (it is wiped)")
    ap.add_argument("--out", default="benchmarks/results/latency.json")
    ap.add_argument("--keep", action="store_true",
                    help="reuse the cubes already in the benchmark graph (no wipe)")
    args = ap.parse_args()

    settings = bench_settings(args.uri)
    rng = random.Random(7)
    embedder = SentenceTransformerEmbedder(settings, cache_size=0)
    results: dict[str, Any] = {"machine": "2 cores, 24 GiB", "sizes": {}}
    with GraphMem(settings, embedder=embedder) as mem:
        if not args.keep:
            mem.store.wipe()
        mem.store.ensure_schema(settings.embedding_dim)
        for size in [int(s) for s in args.sizes.split(",")]:
            populate(mem, size, rng)
            queries = [f"what do I think about {rng.choice(THINGS)} in {rng.choice(PLACES)}? "
                       f"#{i}" for i in range(args.queries)]
            row: dict[str, Any] = {"cubes": mem.store.stats()["cubes"]}
            for recipe in [r for r in args.recipes.split(",") if r]:
                row[f"search_{recipe}"] = bench_search(mem, queries, recipe)
            if args.adds:
                row["add"] = bench_add(mem, rng, args.adds)
            results["sizes"][str(size)] = row
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
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
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
