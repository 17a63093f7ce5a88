"""The retrieval channels, one entry each: adding a channel is one Channel here, its Cypher
file under cypher/search/, and its RetrieverConfig field on SearchConfig.

A channel says what it needs (query terms, the query embedding), how many rows to fetch for
k candidates, whether its rows are ranked by their cosine to the query (similarity channels:
their own score is that cosine) or carry a score of their own (lexical, graph), and whether
it reads a vector index shared by all users (then the store over-fetches, widens, and falls
back to search/<name>_exact.cypher when the ACL leaves fewer than k rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

RetrieverName = Literal["vector", "fulltext", "graph_walk", "graph_ppr", "preferences",
                        "readable_cubes"]


@dataclass(frozen=True)
class Channel:
    name: RetrieverName  # the Cypher file (search/<name>.cypher) and the SearchConfig field
    label: str  # how an explanation names it
    similarity: bool = False
    ann: bool = False
    fetch_multiplier: int = 1  # rows fetched per candidate kept (over-fetch before the ACL)
    max_fetch: int | None = None
    needs_terms: bool = False
    needs_embedding: bool = False
    only_kind: str | None = None  # runs only when the search may return this kind

    def applies(self, *, terms: str, has_embedding: bool, kinds: list[str] | None) -> bool:
        return ((terms or not self.needs_terms) and (has_embedding or not self.needs_embedding)
                and (self.only_kind is None or kinds is None or self.only_kind in kinds))

    def params(self, k: int) -> dict[str, Any]:
        out: dict[str, Any] = {"k": k, "candidates": k * self.fetch_multiplier}
        if self.max_fetch is not None:
            out["max_candidates"] = self.max_fetch
        return out


CHANNELS: tuple[Channel, ...] = (
    Channel("vector", "vector", similarity=True, ann=True, fetch_multiplier=5, max_fetch=5000,
            needs_embedding=True),
    Channel("fulltext", "bm25", fetch_multiplier=10, needs_terms=True),
    # The walk starts from the query's entities, or (graph_seed_from_top) from the other
    # channels' best hits, in which case it runs after them.
    Channel("graph_walk", "graph", needs_terms=True),
    # The same walk scored as truncated personalized PageRank (mass split by degree).
    Channel("graph_ppr", "graph-ppr", needs_terms=True),
    Channel("preferences", "preference", similarity=True, ann=True, fetch_multiplier=5,
            max_fetch=5000, needs_embedding=True, only_kind="preference"),
)
BY_NAME: dict[str, Channel] = {c.name: c for c in CHANNELS}
GRAPH_CHANNELS = frozenset({"graph_walk", "graph_ppr"})
