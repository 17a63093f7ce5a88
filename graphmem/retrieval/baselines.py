"""In-process rankers: BM25 (rank-bm25) and brute-force dense cosine, the one implementation
of each. The product's baseline recipes rank the actor's readable cubes with them (so a
benchmark can put them beside the database retrievers on identical memory), and the
benchmarks' raw-turn baselines (graphmem.eval.baselines) rank turns with them.

rank-bm25 belongs to the `eval` extra: it is imported when a BM25 ranking is asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from graphmem.errors import InvalidInput
from graphmem.store.protocol import StoredCube
from graphmem.text import bm25_tokens


class Bm25Index:
    """BM25 over tokenised documents, built once and queried many times.

    Only documents sharing a term with the query are returned by top(): Okapi's IDF turns
    negative for a term in more than half of a tiny corpus, so "score > 0" would drop the one
    relevant document; term overlap is the honest "matched at all" test."""

    def __init__(self, docs: Sequence[list[str]],
                 variant: Literal["okapi", "plus"] = "okapi") -> None:
        try:
            from rank_bm25 import BM25Okapi, BM25Plus
        except ImportError as exc:  # pragma: no cover - the eval extra is missing
            raise InvalidInput("BM25 baselines need rank-bm25: pip install graphmem[eval]") from exc
        self.docs = list(docs)
        # rank-bm25 divides by the mean document length; an all-stopword document has none.
        model = BM25Plus if variant == "plus" else BM25Okapi
        self._model: Any = model([d or ["\x00"] for d in self.docs])

    def scores(self, query: list[str]) -> NDArray[np.float64]:
        return np.asarray(self._model.get_scores(query), dtype=np.float64)

    def top(self, query: list[str], k: int) -> list[tuple[int, float]]:
        """(document index, score) of the best k documents that share a term with the query."""
        if not query or not self.docs:
            return []
        scores = self.scores(query)
        wanted = set(query)
        order = [int(i) for i in np.argsort(-scores, kind="stable")
                 if wanted.intersection(self.docs[i])]
        return [(i, float(scores[i])) for i in order[:k]]


def cosine_top(query: Sequence[float] | NDArray[Any], matrix: NDArray[Any],
               k: int) -> list[tuple[int, float]]:
    """(row index, cosine) of the k rows of `matrix` nearest the query."""
    if matrix.shape[0] == 0:
        return []
    q = np.asarray(query, dtype=np.float64)
    mat = np.asarray(matrix, dtype=np.float64)
    sims = mat @ q / (np.linalg.norm(mat, axis=1) * (np.linalg.norm(q) or 1.0) + 1e-12)
    order = np.argsort(-sims, kind="stable")[:k]
    return [(int(i), float(sims[i])) for i in order]


def bm25_rank(query: str, cubes: Sequence[StoredCube], k: int) -> list[StoredCube]:
    index = Bm25Index([bm25_tokens(c.props.get("text", "")) for c in cubes])
    return [replace(cubes[i], score=score) for i, score in index.top(bm25_tokens(query), k)]


def dense_rank(query_vector: Sequence[float], cubes: Sequence[StoredCube],
               k: int) -> list[StoredCube]:
    with_vectors = [c for c in cubes if c.embedding]
    if not with_vectors:
        return []
    matrix = np.asarray([c.embedding for c in with_vectors], dtype=np.float64)
    return [replace(with_vectors[i], score=sim, similarity=(1.0 + sim) / 2.0)
            for i, sim in cosine_top(query_vector, matrix, k)]
