"""API keys over HTTP: an admin key makes keys for any user or agent (and so its principal);
every key lists and revokes its own principal's keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from graphmem.serve.deps import Caller, Runtime, runtime
from graphmem.serve.keys import require_admin
from graphmem.serve.schemas import KeyCreated, KeyCreateRequest, KeyList, KeyOut
from graphmem.store.protocol import ApiKeyRow

router = APIRouter(prefix="/v1/keys", tags=["keys"])


def _out(row: ApiKeyRow) -> KeyOut:
    return KeyOut(id=row.id, principal=row.principal, admin=row.admin, label=row.label,
                  created_at=row.created_at, created_by=row.created_by,
                  revoked_at=row.revoked_at)


Rt = Annotated[Runtime, Depends(runtime)]


@router.post("", response_model=KeyCreated, status_code=status.HTTP_201_CREATED)
def create(body: KeyCreateRequest, rt: Rt, who: Caller) -> KeyCreated:
    """A new key for a principal (admin keys only). The key is in this response only."""
    require_admin(who, "creating keys")
    made = rt.keys.create(body.principal, actor=who.principal, admin=body.admin,
                          label=body.label)
    return KeyCreated(key=made.key, **_out(made.row).model_dump())


@router.get("", response_model=KeyList)
def list_keys(rt: Rt, who: Caller) -> KeyList:
    """Every key for an admin key; the principal's own keys otherwise. Never a key or hash."""
    return KeyList(keys=[_out(r) for r in rt.keys.list(None if who.admin else who.principal)])


@router.delete("/{key_id}", response_model=KeyOut)
def revoke(key_id: str, rt: Rt, who: Caller) -> KeyOut:
    """Revoke a key (an admin any key, others their own); it is refused from its next
    request on, by every worker."""
    return _out(rt.keys.revoke(key_id, actor=who.principal, admin=who.admin))
