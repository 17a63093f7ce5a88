"""Recover the JSON object from what a chat model actually returns.

Models wrap JSON in code fences, think aloud in a <think> block first, add a sentence before
it, leave trailing commas, or stop mid-object when they hit the token limit. Each of those is
repaired here; anything else raises ValueError so the caller can ask the model again. A
balanced but broken object is never cut down to a parseable prefix: that would silently drop
memories from the middle. Output cut inside a string loses the member being written (a
truncated "text": "lik" is not the memory "lik").

Named json_salvage, not json_repair: the `json-repair` package on PyPI owns that import name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)(?:```|$)", re.DOTALL)
# Reasoning models put their thinking first; an unclosed block is all thinking.
_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_CLOSERS = {"{": "}", "[": "]"}


def parse_json_object(text: str) -> dict[str, Any]:
    """The JSON object in `text`, repaired if it can be; ValueError says why it cannot."""
    body, balanced = _outermost_object(_strip_fences(_THINK.sub("", text)))
    attempts = [body, _drop_trailing_commas(body)]
    last_error: json.JSONDecodeError | None = None
    for candidate in attempts:
        try:
            return _as_object(json.loads(candidate))
        except json.JSONDecodeError as err:
            last_error = err
    if not balanced:
        closed = _close_truncated(_drop_trailing_commas(body))
        if closed is not None:
            return closed
    raise ValueError(f"{last_error.msg} at line {last_error.lineno} column {last_error.colno}"
                     if last_error else "no JSON object found")


def _as_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


def _strip_fences(text: str) -> str:
    m = _FENCE.search(text)
    return m.group(1) if m else text


def _outermost_object(text: str) -> tuple[str, bool]:
    """From the first "{" to its matching "}"; when it never closes (truncated output) the
    rest of the text, flagged as unbalanced."""
    start = text.find("{")
    if start < 0:
        raise ValueError("no JSON object found (no '{' in the output)")
    depth = 0
    for i, ch in _outside_strings(text, start):
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return text[start : i + 1], True
    return text[start:], False


def _string_step(ch: str, escaped: bool) -> tuple[bool, bool]:
    """(escaped, still_in_string) after reading `ch` inside a string literal."""
    if escaped:
        return False, True
    if ch == "\\":
        return True, True
    return False, ch != '"'


def _outside_strings(text: str, start: int = 0) -> Iterator[tuple[int, str]]:
    """(index, character) of every character outside string literals, quotes excluded: the
    one scanner the repairs below share."""
    in_string, escaped = False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            escaped, in_string = _string_step(ch, escaped)
        elif ch == '"':
            in_string = True
        else:
            yield i, ch


def _ends_in_string(text: str) -> bool:
    """Whether the text stops inside a string literal (a quote opened and never closed)."""
    in_string, escaped = False, False
    for ch in text:
        if in_string:
            escaped, in_string = _string_step(ch, escaped)
        elif ch == '"':
            in_string = True
    return in_string


def _drop_trailing_commas(text: str) -> str:
    """Remove commas that directly precede a closing bracket, outside string literals (with
    the spaces between them)."""
    drop: set[int] = set()
    for i, ch in _outside_strings(text):
        if ch in "}]":
            j = i - 1
            while j >= 0 and text[j].isspace():
                drop.add(j)
                j -= 1
            if j >= 0 and text[j] == "," and j not in drop:
                drop.add(j)
    return "".join(ch for i, ch in enumerate(text) if i not in drop)


def _close_truncated(text: str) -> dict[str, Any] | None:
    """Close an object cut off by a token limit: drop the unfinished last member (a string
    the cut fell into is never closed and kept), then back to a comma until the closed text
    parses."""
    if _ends_in_string(text):
        cut = _last_separator(text)
        if cut is None:
            return None
        text = _drop_empty_element(text[:cut])
    for _ in range(64):
        closed = _close(text)
        if closed is not None:
            try:
                return _as_object(json.loads(closed))
            except (json.JSONDecodeError, ValueError):
                pass
        cut = _last_separator(text)
        if cut is None:
            return None
        text = text[:cut]
    return None


def _close(text: str) -> str | None:
    stack: list[str] = []
    for _, ch in _outside_strings(text):
        if ch in "{[":
            stack.append(ch)
        elif ch in "}]":
            if not stack:
                return None
            stack.pop()
    in_string = _ends_in_string(text)
    tail = '"' if in_string else ""
    body = (text + tail).rstrip()
    body = re.sub(r",\s*$", "", body)
    if stack and stack[-1] == "{":
        body = re.sub(r'([,{])\s*"(?:[^"\\]|\\.)*"\s*:?\s*$', lambda m: "{" if m.group(1) == "{"
                      else "", body)
    return body + "".join(_CLOSERS[c] for c in reversed(stack))


def _last_separator(text: str) -> int | None:
    """Index of the last comma or opening bracket outside strings (a cut point)."""
    last: int | None = None
    for i, ch in _outside_strings(text):
        if ch == ",":
            last = i
        elif ch in "{[" and 0 < i < len(text) - 1:
            last = i + 1
    return last




def _drop_empty_element(text: str) -> str:
    """An object that the cut left empty ("[{"), as an array element, goes too: it was only
    the start of the member being written."""
    stripped = text.rstrip()
    if stripped.endswith("{"):
        before = stripped[:-1].rstrip()
        if before.endswith(("[", ",")):
            return before.rstrip(",").rstrip()
    return text
