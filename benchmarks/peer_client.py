"""The GraphMem side of the peers' workers (benchmarks/peer_workers/): their virtualenvs, the
JSON-lines conversation with a worker process, and a worker as an eval MemorySystem.

Why separate processes: Mem0 and Graphiti pin their own versions of pydantic, neo4j and
others; each runs in a virtualenv of its own under ~/.cache/graphmem/peers, made here from the
pinned requirements file, and GraphMem's environment never sees them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from graphmem.eval.protocol import EvalTurn, Retrieved

ROOT = Path(__file__).resolve().parent.parent
WORKERS = ROOT / "benchmarks" / "peer_workers"
PEERS = ("mem0", "graphiti")


class PeerError(RuntimeError):
    """A worker answered a request with an error, or died."""


def ensure_venv(name: str, cache_dir: Path) -> Path:
    """The peer's virtualenv, made (or remade when its requirements change) on first use;
    returns its python."""
    requirements = WORKERS / f"requirements-{name}.txt"
    venv = cache_dir / "peers" / f"{name}-venv"
    python = venv / "bin" / "python"
    stamp = venv / f".req-{hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]}"
    if stamp.exists():
        return python
    print(f"installing {name} into {venv} (once)", file=sys.stderr)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(requirements)],
                   check=True)
    for old in venv.glob(".req-*"):
        old.unlink()
    stamp.touch()
    return python


class PeerWorker:
    """One peer's worker process; `request` sends one message and returns its answer."""

    def __init__(self, name: str, python: Path, setup: dict[str, Any]) -> None:
        self.name = name
        env = {**os.environ, "PYTHONPATH": str(ROOT), "MEM0_TELEMETRY": "False",
               "GRAPHITI_TELEMETRY_ENABLED": "false", "HF_HUB_OFFLINE": "1"}
        self._proc = subprocess.Popen(
            [str(python), str(WORKERS / f"{name}_worker.py")], cwd=ROOT, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.version = str(self.request("setup", **setup).get("version"))

    @property
    def pid(self) -> int:
        return self._proc.pid

    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise PeerError(f"{self.name} worker exited (code {self._proc.poll()})")
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok"):
            raise PeerError(f"{self.name}: {op}: {answer.get('error')}")
        return answer

    def close(self) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(PeerError, BrokenPipeError, OSError):
                self.request("close")
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()


class PeerSystem:
    """A peer as an eval MemorySystem (graphmem.eval.protocol): each of the user's turns is
    one memory through the peer's public add path (`via: api`), its id the turn id, so
    recall is scored by provenance exactly as for GraphMem and the raw-turn baselines."""

    def __init__(self, worker: PeerWorker, *, mode: str = "default",
                 roles: Sequence[str] = ("user",)) -> None:
        self.name = worker.name if mode == "default" else f"{worker.name}-{mode}"
        self._worker = worker
        self._mode = mode
        self._roles = set(roles)

    def reset(self, user_id: str) -> None:
        self._worker.request("reset", user=user_id)

    def ingest(self, user_id: str, turns: Sequence[EvalTurn]) -> None:
        items = [{"id": t.id, "text": t.content, "embedding": None} for t in turns
                 if t.role in self._roles and t.content.strip()]
        for start in range(0, len(items), 500):
            self._worker.request("ingest", user=user_id, items=items[start:start + 500],
                                 via="api")

    def retrieve(self, user_id: str, query: str, k: int) -> list[Retrieved]:
        answer = self._worker.request("search", user=user_id, query=query, limit=k,
                                      mode=self._mode)
        return [Retrieved(text=r["text"], source_turn_ids=[r["id"]],
                          score=float(r.get("score") or 0.0)) for r in answer["results"]]
