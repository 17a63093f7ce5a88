"""The REST server on a free port, over real HTTP: uvicorn in a thread of the test process
(so the session's embedder is reused), or `graphmem serve` as a subprocess."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import uvicorn

from graphmem.api import GraphMem
from graphmem.embeddings import Embedder
from graphmem.llm import ChatBackend
from graphmem.serve.app import create_app
from graphmem.serve.keys import CLI_ACTOR, ApiKeys
from graphmem.settings import Settings
from graphmem.store.neo4j_store import Neo4jStore

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server_thread(settings: Settings, embedder: Embedder | None = None,
                  chat_model: ChatBackend | None = None) -> Iterator[str]:
    """uvicorn serving create_app(settings) in a thread; yields the base URL."""

    def memory(s: Settings) -> GraphMem:
        return GraphMem(s, embedder=embedder, chat_model=chat_model, apply_schema=False)

    app = create_app(settings, memory_factory=memory)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextlib.contextmanager
def server_process(settings_env: dict[str, str], *args: str) -> Iterator[str]:
    """`python -m graphmem serve` in a subprocess; yields the base URL once /healthz answers."""
    port = free_port()
    env = {**os.environ, **settings_env, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "graphmem", "serve", "--port", str(port),
                             *args], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read() if proc.stdout else ""
                raise RuntimeError(f"graphmem serve exited: {out}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("graphmem serve did not become ready")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def make_key(settings: Settings, principal: str, *, admin: bool = False) -> str:
    """A key made the way `graphmem keys create` makes it."""
    store = Neo4jStore(settings)
    try:
        return ApiKeys(store).create(principal, actor=CLI_ACTOR, admin=admin).key
    finally:
        store.close()


def client(url: str, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=url, headers=headers, timeout=60)
