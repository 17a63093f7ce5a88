"""A loopback TCP proxy that can drop every connection on demand: Neo4j 'going down' in the
middle of a transaction, without stopping the server the other tests share."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

from graphmem.api import GraphMem
from graphmem.embeddings import SentenceTransformerEmbedder
from graphmem.settings import Settings


class CuttableProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._down = False
        self._cut_after: int | None = None
        self._forwarded = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_after(self, client_chunks: int) -> None:
        """Forward `client_chunks` more client→server packets, then drop everything and stay
        down (new connections are refused) until restore()."""
        with self._lock:
            self._forwarded = 0
            self._cut_after = client_chunks

    def restore(self) -> None:
        with self._lock:
            self._down = False
            self._cut_after = None

    def close(self) -> None:
        self._down = True
        self._listener.close()
        self._drop_all()

    def _drop_all(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._down:
                client.close()
                continue
            server = socket.create_connection(self._target)
            with self._lock:
                self._conns += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                return
            if from_client:
                with self._lock:
                    if self._cut_after is not None:
                        if self._forwarded >= self._cut_after:
                            self._down = True
                        self._forwarded += 1
                if self._down:
                    self._drop_all()
                    return
            try:
                dst.sendall(data)
            except OSError:
                return


@contextlib.contextmanager
def graphmem_behind_proxy(settings: Settings, embedder: SentenceTransformerEmbedder,
                          **overrides: Any) -> Iterator[tuple[GraphMem, CuttableProxy]]:
    """A GraphMem whose every connection to the test server passes through a CuttableProxy,
    with a short connect timeout so an outage fails fast."""
    proxy = CuttableProxy(urlparse(settings.neo4j_uri).port or 7687)
    proxied = settings.model_copy(update={
        "neo4j_uri": f"bolt://127.0.0.1:{proxy.port}", "neo4j_connect_timeout_s": 1.0,
        **overrides})
    try:
        with GraphMem(proxied, embedder=embedder) as mem:
            yield mem, proxy
    finally:
        proxy.close()
