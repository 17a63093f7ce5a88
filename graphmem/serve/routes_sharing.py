"""Sharing over HTTP: shared scopes, groups (invitations the invited principal accepts) and
read/write grants. Consent is the ACL's: only a scope's owner grants on it, so an agent reads
a user's private scope only after that user's own key granted it."""

from __future__ import annotations

from fastapi import APIRouter, status

from graphmem.serve.deps import Caller, Memory
from graphmem.serve.schemas import (
    GrantRequest,
    InviteRequest,
    NameRequest,
    Ok,
    RevokeRequest,
    ScopeResponse,
    ScopesResponse,
)

router = APIRouter(prefix="/v1", tags=["sharing"])


@router.get("/scopes", response_model=ScopesResponse)
def scopes(mem: Memory, who: Caller) -> ScopesResponse:
    """The scopes the key's principal may read."""
    return ScopesResponse(scopes=mem.scopes(actor=who.principal))


@router.post("/scopes", response_model=ScopeResponse, status_code=status.HTTP_201_CREATED)
def create_scope(body: NameRequest, mem: Memory, who: Caller) -> ScopeResponse:
    """A shared scope owned by the key's principal (scope:shared:<name>)."""
    return ScopeResponse(scope=mem.create_shared_scope(body.name, actor=who.principal))


@router.post("/groups", response_model=ScopeResponse, status_code=status.HTTP_201_CREATED)
def create_group(body: NameRequest, mem: Memory, who: Caller) -> ScopeResponse:
    """A group owned by the key's principal; returns the group's scope."""
    return ScopeResponse(scope=mem.create_group(body.name, actor=who.principal))


@router.post("/groups/{group}/invitations", response_model=Ok,
             status_code=status.HTTP_201_CREATED)
def invite(group: str, body: InviteRequest, mem: Memory, who: Caller) -> Ok:
    """Invite a member; it joins only when its own key accepts."""
    mem.add_member(group, body.member, actor=who.principal)
    return Ok()


@router.post("/groups/{group}/accept", response_model=ScopeResponse)
def accept(group: str, mem: Memory, who: Caller) -> ScopeResponse:
    return ScopeResponse(scope=mem.accept_invitation(group, actor=who.principal))


@router.post("/grants", response_model=Ok)
def grant(body: GrantRequest, mem: Memory, who: Caller) -> Ok:
    """Grant read (and write) on a scope the key's principal owns."""
    mem.grant(body.scope, body.principal, actor=who.principal, read=body.read,
              write=body.write)
    return Ok()


@router.post("/grants/revoke", response_model=Ok)
def revoke(body: RevokeRequest, mem: Memory, who: Caller) -> Ok:
    mem.revoke(body.scope, body.principal, actor=who.principal, read=body.read,
               write=body.write)
    return Ok()
