"""Hybrid retrieval: vector + BM25 + graph walk, fused, reranked, packed into a token budget."""

from graphmem.retrieval.config import RECIPES, RetrieverConfig, SearchConfig
from graphmem.retrieval.packing import Chunk
from graphmem.retrieval.pipeline import HybridRetriever, RetrievalResult

__all__ = [
    "RECIPES",
    "Chunk",
    "HybridRetriever",
    "RetrievalResult",
    "RetrieverConfig",
    "SearchConfig",
]
