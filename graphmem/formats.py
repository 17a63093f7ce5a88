"""Conversation files → sessions of messages, for `graphmem ingest`.

Shapes recognised (auto-detected, or named with --format):
- messages: a JSON list of {role, content, timestamp?, id?}, or JSONL with one per line;
- graphmem: {"user_id"?, "sessions": [{"session_id", "messages": [...]}]} (the demo's shape),
  or JSONL with one such session object per line;
- prefeval: a PrefEval topic file (list of items). Persona-driven items carry "conversation":
  {"0": {"user", "assistant"}, ...}; choice-based items a {query, assistant_options,
  user_selection, assistant_acknowledgment} exchange; explicit items only "preference", which
  becomes one user turn. Each item is one session;
- locomo: LoCoMo samples ({"conversation": {"speaker_a", "speaker_b", "session_N": [{speaker,
  dia_id, text}], "session_N_date_time"}}); speaker_a's turns are the user's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from graphmem.errors import InvalidInput

Format = Literal["auto", "messages", "graphmem", "prefeval", "locomo"]


@dataclass
class Session:
    session_id: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    user_id: str | None = None


def read_json_or_jsonl(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"{path}:{n}: neither JSON nor JSON lines ({exc})") from exc
    return rows


def detect(data: Any) -> Format:
    first = data[0] if isinstance(data, list) and data else data
    if not isinstance(first, dict):
        raise InvalidInput("a conversation file holds a JSON object or a list of objects")
    if "sessions" in first or ("session_id" in first and "messages" in first):
        return "graphmem"
    if "role" in first and "content" in first:
        return "messages"
    if isinstance(first.get("conversation"), dict) and "speaker_a" in first["conversation"]:
        return "locomo"
    if "preference" in first:
        return "prefeval"
    raise InvalidInput("unrecognised conversation file; pass --format "
                       "messages|graphmem|prefeval|locomo")


def load_sessions(path: Path, fmt: Format = "auto") -> list[Session]:
    """Every session of the file, or InvalidInput naming the shape that did not fit (the
    readers index into the data freely; a file of another shape must not surface as a raw
    KeyError or TypeError)."""
    try:
        data = read_json_or_jsonl(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from exc
    kind = detect(data) if fmt == "auto" else fmt
    stem = re.sub(r"[^A-Za-z0-9_.-]", "-", path.stem)[:60] or "file"
    try:
        if kind == "messages":
            return [Session(stem, list(data if isinstance(data, list) else [data]))]
        if kind == "graphmem":
            return list(_graphmem(data))
        if kind == "prefeval":
            return list(_prefeval(data, stem))
        return list(_locomo(data))
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
        raise InvalidInput(f"{path} is not a {kind} conversation file: "
                           f"{type(exc).__name__}: {exc}") from exc


def _graphmem(data: Any) -> Iterator[Session]:
    objects = data if isinstance(data, list) else [data]
    for obj in objects:
        sessions = obj.get("sessions", [obj])
        for s in sessions:
            yield Session(str(s["session_id"]), list(s["messages"]), obj.get("user_id"))


def _prefeval(items: list[dict[str, Any]], stem: str) -> Iterator[Session]:
    for i, item in enumerate(items):
        sid = f"{stem}-{i}"
        convo = item.get("conversation")
        msgs: list[dict[str, Any]] = []
        if isinstance(convo, dict) and "query" in convo:
            msgs = [
                {"role": "user", "content": convo["query"]},
                {"role": "assistant", "content": convo["assistant_options"]},
                {"role": "user", "content": convo["user_selection"]},
                {"role": "assistant", "content": convo["assistant_acknowledgment"]},
            ]
        elif isinstance(convo, dict):
            for key in sorted(convo, key=lambda k: int(k) if str(k).isdigit() else 0):
                turn = convo[key]
                msgs.append({"role": "user", "content": turn["user"]})
                if turn.get("assistant"):
                    msgs.append({"role": "assistant", "content": turn["assistant"]})
        else:
            msgs = [{"role": "user", "content": item["preference"]}]
        for n, m in enumerate(msgs):
            m["id"] = f"{sid}-{n}"
        yield Session(sid, msgs)


def _locomo(samples: Any) -> Iterator[Session]:
    for sample in samples if isinstance(samples, list) else [samples]:
        convo = sample["conversation"]
        user_speaker = convo["speaker_a"]
        sample_id = str(sample.get("sample_id", "locomo"))
        keys = sorted((k for k in convo if re.fullmatch(r"session_\d+", k)),
                      key=lambda k: int(k.split("_")[1]))
        for key in keys:
            when = locomo_datetime(convo.get(f"{key}_date_time"))
            msgs = []
            for turn in convo[key]:
                role = "user" if turn["speaker"] == user_speaker else "assistant"
                msgs.append({"role": role, "content": turn["text"], "id": turn.get("dia_id"),
                             "timestamp": when.isoformat() if when else None})
            yield Session(f"{sample_id}-{key}", msgs, re.sub(r"\W", "", user_speaker) or None)


def locomo_datetime(value: str | None) -> datetime | None:
    """A LoCoMo ``session_N_date_time`` ("1:56 pm on 8 May, 2023") as a naive datetime.

    None when absent or in no known shape: a session without a date is still ingested.
    """
    if not value:
        return None
    for fmt in ("%I:%M %p on %d %B, %Y", "%H:%M on %d %B, %Y"):
        try:
            return datetime.strptime(value.strip(), fmt)
        except ValueError:
            continue
    return None
