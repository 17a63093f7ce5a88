"""Mem0 peer worker: `mem0.Memory` as a user runs it locally, behind the JSON-lines protocol
(protocol.md). Runs in its own virtualenv (requirements-mem0.txt), never in GraphMem's.

Configuration, and why:
- vector store: Mem0's default, Qdrant in embedded local mode (`path=<data_dir>/qdrant`, on
  disk), collection "mem0", 384 dimensions; no graph store; history SQLite in data_dir.
- embedder: GraphMem's ONNX MiniLM (common.load_encoder) wrapped as Mem0's embedding model,
  so Mem0 embeds its own queries at search time through the same code GraphMem uses.
- LLM: Memory() insists on building one (OpenAI by default); it gets a dummy key and is never
  called, because every add uses infer=False and search does not use an LLM.
- telemetry off (MEM0_TELEMETRY=False, read at import). That also switches off Mem0's
  "notices", which otherwise fetch feature flags over the network.
- Mem0 2.x search is "hybrid": dense + BM25 (needs fastembed and a model downloaded from the
  Hugging Face hub) + entity boosts (needs spaCy and en_core_web_sm). Neither is part of
  `pip install mem0ai`, so the installed default runs dense-only (a warning on stderr says so)
  and lemmatisation falls back to the raw text; that is the configuration measured here.

Ingest: via "api" is `Memory.add(text, user_id=..., infer=False, metadata={"gm_id": id})`, one
call per item as a user would. Via "bulk" writes the same points straight into Mem0's vector
store (`vector_store.insert`, batches of 500) with the payload `_create_memory` writes
(gm_id, user_id, role, data, hash, created_at, updated_at, text_lemmatized) and the given
vectors; it skips the history-DB row that `add` also writes (search never reads it).

Search: `Memory.search(query, top_k=limit, filters={"user_id": user})` (Mem0 2.x rejects a
top-level user_id/limit in search), default threshold 0.1 on the cosine; hits map back to
items through metadata["gm_id"].
"""

from __future__ import annotations

import hashlib
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parents[2]))

from benchmarks.peer_workers.common import (
    Encoder,
    Reply,
    Request,
    Stopwatch,
    item_vectors,
    load_encoder,
    rss_mb,
    serve_worker,
    wipe_dir,
)

os.environ["MEM0_TELEMETRY"] = "False"
os.environ.setdefault("OPENAI_API_KEY", "sk-unused-mem0-llm-is-never-called")

COLLECTION = "mem0"
BULK_BATCH = 500


def _embedder_class() -> type:
    """Mem0's EmbeddingBase subclass around the shared encoder (built after mem0 is
    importable, i.e. after setup has set MEM0_DIR)."""
    from mem0.embeddings.base import EmbeddingBase

    class OnnxMiniLM(EmbeddingBase):  # type: ignore[misc]
        def __init__(self, encoder: Encoder) -> None:
            super().__init__(None)
            self.encoder = encoder

        def embed(self, text: str, memory_action: str | None = None) -> list[float]:
            return [float(x) for x in self.encoder.encode([text])[0]]

        def embed_batch(self, texts: list[str],
                        memory_action: str | None = "add") -> list[list[float]]:
            return [[float(x) for x in row] for row in self.encoder.encode(list(texts))]

    return OnnxMiniLM


class Mem0Worker:
    def __init__(self) -> None:
        self.memory: Any = None
        self.encoder: Encoder | None = None

    # --- ops ------------------------------------------------------------------------------

    def setup(self, req: Request) -> Reply:
        self._close_memory()
        data_dir = Path(req["data_dir"])
        wipe_dir(data_dir)
        home = data_dir / "mem0-home"
        home.mkdir()
        os.environ["MEM0_DIR"] = str(home)  # config.json; read once, at mem0's first import
        from importlib.metadata import version

        from mem0 import Memory
        from mem0.configs.base import MemoryConfig

        if self.encoder is None:
            self.encoder = load_encoder(req["graphmem_root"], req["model_dir"], req["cache_dir"])
        config = MemoryConfig(
            vector_store={"provider": "qdrant", "config": {
                "collection_name": COLLECTION, "path": str(data_dir / "qdrant"),
                "embedding_model_dims": self.encoder.dim}},
            embedder={"provider": "openai", "config": {"embedding_dims": self.encoder.dim}},
            history_db_path=str(data_dir / "history.db"),
        )
        self.memory = Memory(config)
        self.memory.embedding_model = _embedder_class()(self.encoder)
        return {"version": version("mem0ai")}

    def ingest(self, req: Request) -> Reply:
        memory = self._memory()
        user: str = req["user"]
        items: list[Request] = req["items"]
        if req.get("via", "api") == "api":
            with Stopwatch() as sw:
                for item in items:
                    memory.add(item["text"], user_id=user, infer=False,
                               metadata={"gm_id": item["id"]})
        elif req["via"] == "bulk":
            with Stopwatch() as sw:
                self._bulk_insert(user, items)
        else:
            raise ValueError(f"unknown via {req['via']!r}")
        return {"seconds": sw.seconds, "count": len(items)}

    def search(self, req: Request) -> Reply:
        memory = self._memory()
        if req.get("mode", "default") != "default":
            raise ValueError(f"Mem0 has one search mode, not {req['mode']!r}")
        with Stopwatch() as sw:
            found = memory.search(req["query"], top_k=int(req.get("limit", 10)),
                                  filters={"user_id": req["user"]})
        rows = found["results"] if isinstance(found, dict) else found
        results = [{"id": (row.get("metadata") or {}).get("gm_id"), "text": row.get("memory"),
                    "score": row.get("score")} for row in rows]
        return {"ms": sw.seconds * 1000.0, "results": results}

    def reset(self, req: Request) -> Reply:
        """One filtered delete in the vector store instead of Memory.delete_all, which deletes
        point by point (plus a history row each): ~28 ms a memory here against ~12 ms, and
        reset is bookkeeping between runs, never timed."""
        from qdrant_client import models

        match = models.FieldCondition(key="user_id", match=models.MatchValue(value=req["user"]))
        self._memory().vector_store.client.delete(
            collection_name=COLLECTION,
            points_selector=models.FilterSelector(filter=models.Filter(must=[match])))
        return {}

    def stats(self, _req: Request) -> Reply:
        memory = self._memory()
        count = memory.vector_store.client.count(collection_name=COLLECTION, exact=True).count
        return {"rss_mb": rss_mb(), "count": int(count)}

    def close(self) -> None:
        self._close_memory()

    # --- helpers --------------------------------------------------------------------------

    def _bulk_insert(self, user: str, items: list[Request]) -> None:
        """The points Memory.add(infer=False) would write, in batches, with given vectors."""
        from mem0.utils.lemmatization import lemmatize_for_bm25

        memory = self._memory()
        assert self.encoder is not None
        _unsynced(memory)
        vectors = item_vectors(items, self.encoder)
        for start in range(0, len(items), BULK_BATCH):
            ids, payloads = [], []
            for item in items[start:start + BULK_BATCH]:
                text: str = item["text"]
                # Key order and values as in Memory.add -> _add_to_vector_store -> _create_memory.
                payload: dict[str, Any] = {"gm_id": item["id"], "user_id": user}
                payload["role"] = "user"
                payload["data"] = text
                payload["hash"] = hashlib.md5(text.encode()).hexdigest()
                payload["created_at"] = datetime.now(UTC).isoformat()
                payload["updated_at"] = payload["created_at"]
                payload["text_lemmatized"] = lemmatize_for_bm25(text)
                ids.append(str(uuid.uuid4()))
                payloads.append(payload)
            memory.vector_store.insert(vectors=vectors[start:start + BULK_BATCH],
                                       payloads=payloads, ids=ids)

    def _memory(self) -> Any:
        if self.memory is None:
            raise RuntimeError("setup first")
        return self.memory

    def _close_memory(self) -> None:
        """Release the embedded Qdrant (it holds a lock on its directory) and SQLite."""
        if self.memory is None:
            return
        self.memory.close()
        self.memory.vector_store.client.close()
        self.memory = None


def _unsynced(memory: Any) -> None:
    """Embedded Qdrant commits (and fsyncs) SQLite once per point, so a 100k-point load took
    most of an hour here; a benchmark fill needs no durability, so the bulk path turns the
    fsync off on that connection (a load only: what search reads is the same)."""
    local = getattr(memory.vector_store.client, "_client", None)
    collection = getattr(local, "collections", {}).get(COLLECTION)
    storage = getattr(getattr(collection, "storage", None), "storage", None)
    if storage is not None:
        storage.execute("PRAGMA synchronous=OFF")


def main() -> None:
    serve_worker(Mem0Worker())


if __name__ == "__main__":
    main()
