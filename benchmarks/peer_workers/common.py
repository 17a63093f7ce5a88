"""What both peer workers share: the JSON-lines loop, GraphMem's ONNX encoder loaded by file
path, and small process facts. Standard library only (numpy comes in through the encoder),
because this module is imported inside each peer's own virtualenv, where graphmem and its
dependencies (pydantic-settings, neo4j, ...) are deliberately absent.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TextIO

import numpy as np

log = logging.getLogger("peer_worker")

Request = dict[str, Any]
Reply = dict[str, Any]
Handler = Callable[[Request], Reply]


class Encoder(Protocol):
    """GraphMem's OnnxSentenceEncoder, as far as the workers use it."""

    dim: int

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray[Any, Any]: ...


def claim_stdout() -> TextIO:
    """The protocol channel: a private copy of fd 1, with fd 1 itself pointed at stderr.

    Why: a peer library that prints (a notice, a progress bar, a C extension writing to fd 1)
    would otherwise corrupt the JSON-lines stream the driver parses. After this, anything
    written to stdout by anyone lands in stderr, and only `reply` writes to the real stdout.
    """
    sys.stdout.flush()
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return channel


def setup_logging() -> None:
    level = os.environ.get("PEER_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(stream=sys.stderr, level=level,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")


def load_encoder(graphmem_root: str, model_dir: str, cache_dir: str) -> Encoder:
    """GraphMem's own encoder module, loaded from its file, not through `import graphmem`
    (whose package __init__ pulls in GraphMem's dependencies). Same code, same .onnx graph
    and tokenizer as GraphMem's embedder, so every system pays the same per-query cost."""
    path = Path(graphmem_root) / "graphmem" / "embeddings_onnx.py"
    name = "_graphmem_embeddings_onnx"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    encoder: Encoder = module.OnnxSentenceEncoder(Path(model_dir), Path(cache_dir), int8=False)
    return encoder


def rss_mb() -> float:
    """Resident set size of this worker (not of any server it talks to), from /proc."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def wipe_dir(path: Path) -> None:
    """Empty `path` (create it if missing) without removing the directory itself, so a driver
    that holds the path open or has it as a mount point keeps it."""
    import shutil

    path.mkdir(parents=True, exist_ok=True)
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


OPS = ("setup", "ingest", "search", "reset", "stats")


def serve_worker(worker: Any) -> None:
    """Serve a worker object whose methods are named after the protocol's ops (and close)."""
    serve({op: getattr(worker, op) for op in OPS}, on_close=worker.close)


def serve(handlers: dict[str, Handler], on_close: Callable[[], None]) -> None:
    """Answer each request line with exactly one reply line until `close` or end of input.

    Any exception becomes {"ok": false, "error": "<type>: <msg>"} (traceback to stderr) and
    the loop keeps serving, so one bad request never costs the driver its worker."""
    setup_logging()
    channel = claim_stdout()

    def reply(obj: Reply) -> None:
        channel.write(json.dumps(obj, separators=(",", ":")) + "\n")
        channel.flush()

    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            op = request.get("op")
            if op == "close":
                on_close()
                reply({"ok": True})
                channel.close()
                sys.exit(0)
            handler = handlers.get(op)
            if handler is None:
                raise ValueError(f"unknown op {op!r}")
            reply({"ok": True, **handler(request)})
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    on_close()


class Stopwatch:
    """perf_counter seconds of a block: `with Stopwatch() as sw: ...; sw.seconds`."""

    seconds: float = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.perf_counter() - self._start


def item_vectors(items: list[Request], encoder: Encoder) -> list[list[float]]:
    """Each item's given embedding, or the encoder's for those that come without one
    (encoded in one batch)."""
    missing = [i for i, item in enumerate(items) if item.get("embedding") is None]
    vectors: list[list[float] | None] = [item.get("embedding") for item in items]
    if missing:
        encoded = encoder.encode([items[i]["text"] for i in missing])
        for row, i in enumerate(missing):
            vectors[i] = encoded[row].tolist()
    return [v for v in vectors if v is not None]
