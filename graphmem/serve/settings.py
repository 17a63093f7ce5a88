"""The server's part of Settings (GRAPHMEM_SERVE__*): kept in graphmem.settings.Settings as
`serve`, so the process still has one typed settings object. Importing this module imports
no web framework."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ServeSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8420, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    # Request bodies above this are refused with 413 before they are read whole; bundle
    # imports (a tar.gz body) have their own, larger limit.
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    max_import_bytes: int = Field(default=64_000_000, ge=1024)
    # CORS is off unless origins are listed (e.g. GRAPHMEM_SERVE__CORS_ORIGINS='["https://x"]').
    cors_origins: list[str] = Field(default_factory=list)
    request_id_header: str = "X-Request-ID"
    # The MCP endpoint (streamable HTTP at /mcp) and the web console (/console).
    mcp_enabled: bool = True
    console_enabled: bool = True
    # How long /readyz waits for Neo4j before answering 503.
    ready_timeout_s: float = Field(default=2.0, gt=0)
