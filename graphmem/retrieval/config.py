"""Retrieval is configured by data: a SearchConfig, usually one of the named RECIPES."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from graphmem.retrieval import intent
from graphmem.retrieval.channels import CHANNELS, RetrieverName

# A request for a recommendation runs with PrefEval's recipe: the vector retriever leads (10
# candidates, BM25 at 0.05) and preference cubes get +0.15, so the asker's stated preference
# outranks the semantically closer chit-chat (recall@5 at 300 distractor turns 0.94 -> 0.97).
PREFERENCE_ROUTE: dict[str, Any] = {
    "vector": {"candidates": 10},
    "fulltext": {"weight": 0.05, "candidates": 20},
    "kind_boost": {"preference": 0.15},
}



class RetrieverConfig(BaseModel):
    enabled: bool = True
    weight: float = Field(default=1.0, ge=0.0)
    candidates: int = Field(default=30, ge=1, le=1000)


class SearchConfig(BaseModel):
    """How one search runs. Chunk defaults follow the MemOS paper's best setting (3 chunks of
    ~512 tokens).

    Fusion modes: "similarity" (default) treats the retrievers as candidate generators and
    scores every candidate the same way: its cosine similarity to the query plus each
    retriever's normalised score times its weight, so a keyword or graph match lifts a memory
    that is also semantically close but cannot carry one that is not. "rrf" is reciprocal rank
    fusion (k=60, Cormack et al.); "weighted" sums min-max normalised scores."""

    # Questions about what someone did or said (LoCoMo) restate the words of the turn that
    # answers them, or of its neighbours (a raw turn's search text holds them): BM25 weighs half
    # as much as the cosine and both bring 30 candidates. BM25 at full weight with 50 each gains
    # a point of LoCoMo recall@10 but lets one stemmed word outrank the answer ("What is Maya
    # training for?" → "... take the train down"); benchmarks/README.md has both.
    # Requests for a suggestion get the vector-led recipe tuned on PrefEval instead
    # (PREFERENCE_ROUTE).
    vector: RetrieverConfig = RetrieverConfig(weight=1.0, candidates=30)
    fulltext: RetrieverConfig = RetrieverConfig(weight=0.5, candidates=30)
    graph_walk: RetrieverConfig = RetrieverConfig(weight=0.05, candidates=20)
    graph_ppr: RetrieverConfig = Field(
        default=RetrieverConfig(enabled=False, weight=0.05, candidates=20),
        description="the walk scored as personalized PageRank (cypher/search/graph_ppr): off "
        "by default, measured against the BFS walk in benchmarks/README.md")
    preferences: RetrieverConfig = Field(
        default=RetrieverConfig(enabled=True, weight=0.0, candidates=3),
        description="preference channel: the reader's preference cubes nearest the query "
        "(their own vector index), so a stated preference competes even when many other "
        "memories are semantically closer to the question; ranked like every candidate")
    preference_slots: int = Field(
        default=0, ge=0,
        description="reserve up to this many of the top-k results for the best-ranked "
        "preference cubes (a personalised answer needs the user's preferences in context)")
    fusion: Literal["similarity", "rrf", "weighted"] = "similarity"
    rrf_k: int = Field(default=60, ge=1)
    graph_seed_from_top: int = Field(
        default=0, ge=0,
        description="also seed the walk from the entities of the other retrievers' top N hits "
        "(the walk then runs after them instead of beside them)")
    max_seeds: int = Field(default=5, ge=1)
    graph_fanout: int = Field(default=50, ge=1, description="nodes per hop and seed in the walk")
    mmr_lambda: float | None = Field(
        default=None, ge=0.0, le=1.0, description="1 = pure relevance; None = MMR off")
    recency_half_life_days: float | None = Field(default=None, gt=0)
    recency_weight: float = Field(default=0.1, ge=0.0)
    priority_weight: float = Field(default=0.05, ge=0.0)
    kind_boost: dict[str, float] = Field(
        default_factory=dict,
        description="added to a candidate's fused score by cube kind, e.g. distilled "
        "preferences over raw episode turns")
    for_preference_questions: dict[str, Any] | None = Field(
        default_factory=lambda: dict(PREFERENCE_ROUTE),
        description="fields that replace this config's (nested ones merged) when the query "
        "asks for a recommendation or the asker's preferences (graphmem.retrieval.intent); "
        "None: every query runs with this config")
    owner_named_boost: float = Field(
        default=0.3, ge=0.0,
        description="added to a candidate's fused score when the query names the candidate's "
        "owner (\"What did Caroline research?\" over Caroline's own memories and a friend's "
        "account of them): a question about someone is first answered by what they said")
    category_boost: float = Field(
        default=0.5, ge=0.0,
        description="added to memories of the categories the query calls for "
        "(graphmem.retrieval.intent.categories_called_for): diet and allergies for a food "
        "request, stated goals for a question about someone's aims")
    resolve_reader_names: bool = Field(
        default=True, description="a query naming the reader (its id's name or a name its "
        "messages carried) is also embedded in the first person (graphmem.retrieval.intent)")
    include_superseded: bool = False
    rerank: Literal["none", "cross-encoder"] = "none"
    rerank_model: str | None = None
    baseline: Literal["bm25", "dense"] | None = Field(
        default=None, description="rank in process (rank-bm25 / brute-force dense) instead of "
        "the Neo4j retrievers, over the same readable cubes: for benchmarks")
    top_k_chunks: int = Field(default=3, ge=1)
    chunk_tokens: int = Field(default=512, ge=16)

    def channel(self, name: str) -> RetrieverConfig:
        config: RetrieverConfig = getattr(self, name)
        return config

    @model_validator(mode="after")
    def _route_is_valid(self) -> SearchConfig:
        if self.for_preference_questions is not None:
            self._routed()
        return self

    def for_query(self, query: str) -> SearchConfig:
        """The config ``query`` runs with. A request for a suggestion rarely shares words with
        the preference that answers it ("Can you suggest some PC games?" / "I can't stand
        violent games") and wants the asker's preferences first; a question about what
        someone did restates the words of the turn that answers it ("When did Caroline go to
        the support group?"), where keyword evidence counts and a preference lift misleads."""
        if self.for_preference_questions is None or not intent.asks_for_preference(query):
            return self
        return self._routed()

    def _routed(self) -> SearchConfig:
        base = self.model_dump(exclude={"for_preference_questions"})
        merged = _merged(base, self.for_preference_questions or {})
        return SearchConfig.model_validate({**merged, "for_preference_questions": None})

    def enabled(self) -> list[RetrieverName]:
        return [c.name for c in CHANNELS if self.channel(c.name).enabled]


def _merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` laid over it, nested dicts merged key by key."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "kind_boost":
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def _only(name: RetrieverName) -> SearchConfig:
    cfg = SearchConfig(for_preference_questions=None)
    for other in CHANNELS:
        setattr(cfg, other.name, cfg.channel(other.name).model_copy(
            update={"enabled": other.name == name}))
    cfg.graph_seed_from_top = 0
    return cfg


RECIPES: dict[str, SearchConfig] = {
    "hybrid": SearchConfig(),
    # The default before routing: PrefEval's recipe for every query (kept for comparison).
    "hybrid_prefeval": SearchConfig(
        vector=RetrieverConfig(weight=1.0, candidates=10),
        fulltext=RetrieverConfig(weight=0.05, candidates=20),
        kind_boost={"preference": 0.15}, for_preference_questions=None),
    "hybrid_rrf": SearchConfig(fusion="rrf", fulltext=RetrieverConfig(weight=1.0),
                               graph_walk=RetrieverConfig(weight=0.5, candidates=20)),
    "hybrid_mmr": SearchConfig(mmr_lambda=0.7),
    "fast": SearchConfig(graph_walk=RetrieverConfig(enabled=False)),
    # Personalised answers: the reader's preferences nearest the question compete as their own
    # channel and hold two of the top-k places (benchmarks/fusion_ablation.py measures it).
    "personal": SearchConfig(preferences=RetrieverConfig(weight=0.0, candidates=5),
                             preference_slots=2),
    "vector": _only("vector"),
    "bm25": _only("fulltext"),
    "graph": _only("graph_walk"),
    "graph_ppr": _only("graph_ppr"),
    "preferences": _only("preferences").model_copy(
        update={"preferences": RetrieverConfig(weight=0.0, candidates=10)}),
    "baseline_bm25": SearchConfig(baseline="bm25"),
    "baseline_dense": SearchConfig(baseline="dense"),
}
