"""Baselines on a small PrefEval slice, plus the embedding cache and replay equivalence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graphmem.eval.baselines import (
    BM25Turns,
    CachedEncoder,
    DenseTurns,
    NoMemory,
    Vectors,
    load_minilm,
)
from graphmem.eval.metrics import summarise_ranks
from graphmem.eval.prefeval import load_inter_turns, load_items
from graphmem.eval.protocol import EvalTurn, MemorySystem
from graphmem.eval.runner import run_prefeval

DATA = Path(__file__).resolve().parents[1].parent / "shared/datasets/prefeval-dev"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="PrefEval dev split not present")


@pytest.fixture(scope="module")
def encoder() -> CachedEncoder:
    return load_minilm()


def _recall5(system: MemorySystem, setting: int = 10) -> float:
    items = load_items(DATA, topic_names=["pet_ownership", "travel_transportation"], limit=3)
    outcomes = run_prefeval(
        items, load_inter_turns(DATA), [system], settings=[setting], progress=False
    )
    assert len(outcomes) == len(items) == 18
    return summarise_ranks([o.first_hit_rank for o in outcomes], (5,)).recall[5]


@needs_data
def test_baselines_beat_no_memory(encoder: CachedEncoder) -> None:
    none = _recall5(NoMemory())
    assert none == 0.0
    assert _recall5(BM25Turns()) > none
    assert _recall5(DenseTurns(encoder)) > 0.5


def test_protocol_conformance(encoder: CachedEncoder) -> None:
    for system in (NoMemory(), BM25Turns(), DenseTurns(encoder)):
        assert isinstance(system, MemorySystem)


def test_bm25_ranks_and_forgets() -> None:
    bm25 = BM25Turns()
    bm25.ingest("u", [EvalTurn("1", "user", "I only ride electric scooters to work.")])
    got = bm25.retrieve("u", "Which scooters should I ride?", 5)
    assert [r.source_turn_ids for r in got] == [["1"]]  # single-document corpus still matches
    bm25.ingest(
        "u",
        [
            EvalTurn("2", "assistant", "Electric scooters are great."),
            EvalTurn("3", "user", "My cat sleeps all day."),
        ],
    )
    got = bm25.retrieve("u", "scooter advice", 5)
    assert [r.source_turn_ids[0] for r in got] == ["1"]  # assistant turns are not indexed
    assert bm25.retrieve("other", "scooter", 5) == []
    bm25.reset("u")
    assert bm25.retrieve("u", "scooter", 5) == []


class _CountingEncode:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, texts: list[str]) -> Vectors:
        self.texts += texts
        out = np.zeros((len(texts), 8), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row, hash(text) % 8] = 1.0
            out[row, len(text) % 8] += 0.5
        return out


def test_encoder_embeds_each_text_once() -> None:
    counting = _CountingEncode()
    dense = DenseTurns(CachedEncoder(counting))
    shared = [EvalTurn(f"inter-{i}", "user", f"distractor number {i}") for i in range(50)]
    for user in ("a", "b", "c"):
        dense.ingest(user, [EvalTurn("p", "user", f"preference of {user}"), *shared])
        assert len(dense.retrieve(user, "query", 3)) == 3
    assert len(counting.texts) == len(set(counting.texts)) == 50 + 3 + 1


@needs_data
def test_incremental_replay_matches_fresh_replay() -> None:
    items = load_items(DATA, topic_names=["shop_motors"], limit=2)
    inter = load_inter_turns(DATA)
    inc = run_prefeval(items, inter, [BM25Turns()], [0, 10, 70], progress=False)
    fresh = run_prefeval(
        items, inter, [BM25Turns()], [0, 10, 70], incremental=False, progress=False
    )
    assert [o.retrieved_ids for o in inc] == [o.retrieved_ids for o in fresh]
    assert [o.setting for o in inc] == [0, 10, 70] * len(items)
