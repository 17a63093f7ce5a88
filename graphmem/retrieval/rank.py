"""Post-fusion ranking: recency and priority boosts, then MMR for diversity."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np

PRIORITY_BONUS = {"high": 1.0, "mid": 0.0, "low": -1.0}


def recency_factor(created: datetime | None, now: datetime, half_life_days: float) -> float:
    """1.0 for a memory made now, 0.5 one half-life ago; undated memories count as old."""
    if created is None:
        return 0.0
    age_days = max((now - created).total_seconds() / 86400.0, 0.0)
    return math.pow(0.5, age_days / half_life_days)


def mmr(
    order: Sequence[str],
    relevance: Mapping[str, float],
    vectors: Mapping[str, Sequence[float]],
    lam: float,
    limit: int,
) -> list[str]:
    """Maximal marginal relevance: trade relevance against similarity to what is already
    chosen, so near-duplicate memories do not fill the budget. Items without a vector keep
    their place in relevance order."""
    if not order:
        return []
    rel = np.array([relevance[c] for c in order], dtype=np.float64)
    span = float(rel.max() - rel.min()) or 1.0
    rel = (rel - rel.min()) / span
    has_vec = [c in vectors for c in order]
    dim = len(next(iter(vectors.values()))) if vectors else 1
    mat = np.array([vectors[c] if c in vectors else [0.0] * dim for c in order],
                   dtype=np.float64)
    norms = np.linalg.norm(mat, axis=1, keepdims=True)
    mat = mat / np.where(norms == 0, 1.0, norms)
    chosen: list[int] = []
    remaining = list(range(len(order)))
    while remaining and len(chosen) < limit:
        best, best_score = remaining[0], -math.inf
        for i in remaining:
            penalty = 0.0
            if chosen and has_vec[i]:
                penalty = max(float(mat[i] @ mat[j]) for j in chosen if has_vec[j]) \
                    if any(has_vec[j] for j in chosen) else 0.0
            score = lam * rel[i] - (1 - lam) * penalty
            if score > best_score:
                best, best_score = i, score
        chosen.append(best)
        remaining.remove(best)
    return [order[i] for i in chosen]
