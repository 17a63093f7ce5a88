"""Fusion of the retrievers' candidate lists.

Similarity fusion is the default: reciprocal rank fusion needs no score calibration, but it
throws away the score gaps the vector retriever carries, so on PrefEval (300 distractor turns)
small keyword and graph contributions reshuffle the semantic top hits and recall@1 falls from
0.85 to 0.71 (benchmarks/results/fusion_ablation.json). RRF and weighted score fusion (min-max
normalised per list) stay selectable for corpora where the lexical signal is stronger."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def reciprocal_rank_fusion(
    ranked: Mapping[str, Sequence[str]], weights: Mapping[str, float], k: int = 60
) -> dict[str, float]:
    fused: dict[str, float] = {}
    for name, ids in ranked.items():
        w = weights.get(name, 1.0)
        for rank, cid in enumerate(ids, start=1):
            fused[cid] = fused.get(cid, 0.0) + w / (k + rank)
    return fused


def weighted_score_fusion(
    scored: Mapping[str, Mapping[str, float]], weights: Mapping[str, float]
) -> dict[str, float]:
    fused: dict[str, float] = {}
    for name, scores in scored.items():
        if not scores:
            continue
        lo, hi = min(scores.values()), max(scores.values())
        w = weights.get(name, 1.0)
        for cid, s in scores.items():
            norm = (s - lo) / (hi - lo) if hi > lo else 1.0  # a lone or tied list counts fully
            fused[cid] = fused.get(cid, 0.0) + w * norm
    return fused


def similarity_fusion(
    cosine: Mapping[str, float],
    scored: Mapping[str, Mapping[str, float]],
    weights: Mapping[str, float],
) -> dict[str, float]:
    """Every candidate, whoever found it, scored by its cosine similarity to the query (computed
    in the database) plus the weighted, max-normalised score of each lexical/graph retriever
    that found it."""
    w_vec = weights.get("vector", 1.0)
    fused = {cid: w_vec * cos for cid, cos in cosine.items()}
    for name, scores in scored.items():
        top = max(scores.values(), default=0.0)
        if top <= 0:
            continue
        w = weights.get(name, 1.0)
        for cid, s in scores.items():
            fused[cid] = fused.get(cid, 0.0) + w * max(s, 0.0) / top
    return fused
