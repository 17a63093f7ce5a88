"""Graphiti peer worker: graphiti-core on a dedicated Neo4j 5.26, behind the JSON-lines
protocol (protocol.md). Runs in its own virtualenv (requirements-graphiti.txt).

Graphiti's own ingestion (`add_episode`) extracts entities and facts with an LLM, which this
benchmark does not have. So each memory is written as the objects that pipeline would produce,
through graphiti-core's own bulk writer (`utils.bulk_utils.add_nodes_and_edges_bulk`, after
`build_indices_and_constraints()`): one `EntityEdge` per memory with fact = the memory text,
fact_embedding = its vector, group_id = the user (`group_id()`: Graphiti accepts only
[A-Za-z0-9_-]; other user ids get a sanitised, hash-suffixed form), name "MEMORY_FACT", no
episodes, and attributes {"gm_id": id} (stored as a relationship property, returned with every
hit). Its uuid is uuid5(user, id), so equal item ids of two users never MERGE into one edge.

The edge's endpoints (EntityNodes with name embeddings, group_id = the user):
- item with `entities` [a, b, ...]: a -> b (the first two distinct names); with one name:
  user node -> a. Entity nodes are shared by name within the user (uuid5(user, lower(name))),
  so memories about the same entity meet at one node, as Graphiti's entity resolution would
  make them, and BFS has real neighbourhoods to walk.
- item without entities: user node -> a node of its own named with the memory text (its name
  embedding is the fact's vector: same text). The user node (name = the user id) is then a
  hub for all such memories, as the speaker's node is in a real Graphiti graph.

Embeddings: GraphMem's ONNX MiniLM (common.load_encoder) as Graphiti's EmbedderClient, so
Graphiti embeds its own queries at search time. Via "api", the ingest embeds facts and new
node names with that client's create_batch; via "bulk", facts use the given vectors and only
new entity/user names are embedded (cached per name).

LLM and cross-encoder: Graphiti's constructor builds OpenAI clients unless given some; it gets
objects whose every method raises, so any hidden call would fail loudly. None of the modes
below calls them.

Search modes (all on one persistent event loop):
- "default": what `Graphiti.search(query, group_ids=[user], num_results=limit)` runs, the
  EDGE_HYBRID_SEARCH_RRF recipe: Lucene fulltext over edge name/fact + exact cosine over
  fact_embedding (a scan of the group's edges: graphiti creates no vector index on Neo4j;
  cosine floor 0.6), each 2*limit deep, fused by reciprocal rank. Called as
  `search_(query, config=<copy of that recipe, limit>)`, which is the same function on the
  same recipe, because `search` returns edges without their RRF scores and mutates the shared
  recipe object's limit.
- "bfs": the same plus EdgeSearchMethod.bfs: breadth-first expansion (depth 3 over
  RELATES_TO/MENTIONS) from the source nodes of the fulltext and cosine hits, its edges a
  third list in the RRF (the EDGE_HYBRID_SEARCH_CROSS_ENCODER recipe with RRF in place of the
  cross-encoder).
- "cosine" / "bm25": one leg alone, for diagnosis.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import sys
import uuid
from collections.abc import Coroutine, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

sys.path.append(str(Path(__file__).resolve().parents[2]))

os.environ["GRAPHITI_TELEMETRY_ENABLED"] = "false"
os.environ.setdefault("EMBEDDING_DIM", "384")  # only read for the zero vector of text-only search

from graphiti_core import Graphiti
from graphiti_core.cross_encoder.client import CrossEncoderClient
from graphiti_core.edges import EntityEdge
from graphiti_core.embedder.client import EmbedderClient
from graphiti_core.llm_client.client import LLMClient
from graphiti_core.nodes import EntityNode
from graphiti_core.search.search_config import (
    EdgeReranker,
    EdgeSearchConfig,
    EdgeSearchMethod,
    SearchConfig,
)
from graphiti_core.search.search_config_recipes import EDGE_HYBRID_SEARCH_RRF
from graphiti_core.utils.bulk_utils import add_nodes_and_edges_bulk

from benchmarks.peer_workers.common import (
    Encoder,
    Reply,
    Request,
    Stopwatch,
    load_encoder,
    rss_mb,
    serve_worker,
)

T = TypeVar("T")
NAMESPACE = uuid.UUID("6f1d7c2e-4a57-4d0b-9a59-0c6b3e2f9a11")
EDGE_NAME = "MEMORY_FACT"
SAVE_BATCH = 1000  # items per bulk-save transaction (bounds the server's transaction memory)
DELETE_BATCH = 5000


class OnnxEmbedder(EmbedderClient):
    """Graphiti's embedder interface over the shared encoder. `create` gets a string or a
    one-element list (search passes [query]) and returns one vector, as OpenAIEmbedder does."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder

    async def create(self, input_data: str | list[str] | Iterable[int] | Iterable[Iterable[int]],
                     ) -> list[float]:
        texts = [input_data] if isinstance(input_data, str) else [str(t) for t in input_data]
        return [float(x) for x in self.encoder.encode(texts[:1])[0]]

    async def create_batch(self, input_data_list: list[str]) -> list[list[float]]:
        return [[float(x) for x in row] for row in self.encoder.encode(list(input_data_list))]


def _refuse(what: str) -> NoReturn:
    raise RuntimeError(f"Graphiti called its {what}; this benchmark has none")


class NoLLM(LLMClient):
    """Satisfies the constructor; every generation raises."""

    def __init__(self) -> None:
        super().__init__(None)

    async def _generate_response(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        _refuse("LLM")

    async def generate_response(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        _refuse("LLM")


class NoCrossEncoder(CrossEncoderClient):
    async def rank(self, query: str, passages: list[str]) -> list[tuple[str, float]]:
        _refuse("cross-encoder")


def group_id(user: str) -> str:
    """The user's Graphiti group_id: the user id itself when Graphiti accepts it (ASCII
    letters, digits, '-', '_'), else a sanitised form made unique by a hash suffix."""
    if re.fullmatch(r"[A-Za-z0-9_-]+", user):
        return user
    digest = hashlib.sha256(user.encode()).hexdigest()[:10]
    return f"{re.sub(r'[^A-Za-z0-9_-]', '_', user)[:60]}-{digest}"


def _search_config(mode: str, limit: int) -> SearchConfig:
    if mode == "default":
        return EDGE_HYBRID_SEARCH_RRF.model_copy(deep=True, update={"limit": limit})
    methods = {
        "bfs": [EdgeSearchMethod.bm25, EdgeSearchMethod.cosine_similarity, EdgeSearchMethod.bfs],
        "cosine": [EdgeSearchMethod.cosine_similarity],
        "bm25": [EdgeSearchMethod.bm25],
    }.get(mode)
    if methods is None:
        raise ValueError(f"unknown mode {mode!r} (default, bfs, cosine, bm25)")
    return SearchConfig(edge_config=EdgeSearchConfig(search_methods=methods,
                                                     reranker=EdgeReranker.rrf), limit=limit)


class GraphitiWorker:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.graphiti: Graphiti | None = None
        self.encoder: Encoder | None = None
        self.embedder: OnnxEmbedder | None = None
        self.saved_nodes: set[str] = set()  # uuids of nodes already written since setup
        self.name_vectors: dict[str, list[float]] = {}

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    # --- ops ------------------------------------------------------------------------------

    def setup(self, req: Request) -> Reply:
        from importlib.metadata import version

        if self.encoder is None:
            self.encoder = load_encoder(req["graphmem_root"], req["model_dir"], req["cache_dir"])
            self.embedder = OnnxEmbedder(self.encoder)
        self.close()
        neo4j = req["neo4j"]
        self.graphiti = self.run(self._connect(neo4j["uri"], neo4j["user"], neo4j["password"]))
        self.run(self._delete_where("", {}))
        self.run(self.graphiti.build_indices_and_constraints())
        self.saved_nodes.clear()
        return {"version": version("graphiti-core")}

    def ingest(self, req: Request) -> Reply:
        via = req.get("via", "api")
        if via not in ("api", "bulk"):
            raise ValueError(f"unknown via {via!r}")
        user: str = req["user"]
        items: list[Request] = req["items"]
        with Stopwatch() as sw:
            for start in range(0, len(items), SAVE_BATCH):
                self.run(self._save(user, items[start:start + SAVE_BATCH], via == "bulk"))
        return {"seconds": sw.seconds, "count": len(items)}

    def search(self, req: Request) -> Reply:
        graphiti = self._graphiti()
        config = _search_config(req.get("mode", "default"), int(req.get("limit", 10)))
        with Stopwatch() as sw:
            found = self.run(graphiti.search_(req["query"], config=config,
                                              group_ids=[group_id(req["user"])]))
        scores = found.edge_reranker_scores
        results = [{"id": edge.attributes.get("gm_id"), "text": edge.fact,
                    "score": scores[i] if i < len(scores) else None}
                   for i, edge in enumerate(found.edges)]
        return {"ms": sw.seconds * 1000.0, "results": results}

    def reset(self, req: Request) -> Reply:
        self.run(self._delete_where("WHERE n.group_id = $group_id",
                                    {"group_id": group_id(req["user"])}))
        self.saved_nodes.clear()  # conservative: re-saving a node is an idempotent MERGE
        return {}

    def stats(self, _req: Request) -> Reply:
        records, _, _ = self.run(self._graphiti().driver.execute_query(
            "MATCH ()-[e:RELATES_TO]->() RETURN count(e) AS n"))
        return {"rss_mb": rss_mb(), "count": int(records[0]["n"])}

    def close(self) -> None:
        if self.graphiti is not None:
            self.run(self.graphiti.close())  # type: ignore[no-untyped-call]
            self.graphiti = None

    # --- helpers --------------------------------------------------------------------------

    async def _connect(self, uri: str, user: str, password: str) -> Graphiti:
        """Built inside the loop, so the async Neo4j driver belongs to it."""
        assert self.embedder is not None
        return Graphiti(uri, user, password, llm_client=NoLLM(), embedder=self.embedder,
                        cross_encoder=NoCrossEncoder())

    async def _delete_where(self, where: str, params: dict[str, Any]) -> None:
        """DETACH DELETE in bounded transactions (a 100k-node delete in one would need a
        large heap)."""
        driver = self._graphiti().driver
        while True:
            records, _, _ = await driver.execute_query(
                f"MATCH (n) {where} WITH n LIMIT {DELETE_BATCH} DETACH DELETE n "
                "RETURN count(*) AS n", **params)
            if int(records[0]["n"]) == 0:
                return

    async def _save(self, user: str, items: list[Request], precomputed: bool) -> None:
        assert self.embedder is not None
        group = group_id(user)
        now = datetime.now(UTC)
        if precomputed and all(item.get("embedding") is not None for item in items):
            facts = [list(map(float, item["embedding"])) for item in items]
        else:  # api, or bulk items that came without a vector
            facts = await self.embedder.create_batch([item["text"] for item in items])
        user_node = self._entity(user, user)
        nodes: dict[str, EntityNode] = {}
        edges: list[EntityEdge] = []
        for item, fact_vec in zip(items, facts, strict=True):
            names = list(dict.fromkeys(str(e) for e in item.get("entities") or [] if str(e)))
            if len(names) >= 2:
                source, target = self._entity(user, names[0]), self._entity(user, names[1])
            elif names:
                source, target = user_node, self._entity(user, names[0])
            else:
                source = user_node
                target = EntityNode(uuid=str(uuid.uuid5(NAMESPACE, f"memory|{user}|{item['id']}")),
                                    name=item["text"], group_id=group, labels=["Entity"],
                                    name_embedding=fact_vec, created_at=now)
            for node in (source, target):
                if node.uuid not in self.saved_nodes:
                    nodes[node.uuid] = node
            edges.append(EntityEdge(
                uuid=str(uuid.uuid5(NAMESPACE, f"edge|{user}|{item['id']}")),
                group_id=group, source_node_uuid=source.uuid, target_node_uuid=target.uuid,
                name=EDGE_NAME, fact=item["text"], fact_embedding=fact_vec, episodes=[],
                created_at=now, valid_at=now, reference_time=now,
                attributes={"gm_id": item["id"]}))
        await self._embed_names([n for n in nodes.values() if n.name_embedding is None])
        await add_nodes_and_edges_bulk(self._graphiti().driver, [], [], list(nodes.values()),
                                       edges, self.embedder)
        self.saved_nodes.update(nodes)

    def _entity(self, user: str, name: str) -> EntityNode:
        """The user's node for `name` (same uuid for every spelling that lower-cases alike)."""
        return EntityNode(uuid=str(uuid.uuid5(NAMESPACE, f"entity|{user}|{name.lower()}")),
                          name=name, group_id=group_id(user), labels=["Entity"],
                          name_embedding=self.name_vectors.get(name))

    async def _embed_names(self, nodes: list[EntityNode]) -> None:
        assert self.embedder is not None
        missing = list(dict.fromkeys(n.name for n in nodes if n.name not in self.name_vectors))
        if missing:
            vectors = await self.embedder.create_batch(missing)
            self.name_vectors.update(zip(missing, vectors, strict=True))
        for node in nodes:
            node.name_embedding = self.name_vectors[node.name]

    def _graphiti(self) -> Graphiti:
        if self.graphiti is None:
            raise RuntimeError("setup first")
        return self.graphiti


def main() -> None:
    serve_worker(GraphitiWorker())


if __name__ == "__main__":
    main()
