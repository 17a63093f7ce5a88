"""Request and response models of the HTTP API (the OpenAPI schema is generated from these).

Requests name no actor: the acting principal is always the API key's. `user_id` in a write
names whose memory it is (the key's principal needs that user's consent, a write grant on its
private scope, checked in the write transaction). Values are checked again by the GraphMem
facade (graphmem/validation.py); the models here give the spec its shapes and bounds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from graphmem.chat import ChatAnswer
from graphmem.models import AddResult, CubeKind, MemCube, Message, Priority, SearchHit
from graphmem.validation import storable_datetime

__all__ = ["AddResult", "ChatAnswer", "MemCube", "SearchHit"]

_NAME = NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,127}$"
_PRINCIPAL = PRINCIPAL_PATTERN = r"^(user|agent|group):[A-Za-z0-9][A-Za-z0-9_.@\-]{0,127}$"
_ACTING = r"^(user|agent):[A-Za-z0-9][A-Za-z0-9_.@\-]{0,127}$"
_SCOPE = SCOPE_PATTERN = r"^scope:(private|agent|group|shared):[A-Za-z0-9][A-Za-z0-9_.@\-]{0,127}$"


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    reason: str = Field(description="machine-readable: invalid_input, unauthorized, forbidden, "
                        "not_found, conflict, payload_too_large, invalid_request, "
                        "store_unavailable, model_unavailable, internal")
    message: str
    request_id: str
    details: list[dict[str, Any]] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class AddRequest(_Request):
    messages: str | list[Message] = Field(
        description="one user turn as a string, or {role, content, timestamp?, id?} turns")
    user_id: str | None = Field(default=None, pattern=_NAME,
                                description="whose memory (default: the key's principal)")
    session_id: str | None = Field(default=None, pattern=_NAME)
    agent_id: str | None = Field(default=None, pattern=_NAME)
    scope: str | None = Field(default=None, pattern=_SCOPE)
    infer: bool = True
    metadata: dict[str, Any] | None = None


class RememberRequest(_Request):
    text: str = Field(min_length=1)
    kind: CubeKind = CubeKind.FACT
    user_id: str | None = Field(default=None, pattern=_NAME)
    scope: str | None = Field(default=None, pattern=_SCOPE)
    priority: Priority = "mid"
    expires: datetime | None = None
    metadata: dict[str, Any] | None = None

    _storable_expires = field_validator("expires")(storable_datetime)


class SearchRequest(_Request):
    query: str = Field(min_length=1)
    limit: int | None = Field(default=None, ge=1, le=1000)
    kinds: list[CubeKind] | None = None
    owner: str | None = Field(default=None, pattern=_NAME,
                              description="only memories owned by this user or agent name")
    recipe: str = "hybrid"
    session_id: str | None = Field(default=None, pattern=_NAME)


class SearchResponse(BaseModel):
    hits: list[SearchHit]


class ChunkOut(BaseModel):
    text: str
    cube_ids: list[str]
    tokens: int


class RetrieveResponse(BaseModel):
    hits: list[SearchHit]
    chunks: list[ChunkOut]
    timings_ms: dict[str, float]
    per_retriever: dict[str, list[str]]


class CubeList(BaseModel):
    items: list[MemCube]
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page; null on the last")


class History(BaseModel):
    versions: list[MemCube]


class Turn(BaseModel):
    id: str
    role: str | None = None
    content: str | None = None
    session_id: str | None = None
    created_at: datetime | None = None
    version: int | None = Field(default=None, description="the cube version derived from it")


class Turns(BaseModel):
    turns: list[Turn]


class UpdateRequest(_Request):
    text: str = Field(min_length=1)
    reason: str = Field(default="update", min_length=1)
    expected_version: int | None = Field(default=None, ge=1, le=2**31 - 1)


class PurgeResponse(BaseModel):
    cubes: int
    episodes: int
    entities: int
    audit_events: int
    scopes: int


class ImportResponse(BaseModel):
    versions_created: int


class InstallReportOut(BaseModel):
    """What a bundle install did (or, dry run, would do), by the bundle's cube ids."""

    scope: str
    owner: str
    bundle: str | None
    dry_run: bool
    reembedded: bool
    created: list[str]
    new_versions: list[str]
    skipped: dict[str, str]
    conflicts: dict[str, str]
    versions_written: int


class NameRequest(_Request):
    name: str = Field(pattern=_NAME)


class ScopeResponse(BaseModel):
    scope: str


class ScopesResponse(BaseModel):
    scopes: list[str]


class InviteRequest(_Request):
    member: str = Field(pattern=_PRINCIPAL, description="e.g. user:maya or agent:planner")


class GrantRequest(_Request):
    scope: str = Field(pattern=_SCOPE)
    principal: str = Field(pattern=_PRINCIPAL)
    read: bool = True
    write: bool = False


class RevokeRequest(_Request):
    scope: str = Field(pattern=_SCOPE)
    principal: str = Field(pattern=_PRINCIPAL)
    read: bool = True
    write: bool = True


class Ok(BaseModel):
    ok: bool = True


class ChatRequest(_Request):
    messages: str | list[Message]
    session_id: str | None = Field(default=None, pattern=_NAME)
    limit: int | None = Field(default=None, ge=1, le=1000)
    recipe: str = "hybrid"
    remember: bool | None = Field(default=None, description="store the exchange (default: "
                                  "GRAPHMEM_CHAT_REMEMBER)")


class KeyCreateRequest(_Request):
    principal: str = Field(pattern=_ACTING, description="user:<id> or agent:<id>")
    admin: bool = False
    label: str | None = Field(default=None, max_length=200)


class KeyOut(BaseModel):
    id: str
    principal: str
    admin: bool
    label: str | None
    created_at: datetime
    created_by: str | None
    revoked_at: datetime | None = None


class KeyCreated(KeyOut):
    key: str = Field(description="the API key; shown this once, only its sha256 is stored")


class KeyList(BaseModel):
    keys: list[KeyOut]


class WhoAmI(BaseModel):
    principal: str
    key_id: str
    admin: bool


class AuditEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    at: datetime | None = None
    actor: str | None = None
    action: str | None = None
    targets: list[str] | None = None
    result: str | None = None


class AuditList(BaseModel):
    events: list[AuditEvent]


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    worker: int | None = Field(default=None, description="the answering worker's process id "
                               "(graphmem serve --workers N runs N processes)")
    neo4j: str | None = None
    schema_version: str | None = None
