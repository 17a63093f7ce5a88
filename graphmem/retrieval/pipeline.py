"""HybridRetriever: runs the enabled retrievers (each a Cypher file), fuses, boosts, optionally
reranks and diversifies, and packs the result into the token budget.

The graph walk runs last so it can start from the entities of the other retrievers' best hits
as well as from the entities named in the query.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from graphmem.embeddings import Embedder
from graphmem.models import SEARCHABLE_STATUSES, SearchHit
from graphmem.records import cube_from_stored
from graphmem.retrieval import baselines, fusion, intent, lucene
from graphmem.retrieval.channels import BY_NAME, CHANNELS, GRAPH_CHANNELS, Channel
from graphmem.retrieval.config import SearchConfig
from graphmem.retrieval.packing import Chunk, pack
from graphmem.retrieval.rank import PRIORITY_BONUS, mmr, recency_factor
from graphmem.store.protocol import ChannelQuery, ChannelRows, SearchStore, StoredCube

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder

T = TypeVar("T")


@dataclass
class RetrievalResult:
    hits: list[SearchHit]
    chunks: list[Chunk]
    timings_ms: dict[str, float] = field(default_factory=dict)
    per_retriever: dict[str, list[str]] = field(default_factory=dict)


class HybridRetriever:
    def __init__(self, store: SearchStore, embedder: Embedder) -> None:
        self._store = store
        self._embedder = embedder
        self._cross_encoders: dict[str, CrossEncoder] = {}
        # The reader's names are read here while the query is embedded, and one of the two
        # channel transactions runs here; a search uses one thread at a time, so four let four
        # concurrent searches (a server's request threads) go on without waiting for each other.
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="retriever")

    def search(
        self,
        actor: str,
        query: str,
        config: SearchConfig,
        *,
        limit: int,
        owner: str | None = None,
        kinds: list[str] | None = None,
        now: datetime | None = None,
    ) -> RetrievalResult:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        config = config.for_query(query)
        base: dict[str, Any] = {
            "owner": owner,
            "kinds": kinds,
            "statuses": list(SEARCHABLE_STATUSES),
            "include_superseded": config.include_superseded,
            "with_embedding": config.mmr_lambda is not None,
        }
        if config.baseline is not None:
            return self._baseline(actor, query, config.baseline, base, limit, config, t0,
                                  timings)
        results: dict[str, list[StoredCube]] = {}
        terms = lucene.term_query(query)
        needs_embedding = config.vector.enabled or config.preferences.enabled or (
            config.fusion == "similarity" and len(config.enabled()) > 1)
        if needs_embedding:
            base["embedding"] = self._query_vector(actor, query, config)
            timings["embed"] = _ms(t0)
        else:
            base["embedding"] = None
        # The walk runs after the other channels only when it is seeded from their top hits.
        seeded_walk = config.graph_seed_from_top > 0
        runnable = [c for c in CHANNELS if config.channel(c.name).enabled and c.applies(
            terms=terms, has_embedding=base["embedding"] is not None, kinds=kinds)
            and not (c.name in GRAPH_CHANNELS and seeded_walk)]
        ranking: dict[str, Any] = {}

        def choose() -> list[str]:
            """Rank what the channels found; the ids of the hits to read whole."""
            t1 = time.perf_counter()
            ranked = self._rank(results, config, query, now or datetime.now(UTC))
            candidate = {c.props["id"]: c for rows in results.values() for c in rows}
            if config.preference_slots:
                ranked = _reserve(ranked, limit, config.preference_slots,
                                  lambda r: candidate[r[0]].props.get("kind") == "preference")
            timings["rank"] = _ms(t1)
            ranking.update(ranked=ranked, candidate=candidate)
            return [cid for cid, _ in ranked[:limit]]

        # Whole cubes only for the hits returned (channel rows carry what ranking reads), read
        # by the vector channels' thread once every channel is in; a cube deleted or made
        # unreadable since its channel ran is dropped here.
        walks = [BY_NAME[n] for n in sorted(GRAPH_CHANNELS) if config.channel(n).enabled]
        if walks and seeded_walk:
            self._run_channels(actor, runnable, base, config, terms, [], results, timings)
            seeds = _top_ids(results, config.graph_seed_from_top)
            if terms or seeds:
                self._run_channels(actor, walks, base, config, terms, seeds, results, timings)
            whole = self._store.get_cubes(actor, choose())
        else:
            whole = self._run_channels(actor, runnable, base, config, terms, [], results,
                                       timings, choose=choose)
        ranked: list[tuple[str, float]] = ranking["ranked"]
        candidate: dict[str, StoredCube] = ranking["candidate"]
        chunks = pack([(cid, candidate[cid].props.get("text", "")) for cid, _ in ranked],
                      config.top_k_chunks, config.chunk_tokens)
        full = {c.props["id"]: c for c in whole}
        hits = [self._hit(cid, score, results, full) for cid, score in ranked[:limit]
                if cid in full]
        timings["total"] = _ms(t0)
        return RetrievalResult(
            hits=hits,
            chunks=chunks,
            timings_ms=timings,
            per_retriever={n: [c.props["id"] for c in rows] for n, rows in results.items()},
        )

    def _query_vector(self, actor: str, query: str, config: SearchConfig) -> list[float]:
        """The query's embedding; when it names the reader ("What did Caroline research?"
        asked by Caroline), the mean of it and of the first-person question ("What did I
        research?"), since memories are in the speaker's own words. The mean rather than
        either alone: on LoCoMo's development conversations it beat both (benchmarks/README.md)."""
        # The reader's names are read while the question is embedded (a round trip to Neo4j
        # hidden behind the CPU work); only a question that names the reader pays a second
        # embedding.
        names = self._pool.submit(self._store.reader_names, actor) \
            if config.resolve_reader_names else None
        vector = self._embedder.embed([query])[0]
        first_person = intent.as_first_person(query, names.result()) if names else None
        if first_person is None:
            return vector
        both = np.asarray([vector, self._embedder.embed([first_person])[0]], dtype=np.float64)
        mean = both.mean(axis=0)
        return [float(x) for x in mean / (np.linalg.norm(mean) or 1.0)]

    def _baseline(self, actor: str, query: str, kind: str, base: dict[str, Any], limit: int,
                  config: SearchConfig, t0: float, timings: dict[str, float]
                  ) -> RetrievalResult:
        (loaded,) = self._store.retrieve(
            actor, [ChannelQuery("readable_cubes", {**base, "embedding": None})])
        cubes = loaded.rows
        timings["load"] = _ms(t0)
        if kind == "bm25":
            ranked = baselines.bm25_rank(query, cubes, limit)
        else:
            ranked = baselines.dense_rank(self._embedder.embed([query])[0], cubes, limit)
        name = f"baseline_{kind}"
        hits = [SearchHit(cube=cube_from_stored(c), score=c.score or 0.0,
                          scores={name: c.score or 0.0},
                          explanation=f"{name} #{i} ({c.score or 0.0:.2f})")
                for i, c in enumerate(ranked, start=1)]
        timings["total"] = _ms(t0)
        chunks = pack([(h.cube.id, h.cube.text) for h in hits], config.top_k_chunks,
                      config.chunk_tokens)
        return RetrievalResult(hits=hits, chunks=chunks, timings_ms=timings,
                               per_retriever={name: [h.cube.id for h in hits]})

    def _run_channels(self, actor: str, channels: list[Channel], base: dict[str, Any],
                      config: SearchConfig, terms: str, seeds: list[str],
                      results: dict[str, list[StoredCube]], timings: dict[str, float],
                      choose: Callable[[], list[str]] | None = None) -> list[StoredCube]:
        """Two read statements side by side (each a group of channels, the store's
        `retrieve`): the vector-index channels in this thread, the lexical and graph ones in the
        pool. On two cores shared with Neo4j this beat both one transaction per channel (four
        side by side) and all four in one (benchmarks/README.md, "Search and add: where the
        time went").

        With `choose`, once every channel is in it ranks them and names the hits, which this
        thread then reads whole in the same session."""
        groups = [g for g in ([c for c in channels if c.needs_embedding],
                              [c for c in channels if not c.needs_embedding]) if g]
        queries = [[ChannelQuery(c.name, self._params(c, base, config, terms, seeds), c.ann)
                    for c in group] for group in groups]
        later = [self._pool.submit(self._store.retrieve, actor, q) for q in queries[1:]]

        def gather(first: list[ChannelRows]) -> None:
            outs = [first, *(f.result() for f in later)]
            for group, rows in zip(groups, outs, strict=True):
                for channel, out in zip(group, rows, strict=True):
                    results[channel.name] = out.rows
                    timings[channel.name] = out.ms

        if not queries:
            return self._store.get_cubes(actor, choose()) if choose else []
        if choose is None:
            gather(self._store.retrieve(actor, queries[0]))
            return []

        def pick(first: list[ChannelRows]) -> list[str]:
            gather(first)
            return choose()

        return self._store.retrieve_then_read(actor, queries[0], pick)

    @staticmethod
    def _params(channel: Channel, base: dict[str, Any], config: SearchConfig, terms: str,
                seeds: list[str]) -> dict[str, Any]:
        params = {**base, **channel.params(config.channel(channel.name).candidates),
                  "terms": terms}
        if channel.name in GRAPH_CHANNELS:
            params.update(entity_terms=terms, seed_cubes=seeds, max_seeds=config.max_seeds,
                          seed_cube_weight=0.5, fanout=config.graph_fanout)
        return params

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _rank(self, results: dict[str, list[StoredCube]], config: SearchConfig, query: str,
              now: datetime) -> list[tuple[str, float]]:
        weights = {n: config.channel(n).weight for n in results}
        if len(results) == 1:
            # One retriever: its own order is the answer, nothing to fuse.
            (rows,) = results.values()
            fused = {c.props["id"]: c.score or 0.0 for c in rows}
        elif config.fusion == "similarity":
            fused = fusion.similarity_fusion(
                {c.props["id"]: 2.0 * c.similarity - 1.0 for rows in results.values()
                 for c in rows if c.similarity is not None},
                {n: {c.props["id"]: c.score or 0.0 for c in rows} for n, rows in results.items()
                 if not BY_NAME[n].similarity},
                weights)
        elif config.fusion == "rrf":
            fused = fusion.reciprocal_rank_fusion(
                {n: [c.props["id"] for c in rows] for n, rows in results.items()},
                weights, config.rrf_k)
        else:
            fused = fusion.weighted_score_fusion(
                {n: {c.props["id"]: c.score or 0.0 for c in rows} for n, rows in results.items()},
                weights)
        props = {c.props["id"]: {**c.props, "_episode_ids": c.episode_ids}
                 for rows in results.values() for c in rows}
        named = intent.named_in(query, {n for p in props.values()
                                        for n in (p.get("owner"), p.get("speaker")) if n}) \
            if config.owner_named_boost else set()
        wanted = intent.categories_called_for(query) if config.category_boost else frozenset()
        for cid in fused:
            p = props[cid]
            fused[cid] += config.kind_boost.get(p.get("kind", ""), 0.0)
            if p.get("category") in wanted:
                fused[cid] += config.category_boost
            if named and (p.get("owner") in named or p.get("speaker") in named):
                fused[cid] += config.owner_named_boost
            boost = config.priority_weight * PRIORITY_BONUS.get(p.get("priority", "mid"), 0.0)
            if config.recency_half_life_days:
                boost += config.recency_weight * recency_factor(
                    p.get("created_at"), now, config.recency_half_life_days)
            fused[cid] *= 1.0 + boost
        order = _spread_sources(sorted(fused, key=lambda c: (-fused[c], c)), props)
        if config.rerank == "cross-encoder" and config.rerank_model:
            order = self._cross_rerank(query, order, props, config.rerank_model)
            fused = {c: 1.0 / (i + 1) for i, c in enumerate(order)}
        if config.mmr_lambda is not None:
            vectors = {c.props["id"]: c.embedding for rows in results.values() for c in rows
                       if c.embedding}
            order = mmr(order, fused, vectors, config.mmr_lambda, len(order))
        return [(c, fused[c]) for c in order]

    def _cross_rerank(self, query: str, order: Sequence[str], props: dict[str, Any],
                      model: str) -> list[str]:
        """Rerank with a local cross-encoder (a directory; nothing is downloaded)."""
        encoder = self._cross_encoders.get(model)
        if encoder is None:
            from sentence_transformers import CrossEncoder

            encoder = CrossEncoder(model, device="cpu")
            self._cross_encoders[model] = encoder
        scores = encoder.predict([(query, props[c]["text"]) for c in order])
        return [c for _, c in sorted(zip(scores, order, strict=True), key=lambda t: -t[0])]

    def _hit(self, cid: str, score: float, results: dict[str, list[StoredCube]],
             by_id: dict[str, StoredCube]) -> SearchHit:
        scores: dict[str, float] = {"fused": score}
        why: list[str] = []
        for name, rows in results.items():
            for rank, row in enumerate(rows, start=1):
                if row.props["id"] == cid:
                    scores[name] = row.score or 0.0
                    detail = f"{BY_NAME[name].label} #{rank} ({row.score or 0.0:.2f})"
                    if name in GRAPH_CHANNELS and row.vias:
                        detail += " via " + ", ".join(row.vias[:2])
                    why.append(detail)
                    break
        return SearchHit(cube=cube_from_stored(by_id[cid]), score=score, scores=scores,
                         explanation=" + ".join(why))


def reserve_slots(hits: list[SearchHit], limit: int, slots: int, kind: str) -> list[SearchHit]:
    """Make sure the first `limit` hits hold at least `slots` cubes of `kind` when there are
    that many: the best-ranked ones below the cut move up, each taking the place of the
    lowest-ranked hit of another kind inside it. Order is otherwise kept."""
    return _reserve(hits, limit, slots, lambda h: h.cube.meta.kind == kind)


def _reserve(items: list[T], limit: int, slots: int, wanted: Callable[[T], bool]) -> list[T]:
    top, rest = items[:limit], items[limit:]
    have = sum(wanted(x) for x in top)
    promote = [x for x in rest if wanted(x)][: max(slots - have, 0)]
    for item in promote:
        victim = max((i for i, x in enumerate(top) if not wanted(x)), default=None)
        if victim is None:
            break
        rest.insert(0, top.pop(victim))
        top.append(item)
        rest.remove(item)
    return top + rest


def _spread_sources(order: list[str], props: dict[str, Any]) -> list[str]:
    """Demote an episode cube whose turn is already represented by a higher-ranked memory
    extracted from it (and vice versa), so the top of the list covers more distinct turns."""
    seen: set[str] = set()
    first: list[str] = []
    later: list[str] = []
    for cid in order:
        sources = set(props[cid].get("_episode_ids") or [])
        if sources and sources <= seen:
            later.append(cid)
        else:
            first.append(cid)
            seen |= sources
    return first + later


def _top_ids(results: dict[str, list[StoredCube]], n: int) -> list[str]:
    ids: list[str] = []
    for rows in results.values():
        for row in rows[:n]:
            if row.props["id"] not in ids:
                ids.append(row.props["id"])
    return ids


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
