"""Principal and scope naming.

Principals are "user:<id>", "agent:<id>" or "group:<id>". Each owns one scope: a user's
private memory is "scope:private:<user>", an agent's working memory "scope:agent:<agent>",
a group's shared graph "scope:group:<group>"; free-standing shared graphs are
"scope:shared:<name>". Names are validated here so no id ever needs escaping downstream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from graphmem.errors import InvalidInput

PrincipalKind = Literal["user", "agent", "group"]
# fullmatch, not match with `$`: `$` also matches before a trailing newline ("bob\n").
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@\-]{0,127}")
_SCOPE_KIND = {"user": "private", "agent": "agent", "group": "group"}


def check_name(value: object, what: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidInput(
            f"{what} must be 1-128 characters of letters, digits, '_', '.', '@' or '-' "
            f"and start with a letter or digit; got {value!r:.80}"
        )
    return value


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    name: str

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def own_scope(self) -> str:
        return f"scope:{_SCOPE_KIND[self.kind]}:{self.name}"

    @property
    def scope_kind(self) -> str:
        return _SCOPE_KIND[self.kind]

    @classmethod
    def parse(cls, value: object) -> Principal:
        """Accept "user:alice", "agent:planner", "group:team"; a bare name means a user."""
        if isinstance(value, Principal):
            return value
        if not isinstance(value, str):
            raise InvalidInput(f"principal must be a string like 'user:alice'; got {value!r}")
        kind, sep, name = value.partition(":")
        if not sep:
            return cls("user", check_name(value, "user id"))
        if kind not in _SCOPE_KIND:
            raise InvalidInput(f"principal kind must be user, agent or group; got {kind!r}")
        return cls(kind, check_name(name, f"{kind} id"))  # type: ignore[arg-type]


def user(name: str) -> Principal:
    return Principal("user", check_name(name, "user id"))


def shared_scope(name: str) -> str:
    return f"scope:shared:{check_name(name, 'scope name')}"


def check_scope(value: object) -> str:
    if not isinstance(value, str) or not value.startswith("scope:"):
        raise InvalidInput(f"scope must look like 'scope:shared:<name>'; got {value!r}")
    parts = value.split(":")
    if len(parts) != 3 or parts[1] not in ("private", "agent", "group", "shared"):
        raise InvalidInput(f"unknown scope {value!r}")
    check_name(parts[2], "scope name")
    return value
