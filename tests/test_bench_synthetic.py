"""The scale benchmarks' synthetic memories: the queried user really owns its share.

At 10k cubes with a 10% share the first fill handed whole 2,000-cube batches out, so the
queried user (whose share was 1,000) never got one and the 10k row of the scale table measured
a user owning a single cube."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from benchmarks.synthetic import batches
from graphmem.api import GraphMem


class _Embedder:
    dim = 8

    def embed(self, texts: list[str]) -> list[list[float]]:
        rng = np.random.default_rng(len(texts))
        return rng.normal(size=(len(texts), self.dim)).tolist()


def _owned(target: int, share: float, tmp_path: Path, have: int = 10, owned: int = 1
           ) -> Counter[str]:
    mem = SimpleNamespace(embedder=_Embedder(), settings=SimpleNamespace(cache_dir=tmp_path))
    counts: Counter[str] = Counter()
    for b in batches(mem, target, users=max(10, round(1 / share)),  # type: ignore[arg-type]
                     queried_share=share, have=have, owned=owned, pool=50):
        assert len(b.texts) == len(b.vectors) == len(b.entities)
        counts[b.user] += len(b.texts)
    return counts


def test_the_queried_user_owns_its_share_at_10k(tmp_path: Path) -> None:
    counts = _owned(10_000, 0.1, tmp_path)
    assert counts["bench0"] + 1 == 1_000
    assert sum(counts.values()) == 10_000 - 10


def test_a_later_fill_keeps_the_share(tmp_path: Path) -> None:
    counts = _owned(100_000, 0.1, tmp_path, have=10_000, owned=1_000)
    assert counts["bench0"] + 1_000 == 10_000
    assert sum(counts.values()) == 90_000


def test_the_same_arguments_give_the_same_memories(tmp_path: Path) -> None:
    mem = SimpleNamespace(embedder=_Embedder(), settings=SimpleNamespace(cache_dir=tmp_path))
    runs = [[(b.user, b.texts[:3]) for b in batches(  # type: ignore[arg-type]
        mem, 5_000, users=10, queried_share=0.1, have=0, owned=0, pool=50)] for _ in range(2)]
    assert runs[0] == runs[1]


def test_timed_adds_write_on_a_graph_kept_from_an_earlier_run(mem: GraphMem) -> None:
    """`latency --keep` reuses the graph of an earlier run, whose seeded generator gave the
    same sentences and message ids: every add found its episode known and wrote nothing (the
    1M row's adds, stop 19). A second run with the same seed must still write new cubes."""
    from benchmarks.latency import bench_add

    bench_add(mem, random.Random(7), 2)
    again = bench_add(mem, random.Random(7), 2)
    assert again["cubes_per_add"] >= 1
