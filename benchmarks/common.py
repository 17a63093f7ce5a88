"""What the benchmark scripts share: the Neo4j they run against and how results are written."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from graphmem.settings import Settings

BENCH_BOLT_PORT, BENCH_HTTP_PORT = 27687, 27474
# The scale and target benchmarks (perf_targets.py, latency.py) use a server of their own,
# sized for a million cubes (384-d vectors are ~1.5 GB at 1M: the page cache holds them).
PERF_BOLT_PORT, PERF_HTTP_PORT = 37687, 37474
PERF_HEAP, PERF_PAGECACHE = "2g", "3g"
# Named performance servers: (bolt port, http port, heap, page cache). "perf" holds the 10k and
# 100k graphs; "perf-1m" keeps a million-cube graph between runs (filling it takes half an
# hour on two cores), with a page cache that holds its ~1.5 GB of vectors and their index.
PERF_INSTANCES: dict[str, tuple[int, int, str, str]] = {
    "perf": (PERF_BOLT_PORT, PERF_HTTP_PORT, PERF_HEAP, PERF_PAGECACHE),
    "perf-1m": (57687, 57474, "3g", "6g"),
}


def perf_settings(uri: str | None, instance: str = "perf", **overrides: Any) -> Settings:
    """Settings for a performance server (its own ports, data dir and memory sizing)."""
    if uri:
        return Settings(neo4j_uri=uri, **overrides)
    from graphmem.neo4j_local.server import up

    bolt, http, heap, pagecache = PERF_INSTANCES[instance]
    settings = Settings(neo4j_uri=f"bolt://127.0.0.1:{bolt}", neo4j_bolt_port=bolt,
                        neo4j_http_port=http, data_dir=Settings().cache_dir / f"{instance}-neo4j",
                        neo4j_heap=heap, neo4j_pagecache=pagecache, **overrides)
    up(settings)
    return settings


def bench_settings(uri: str | None, **overrides: Any) -> Settings:
    """Settings for the server at `uri`, or else for the dedicated benchmark server (its own
    ports and data directory, so a benchmark never touches the demo's or the tests' graph),
    started here if it is not running."""
    if uri:
        return Settings(neo4j_uri=uri, **overrides)
    from graphmem.neo4j_local.server import up

    settings = Settings(neo4j_bolt_port=BENCH_BOLT_PORT, neo4j_http_port=BENCH_HTTP_PORT,
                        data_dir=Settings().cache_dir / "bench-neo4j", neo4j_heap="2g",
                        neo4j_pagecache="1g", **overrides)
    up(settings)
    return settings


def write_result(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")


def pin_cores(cores: int) -> None:
    """Before numpy loads: cap BLAS/OpenMP threads and the CPU set, so "one core" means it."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(cores)
    if hasattr(os, "sched_setaffinity"):
        available = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, set(available[:cores]))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_idle(pids: list[int], *, below: float = 0.1, window_s: float = 2.0,
                  timeout_s: float = 300.0) -> float:
    """Wait until the processes together use less than `below` of one core over `window_s`;
    returns the seconds waited. After a bulk load Neo4j goes on merging index segments in the
    background for a while (more so with vector indexes merged at factor 2), and searches
    measured during that measure the merge too: the benchmarks time the steady state and
    report the wait beside it."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        before = sum(cpu_seconds(p) for p in pids)
        time.sleep(window_s)
        if (sum(cpu_seconds(p) for p in pids) - before) / window_s < below:
            break
    return time.perf_counter() - started
