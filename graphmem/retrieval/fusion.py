"""Rank fusion. Reciprocal rank fusion needs no score calibration across retrievers, which is
why it is the default; weighted score fusion min-max normalises each list first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


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
    query: Sequence[float],
    vectors: Mapping[str, Sequence[float]],
    scored: Mapping[str, Mapping[str, float]],
    weights: Mapping[str, float],
) -> dict[str, float]:
    """Every candidate, whoever found it, scored by cosine similarity to the query plus the
    weighted, max-normalised score of each lexical/graph retriever that found it."""
    ids = list(vectors)
    fused: dict[str, float] = {}
    if ids:
        mat = np.asarray([vectors[c] for c in ids], dtype=np.float64)
        q = np.asarray(query, dtype=np.float64)
        sims = mat @ q / (np.linalg.norm(mat, axis=1) * (np.linalg.norm(q) or 1.0) + 1e-12)
        fused = {c: weights.get("vector", 1.0) * float(s) for c, s in zip(ids, sims, strict=True)}
    for name, scores in scored.items():
        top = max(scores.values(), default=0.0)
        if top <= 0:
            continue
        w = weights.get(name, 1.0)
        for cid, s in scores.items():
            fused[cid] = fused.get(cid, 0.0) + w * max(s, 0.0) / top
    return fused
