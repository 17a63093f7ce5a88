"""Smoke test of the peer workers, run in GraphMem's venv: each worker in its own venv, spoken
to over the JSON-lines protocol (protocol.md), as the benchmark driver does.

Per peer: 100 synthetic memories for each of two users, "userA" and "user:B" (a ':' that
Graphiti's group_id rejects, so the worker's mapping is exercised), half via "api", half via
"bulk" with vectors precomputed here by the same ONNX encoder; then checks that a query equal
to a memory's text returns that memory first, that user B never sees user A's ids, that stats
count and reset work, and that a bad request gets an error reply without killing the worker.
Prints each op's timing. `--timing N` then also loads N memories via api and N via bulk and
times 50 searches (p50/p95), to size the real runs. Graphiti gets a dedicated Neo4j 5.26
(GraphMem's provisioning, Bolt 47687), stopped at the end unless it was already running or
--keep-neo4j.

    PYTHONPATH=. ~/.cache/graphmem/venv/bin/python benchmarks/peer_workers/smoke.py [--timing 2000]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from graphmem.embeddings import bundled_model_path
from graphmem.embeddings_onnx import OnnxSentenceEncoder
from graphmem.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PEERS_DIR = Settings().cache_dir / "peers"
NEO4J = Settings(neo4j_bolt_port=47687, neo4j_http_port=47474,
                 data_dir=Settings().cache_dir / "peer-neo4j", neo4j_heap="2g",
                 neo4j_pagecache="3g", neo4j_uri="bolt://127.0.0.1:47687")

NAMES = ["Alice", "Bruno", "Chiara", "Dmitri", "Esther", "Farid", "Greta", "Hiroshi", "Ines",
         "Jonas", "Kavya", "Lars", "Mireille", "Nnamdi", "Olga", "Pablo"]
CITIES = ["Lisbon", "Osaka", "Nairobi", "Quito", "Tallinn", "Perth", "Bergen", "Tucson"]
ACTS = ["booked a pottery class", "adopted a grey cat", "started learning the cello",
        "ran a half marathon", "bought a red bicycle", "planted tomatoes",
        "moved to a flat", "lost a blue umbrella", "baked sourdough bread",
        "joined a chess club", "repaired an old radio", "visited a jazz festival"]


class Worker:
    """One peer worker subprocess; `call` sends a request and returns its reply."""

    def __init__(self, name: str, log_dir: Path) -> None:
        python = PEERS_DIR / f"{name}-venv" / "bin" / "python"
        self.log = log_dir / f"{name}-worker.log"
        self.proc = subprocess.Popen(
            [str(python), str(ROOT / "benchmarks" / "peer_workers" / f"{name}_worker.py")],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log.open("w"), text=True, bufsize=1)

    def call(self, request: dict[str, Any], *, ok: bool = True) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker died; see {self.log}")
        reply: dict[str, Any] = json.loads(line)
        if ok and not reply.get("ok"):
            raise RuntimeError(f"{request['op']} failed: {reply.get('error')} (log: {self.log})")
        return reply

    def close(self) -> int:
        try:
            self.call({"op": "close"})
        except (RuntimeError, OSError):
            self.proc.kill()
        return self.proc.wait(timeout=60)


def make_items(prefix: str, n: int, rng: random.Random) -> list[dict[str, Any]]:
    """Distinct sentences; every other item names its entities (Graphiti's shared nodes)."""
    items = []
    for i in range(n):
        name, city, act = rng.choice(NAMES), rng.choice(CITIES), rng.choice(ACTS)
        text = f"{name} {act} in {city} on day {i} of trip {prefix}{rng.randint(100, 999)}"
        item: dict[str, Any] = {"id": f"{prefix}-{i}", "text": text}
        if i % 2:
            item["entities"] = [name, city]
        items.append(item)
    return items


def with_vectors(items: list[dict[str, Any]], encoder: OnnxSentenceEncoder) -> list[dict[str, Any]]:
    vectors = encoder.encode([it["text"] for it in items])
    return [{**it, "embedding": [float(x) for x in vec]} 
            for it, vec in zip(items, vectors, strict=True)]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def smoke(name: str, worker: Worker, setup: dict[str, Any], encoder: OnnxSentenceEncoder,
          modes: list[str]) -> None:
    rng = random.Random(7)
    t0 = time.perf_counter()
    version = worker.call(setup)["version"]
    print(f"[{name} {version}] setup {time.perf_counter() - t0:.2f} s")
    users = {"userA": make_items("A", 100, rng), "user:B": make_items("B", 100, rng)}
    for user, items in users.items():
        api = worker.call({"op": "ingest", "user": user, "items": items[:50], "via": "api"})
        bulk = worker.call({"op": "ingest", "user": user, "via": "bulk",
                            "items": with_vectors(items[50:], encoder)})
        print(f"  ingest {user}: api 50 in {api['seconds']:.2f} s, "
              f"bulk 50 in {bulk['seconds']:.3f} s")
    assert worker.call({"op": "stats"})["count"] == 200
    for mode in modes:
        times: list[float] = []
        for user, items in users.items():
            other = "A-" if user == "user:B" else "B-"
            for item in items[::10]:  # 5 of the api half, 5 of the bulk half
                reply = worker.call({"op": "search", "user": user, "query": item["text"],
                                     "limit": 5, "mode": mode})
                times.append(reply["ms"])
                ids = [r["id"] for r in reply["results"]]
                assert ids and ids[0] == item["id"], (mode, user, item, reply["results"][:3])
                assert not any(i.startswith(other) for i in ids), (mode, user, ids)
        for item in users["userA"][::10]:  # user B asks A's exact texts
            reply = worker.call({"op": "search", "user": "user:B", "query": item["text"],
                                 "limit": 10, "mode": mode})
            times.append(reply["ms"])
            assert all(r["id"].startswith("B-") for r in reply["results"]), reply["results"]
        print(f"  search mode={mode}: 30 ok (exact text first, isolation), "
              f"p50 {statistics.median(times):.1f} ms, max {max(times):.1f} ms")
    bad = worker.call({"op": "ingest", "user": "userA", "items": [{"id": "x"}]}, ok=False)
    assert not bad["ok"] and bad["error"].startswith("KeyError"), bad
    t0 = time.perf_counter()
    worker.call({"op": "reset", "user": "user:B"})
    reset_s = time.perf_counter() - t0
    stats = worker.call({"op": "stats"})
    assert stats["count"] == 100, stats
    assert worker.call({"op": "search", "user": "user:B", "query": users["user:B"][0]["text"],
                        "limit": 5})["results"] == []
    assert worker.call({"op": "search", "user": "userA", "query": users["userA"][3]["text"],
                        "limit": 5})["results"][0]["id"] == "A-3"
    print(f"  bad request -> error reply, worker alive; reset user:B {reset_s:.2f} s; "
          f"stats {stats['count']} left, worker RSS {stats['rss_mb']:.0f} MB")


def timing(name: str, worker: Worker, setup: dict[str, Any], encoder: OnnxSentenceEncoder,
           n: int, modes: list[str]) -> None:
    rng = random.Random(11)
    worker.call(setup)
    api_items, bulk_items = make_items("T", n, rng), make_items("U", n, rng)
    t0 = time.perf_counter()
    bulk_items = with_vectors(bulk_items, encoder)
    embed_s = time.perf_counter() - t0
    api = worker.call({"op": "ingest", "user": "tapi", "items": api_items, "via": "api"})
    bulk = worker.call({"op": "ingest", "user": "tbulk", "items": bulk_items, "via": "bulk"})
    print(f"[{name}] ingest {n}: api {api['seconds']:.1f} s ({n / api['seconds']:.0f}/s), "
          f"bulk {bulk['seconds']:.2f} s ({n / bulk['seconds']:.0f}/s; vectors precomputed "
          f"by the driver in {embed_s:.1f} s, not counted)")
    queries = [f"who {rng.choice(ACTS)} in {rng.choice(CITIES)}?" for _ in range(50)]
    for mode in modes:
        ms = [worker.call({"op": "search", "user": "tbulk", "query": q, "limit": 10,
                           "mode": mode})["ms"] for q in queries]
        print(f"  50 searches mode={mode} over {n} memories of the user ({2 * n} stored): "
              f"p50 {pct(ms, 0.5):.1f} ms, p95 {pct(ms, 0.95):.1f} ms")
    stats = worker.call({"op": "stats"})
    print(f"  stats: {stats['count']} memories, worker RSS {stats['rss_mb']:.0f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers", default="mem0,graphiti")
    parser.add_argument("--timing", type=int, default=0, metavar="N")
    parser.add_argument("--keep-neo4j", action="store_true")
    args = parser.parse_args()
    settings = Settings()
    model_dir = bundled_model_path(settings.embedding_model)
    encoder = OnnxSentenceEncoder(model_dir, settings.cache_dir)  # exports the .onnx if needed
    work = settings.cache_dir / "peers" / "smoke"
    work.mkdir(parents=True, exist_ok=True)
    base = {"op": "setup", "graphmem_root": str(ROOT), "model_dir": str(model_dir),
            "cache_dir": str(settings.cache_dir)}
    started_neo4j = False
    try:
        for name in args.peers.split(","):
            setup: dict[str, Any] = {**base, "data_dir": str(work / name)}
            modes = ["default"]
            if name == "graphiti":
                from graphmem.neo4j_local.server import up

                t0 = time.perf_counter()
                info = up(NEO4J)
                started_neo4j = not info.already_running
                print(f"[neo4j] {info.bolt_uri} up in {time.perf_counter() - t0:.1f} s")
                setup["neo4j"] = {"uri": info.bolt_uri, "user": NEO4J.neo4j_user,
                                  "password": NEO4J.neo4j_password.get_secret_value()}
                modes = ["default", "bfs"]
            worker = Worker(name, work)
            try:
                smoke(name, worker, setup, encoder, modes)
                if args.timing:
                    timing(name, worker, setup, encoder, args.timing, modes)
            finally:
                rc = worker.close()
            assert rc == 0, f"{name} worker exited {rc}"
            print(f"[{name}] PASS (worker exited 0; its stderr: {worker.log})")
    finally:
        if started_neo4j and not args.keep_neo4j:
            from graphmem.neo4j_local.server import down

            down(NEO4J)
    return 0


if __name__ == "__main__":
    sys.exit(main())
