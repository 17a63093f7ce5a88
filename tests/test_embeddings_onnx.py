"""The ONNX Runtime embedder backend: exported locally from the shipped weights, the same
vectors as sentence-transformers on PyTorch, and clear errors for what it cannot do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graphmem.embeddings import SentenceTransformerEmbedder, backend_for
from graphmem.settings import Settings

TEXTS = ["I prefer window seats on long flights.", "hi",
         "My sister Ana lives in Lisbon and we talk about jazz concerts for hours. " * 8]


def test_onnx_vectors_match_pytorch(tmp_path: Path) -> None:
    torch_vecs = np.asarray(SentenceTransformerEmbedder(
        Settings(embedding_backend="torch"), cache_size=0).embed(TEXTS))
    onnx = SentenceTransformerEmbedder(Settings(embedding_backend="onnx", cache_dir=tmp_path),
                                       cache_size=0)
    onnx_vecs = np.asarray(onnx.embed(TEXTS))
    assert list((tmp_path / "onnx").glob("*.onnx")), "the export was not written"
    assert list((tmp_path / "onnx").glob("*-fused.onnx")), "the fused graph was not written"
    assert not list((tmp_path / "onnx").glob("tmp*")), "a staged export was left behind"
    assert np.abs(onnx_vecs - torch_vecs).max() < 1e-4
    # One at a time (no padding) gives the same as in a padded batch.
    assert np.abs(np.asarray(onnx.embed([TEXTS[1]]))[0] - onnx_vecs[1]).max() < 1e-5


def test_int8_stays_close_but_is_not_the_same(tmp_path: Path) -> None:
    fp32 = np.asarray(SentenceTransformerEmbedder(
        Settings(embedding_backend="onnx", cache_dir=tmp_path), cache_size=0).embed(TEXTS))
    int8 = np.asarray(SentenceTransformerEmbedder(
        Settings(embedding_backend="onnx-int8", cache_dir=tmp_path), cache_size=0).embed(TEXTS))
    cosines = (fp32 * int8).sum(axis=1)
    # One scale per output channel: 0.981 at worst here, where one scale per weight matrix
    # gave 0.922 ("hi").
    assert cosines.min() > 0.975 and np.abs(fp32 - int8).max() > 1e-4


def test_a_gpu_device_runs_on_pytorch() -> None:
    """ONNX Runtime is CPU-only here: a GPU device keeps the PyTorch backend."""
    assert backend_for(Settings(embedding_backend="onnx", embedding_device="cuda")) == "torch"
    assert backend_for(Settings(embedding_backend="onnx-int8")) == "onnx-int8"
    assert backend_for(Settings()) == "onnx"


def test_an_unknown_backend_is_a_settings_error() -> None:
    with pytest.raises(ValueError, match="embedding_backend"):
        Settings(embedding_backend="tensorrt")  # type: ignore[arg-type]


def test_the_lru_answers_a_repeated_text_without_the_model(tmp_path: Path) -> None:
    embedder = SentenceTransformerEmbedder(Settings(embedding_backend="onnx",
                                                    cache_dir=tmp_path), cache_size=2)
    first = embedder.embed(["again"])
    embedder._model = None  # a second call that reached the model would load it again
    model_free = embedder.embed(["again"])
    assert model_free == first and embedder._model is None
