"""What every endpoint depends on: the process's one GraphMem, and the caller's key.

The acting principal of a request is the principal of its API key, read from the graph on
every request (graphmem/serve/keys.py): no request field can name another actor.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from graphmem.api import GraphMem
from graphmem.errors import StoreUnavailable
from graphmem.serve.errors import Unauthorized
from graphmem.serve.keys import ApiKeys
from graphmem.store.protocol import ApiKeyRow

_bearer = HTTPBearer(auto_error=False, description="an API key from `graphmem keys create`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                       description="the same key, for clients that cannot set Authorization")


@dataclass
class Runtime:
    """The process's server state, made in the app's lifespan: the GraphMem (one per
    process), its key store, and whether the schema has been applied yet (a server started
    while Neo4j was down applies it on the first request that finds Neo4j back)."""

    memory: GraphMem
    keys: ApiKeys
    schema_ready: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def ensure_schema(self) -> None:
        if self.schema_ready:
            return
        with self._lock:
            if not self.schema_ready:
                self.memory.store.ensure_schema(self.memory.settings.embedding_dim)
                self.schema_ready = True


def runtime(request: Request) -> Runtime:
    rt: Runtime | None = getattr(request.app.state, "runtime", None)
    if rt is None:  # pragma: no cover - only outside the lifespan
        raise StoreUnavailable("the server is starting or stopping")
    return rt


def caller(request: Request, rt: Annotated[Runtime, Depends(runtime)],
           bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
           header: Annotated[str | None, Depends(_header)]) -> ApiKeyRow:
    key = bearer.credentials if bearer is not None else header
    if not key:
        raise Unauthorized("no API key: send 'Authorization: Bearer <key>' (or X-API-Key); "
                           "keys come from `graphmem keys create`")
    rt.ensure_schema()
    row = rt.keys.authenticate(key)
    if row is None:
        raise Unauthorized("unknown or revoked API key")
    request.state.principal = row.principal
    return row


def memory(rt: Annotated[Runtime, Depends(runtime)]) -> GraphMem:
    return rt.memory


Caller = Annotated[ApiKeyRow, Depends(caller)]
Memory = Annotated[GraphMem, Depends(memory)]
