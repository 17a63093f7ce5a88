"""API keys: a random key per principal, shown once; only its sha256 is stored.

Why sha256 and not bcrypt/argon2: those are slow on purpose, to make guessing a *low-entropy
password* from its hash expensive. A key here is 256 random bits (`secrets.token_urlsafe(32)`),
which no amount of guessing reaches, so a slow hash buys nothing; it would spend CPU on
purpose on every request (an easy denial of service), and a salted hash could not be looked
up by value (`keys/lookup.cypher` finds the key by its hash through a unique constraint).

No process keeps keys: every request reads the key's node, so a revoked key is refused (401)
on its next request, by every worker.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from graphmem.errors import InvalidInput, NotFound, PermissionDenied
from graphmem.principals import Principal
from graphmem.store.protocol import ApiKeyRow, KeyStore

PREFIX = "gm_"
_KEY = re.compile(r"gm_[A-Za-z0-9_\-]{43}")
MAX_LABEL = 200
# The audit actor of keys made on the command line (someone with the database's credentials).
CLI_ACTOR = "system:cli"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def well_formed(key: str) -> bool:
    """A cheap check before any database read, so junk in the header costs no query."""
    return bool(_KEY.fullmatch(key))


@dataclass(frozen=True)
class NewKey:
    key: str  # shown once, never stored
    row: ApiKeyRow


class ApiKeys:
    def __init__(self, store: KeyStore) -> None:
        self._store = store

    def create(self, principal: str, *, actor: str, admin: bool = False,
               label: str | None = None) -> NewKey:
        """A key that acts as `principal` (a user or an agent; a group acts only through its
        members). `actor` is who made it, for the audit trail."""
        target = Principal.parse(principal)
        if target.kind == "group":
            raise InvalidInput("a group cannot act; create a key for one of its members")
        if label is not None and (not isinstance(label, str) or len(label) > MAX_LABEL):
            raise InvalidInput(f"label must be a string of at most {MAX_LABEL} characters")
        key = PREFIX + secrets.token_urlsafe(32)
        row = self._store.create_key(actor, key_id="key_" + secrets.token_hex(8),
                                     key_hash=hash_key(key), principal=target.id,
                                     admin=admin, label=label)
        return NewKey(key, row)

    def authenticate(self, key: str) -> ApiKeyRow | None:
        """The live key behind `key`, or None (unknown, malformed or revoked)."""
        if not well_formed(key):
            return None
        return self._store.key_for_hash(hash_key(key))

    def list(self, principal: str | None) -> list[ApiKeyRow]:
        return self._store.list_keys(Principal.parse(principal).id if principal else None)

    def revoke(self, key_id: str, *, actor: str, admin: bool) -> ApiKeyRow:
        """Revoke a key: an admin any key, anyone else only its own principal's."""
        if not isinstance(key_id, str) or not re.fullmatch(r"key_[0-9a-f]{16}", key_id):
            raise InvalidInput(f"not a key id: {key_id!r:.40}")
        row = self._store.revoke_key(actor, key_id, principal=None if admin else actor)
        if row is None:
            raise NotFound(f"no live key {key_id} that {actor} may revoke")
        return row


def require_admin(row: ApiKeyRow, what: str) -> None:
    if not row.admin:
        raise PermissionDenied(f"{what} needs an admin key; {row.principal}'s key {row.id} is not")
