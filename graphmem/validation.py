"""Checks for every value a caller hands the Memory API, in one place.

Each check either returns the clean value or raises InvalidInput / PayloadTooLarge, so a bad
request never reaches the store (where it would surface as a driver exception, or be written).
Strings are checked for what Neo4j and the embedder cannot carry (lone surrogates) and for
text that is empty to a reader (whitespace and zero-width characters only).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from graphmem.errors import InvalidInput, PayloadTooLarge

# Neo4j integers are signed 64-bit; offsets and versions beyond this cannot be sent.
MAX_INT = 2**31 - 1


def _encodable(value: str, what: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"{what}: not valid Unicode text (lone surrogate at position "
                           f"{exc.start})") from exc
    return value


def visible(text: str) -> bool:
    """True when the text has a character a reader can see (not only spaces or format
    characters such as zero-width spaces and joiners)."""
    return any(not ch.isspace() and unicodedata.category(ch) != "Cf" for ch in text)


def check_text(value: object, what: str, limit: int, setting: str | None = None) -> str:
    """A non-empty, visible, encodable string of at most `limit` characters, stripped;
    `setting` names the env var that raises the limit."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what}: text must be a non-empty string; got "
                           f"{type(value).__name__}")
    if len(value) > limit:
        hint = f" ({setting})" if setting else ""
        raise PayloadTooLarge(f"{what}: {len(value)} characters; the limit is {limit}{hint}")
    _encodable(value, what)
    if not visible(value):
        raise InvalidInput(f"{what}: text must be a non-empty string")
    return value.strip()


def check_id(value: object, what: str = "cube id", limit: int = 200) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise InvalidInput(f"{what} must be a non-empty string of at most {limit} characters; "
                           f"got {value!r:.80}")
    return _encodable(value, what)


def check_ids(values: object, what: str, max_items: int) -> list[str]:
    if isinstance(values, str) or not isinstance(values, list | tuple):
        raise InvalidInput(f"{what} must be a list of ids; got {type(values).__name__}")
    if len(values) > max_items:
        raise PayloadTooLarge(f"{len(values)} {what} in one call; the limit is {max_items}")
    return [check_id(v, what) for v in values]


def check_int(value: object, what: str, low: int, high: int = MAX_INT) -> int:
    """An int (not a bool, float or numeric string) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{what} must be an integer; got {value!r:.40}")
    if not low <= value <= high:
        raise InvalidInput(f"{what} must be between {low} and {high}; got {value}")
    return value


# Neo4j's zoned datetimes hold UTC offsets within ±18:00; Python's reach ±23:59.
MAX_UTC_OFFSET = timedelta(hours=18)


def storable_datetime(value: datetime | None) -> datetime | None:
    """A datetime Neo4j can store: its UTC offset within ±18:00 (ValueError otherwise, for
    the pydantic validators of the models that carry times)."""
    if value is not None:
        offset = value.utcoffset()
        if offset is not None and abs(offset) > MAX_UTC_OFFSET:
            minutes = int(offset.total_seconds() // 60)
            shown = f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
            raise ValueError(f"UTC offset {shown} is outside ±18:00, which Neo4j cannot store")
    return value


def check_choices(values: object, what: str, allowed: Iterable[str]) -> list[str] | None:
    """None, one name, or a list of names, each one of `allowed`."""
    known = sorted(allowed)
    if values is None:
        return None
    items: list[object] = [values] if isinstance(values, str) else (
        list(values) if isinstance(values, Iterable) else [values])
    out: list[str] = []
    for item in items:
        name = getattr(item, "value", item)
        if not isinstance(name, str) or name not in known:
            raise InvalidInput(f"unknown {what} {name!r:.40}; known: {known}")
        out.append(name)
    return out or None


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of a JSON-like value, iteratively (a deep value must not overflow the
    interpreter's stack before it can be rejected)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def check_metadata(value: object, max_bytes: int, max_depth: int) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput("metadata must be a JSON object")
    if _depth(value, max_depth) > max_depth:
        raise InvalidInput(f"metadata is nested deeper than {max_depth} levels")
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"metadata is not JSON-serialisable: {exc}") from exc
    _encodable(text, "metadata")
    if len(text) > max_bytes:
        raise PayloadTooLarge(f"metadata is {len(text)} bytes; the limit is {max_bytes}")
    return value
