"""In-process baselines over the same cubes the Neo4j retrievers search: rank-bm25 (Okapi) and
brute-force dense cosine. They load the actor's readable cubes and rank them in Python, so a
benchmark can put them beside the database retrievers on identical memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from rank_bm25 import BM25Okapi

from graphmem.retrieval.lucene import terms
from graphmem.store.protocol import StoredCube


def bm25_rank(query: str, cubes: Sequence[StoredCube], k: int) -> list[StoredCube]:
    words = terms(query)
    if not cubes or not words:
        return []
    corpus = [terms(c.props.get("text", ""), limit=10_000) or ["_"] for c in cubes]
    scores = BM25Okapi(corpus).get_scores(words)
    order = np.argsort(-scores, kind="stable")[:k]
    return [replace(cubes[i], score=float(scores[i])) for i in order
            if set(words) & set(corpus[i])]


def dense_rank(query_vector: Sequence[float], cubes: Sequence[StoredCube],
               k: int) -> list[StoredCube]:
    with_vectors = [c for c in cubes if c.embedding]
    if not with_vectors:
        return []
    mat = np.asarray([c.embedding for c in with_vectors], dtype=np.float64)
    q = np.asarray(query_vector, dtype=np.float64)
    sims = mat @ q / (np.linalg.norm(mat, axis=1) * (np.linalg.norm(q) or 1.0) + 1e-12)
    order = np.argsort(-sims, kind="stable")[:k]
    return [replace(with_vectors[i], score=float(sims[i]),
                    similarity=(1.0 + float(sims[i])) / 2.0) for i in order]
