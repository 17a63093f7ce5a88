"""Turns validated messages and an extraction into the rows of one write batch.

Pure functions: ids are derived from content (episodes, entities) so that re-ingesting a
conversation maps onto the nodes that already exist, and the whole batch is known before the
single write transaction starts.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphmem.extractors.base import ExtractedMemory, Extraction, Turn
from graphmem.models import CubeKind, Message, NewCube, content_hash
from graphmem.records import labels_for, memory_type_for
from graphmem.store.protocol import CubeRow, EntityRow, EpisodeRow, RelationRow
from graphmem.text import estimate_tokens, truncate_tokens

_ARTICLES = re.compile(r"^(the|a|an|my|our|your)\s+", re.IGNORECASE)
_NON_WORD = re.compile(r"[^\w\s'-]+")


def normalise_entity(name: str) -> str:
    """Case, articles, punctuation and spacing do not make a different entity."""
    text = _NON_WORD.sub(" ", name.lower()).strip()
    text = _ARTICLES.sub("", text)
    return " ".join(text.split())


def new_cube_id() -> str:
    return "cube_" + uuid.uuid4().hex[:24]


def episode_id(scope: str, session_id: str | None, msg: Message) -> str:
    key = msg.id or content_hash(
        msg.role, msg.content, msg.timestamp.isoformat() if msg.timestamp else ""
    )
    return "ep_" + content_hash(scope, session_id or "", key)[:24]


def entity_id(scope: str, norm: str) -> str:
    return "ent_" + content_hash(scope, norm)[:24]


def content_key(text: str) -> str:
    """What two texts share when they say the same thing: their words, not their case or
    spacing. The dedup key of `cube_hash`, and how a memory is seen to restate its turn."""
    return " ".join(text.lower().split())


def cube_hash(kind: str, text: str) -> str:
    return content_hash(kind, content_key(text))


@dataclass(frozen=True)
class Origin:
    """Who writes, where, and as part of which conversation."""

    actor: str
    scope: str
    owner: str
    session_id: str | None
    agent_id: str | None
    owner_id: str  # the owning principal ("user:maya"): erasure matches on it, not the name


def episode_rows(messages: Sequence[Message], origin: Origin) -> list[EpisodeRow]:
    rows: list[EpisodeRow] = []
    for seq, msg in enumerate(messages):
        rows.append(
            EpisodeRow(
                id=episode_id(origin.scope, origin.session_id, msg),
                owner=origin.owner,
                owner_id=origin.owner_id,
                role=msg.role,
                content=msg.content,
                seq=seq,
                session_id=origin.session_id,
                agent_id=origin.agent_id,
                msg_id=msg.id,
                ts=msg.timestamp,
                speaker=msg.name,
            )
        )
    return rows


def session_links(rows: Sequence[EpisodeRow]) -> list[tuple[str, str]]:
    ids = list(dict.fromkeys(r.id for r in rows))
    return list(itertools.pairwise(ids))


def turns_for(rows: Sequence[EpisodeRow], new_ids: set[str]) -> list[Turn]:
    return [Turn(r.id, r.role, r.content, r.ts) for r in rows if r.id in new_ids]


def entity_rows(extraction: Extraction, origin: Origin) -> tuple[list[EntityRow], dict[str, str]]:
    """One row per distinct normalised name; returns the rows and a name → entity id map."""
    by_norm: dict[str, EntityRow] = {}
    ids: dict[str, str] = {}
    names = [(e.name, e.type, e.aliases) for e in extraction.entities]
    for mem in extraction.memories:
        names.extend((n, "other", []) for n in mem.entities)
    # Relations start at the speaker ("the user likes X"): the user is an entity of its own
    # scope, so those edges land instead of being dropped.
    names.extend((n, "person", []) for r in extraction.relations for n in (r.source, r.target)
                 if n == origin.owner)
    for name, etype, aliases in names:
        norm = normalise_entity(name)
        if not norm:
            continue
        row = by_norm.get(norm)
        if row is None:
            row = EntityRow(entity_id(origin.scope, norm), origin.owner, name.strip(), norm,
                            etype, [], owner_id=origin.owner_id)
            by_norm[norm] = row
        elif row.type == "other" and etype != "other":
            row.type = etype
        for alias in [name.strip(), *aliases]:
            if alias and alias not in row.aliases:
                row.aliases.append(alias)
        ids[name] = row.id
    return list(by_norm.values()), ids


def relation_rows(extraction: Extraction, ids: dict[str, str]) -> list[RelationRow]:
    return [
        RelationRow(ids[r.source], r.relation, ids[r.target], r.episode_ids, extraction.extractor)
        for r in extraction.relations
        if r.source in ids and r.target in ids
    ]


def _memory_props(mem: ExtractedMemory) -> dict[str, Any]:
    props: dict[str, Any] = {"confidence": mem.confidence}
    if mem.kind == "preference":
        topic = normalise_entity(mem.topic) if mem.topic else None
        props.update(polarity=mem.polarity, category=mem.category, strength=mem.strength,
                     topic=topic or None)
    elif mem.category is not None:  # a fact stated as a goal
        props["category"] = mem.category
    return {k: v for k, v in props.items() if v is not None}


def cube_row(
    cube: NewCube,
    origin: Origin,
    embedding: list[float],
    *,
    extractor: str,
    extractor_version: str,
    model: str | None,
    entity_ids: list[str],
    structured: dict[str, Any] | None = None,
    payload_type: str = "explicit",
    search_text: str | None = None,
) -> CubeRow:
    kind = cube.kind.value
    memory_type = memory_type_for(kind)
    props: dict[str, Any] = {
        "id": new_cube_id(),
        "text": cube.text,
        "kind": kind,
        "memory_type": memory_type,
        "content_hash": cube_hash(kind, cube.text),
        "owner": origin.owner,
        "owner_id": origin.owner_id,
        "agent_id": origin.agent_id,
        "session_id": origin.session_id,
        "priority": cube.priority,
        "expires_at": cube.expires,
        "valid_from": cube.valid_from,
        "source": f"session:{origin.session_id}" if origin.session_id else "api",
        "model": model,
        "extractor": extractor,
        "extractor_version": extractor_version,
        "payload_type": payload_type,
        "payload_format": "text",
        "attributes_json": json.dumps(cube.attributes, sort_keys=True, default=str),
        "status": "generated",
        **(structured or {}),
    }
    return CubeRow(
        props={k: v for k, v in props.items() if v is not None},
        labels=labels_for(kind, memory_type),
        embedding=embedding,
        episode_ids=list(cube.episode_ids),
        entity_ids=entity_ids,
        search_text=search_text,
    )


def memories_as_cubes(extraction: Extraction) -> list[tuple[NewCube, dict[str, Any]]]:
    out: list[tuple[NewCube, dict[str, Any]]] = []
    for mem in extraction.memories:
        kind = CubeKind.PREFERENCE if mem.kind == "preference" else CubeKind.FACT
        cube = NewCube(
            text=mem.text,
            kind=kind,
            entities=mem.entities,
            episode_ids=mem.episode_ids,
            valid_from=mem.valid_from,
        )
        out.append((cube, _memory_props(mem)))
    return out


def turn_cubes(rows: Sequence[EpisodeRow], new_ids: set[str],
               roles: Sequence[str]) -> list[NewCube]:
    """Raw turns as episode cubes, so what the extractor did not catch is still searchable."""
    return [
        NewCube(text=r.content, kind=CubeKind.EPISODE, episode_ids=[r.id],
                valid_from=r.ts if isinstance(r.ts, datetime) else None)
        for r in rows
        if r.id in new_ids and r.role in roles
    ]


# A neighbour lends at most this many (estimated) tokens to a turn's search text: enough for
# a question or a short reply, not enough for a long answer to drown the turn's own words.
CONTEXT_TOKENS = 48


def turn_search_texts(rows: Sequence[EpisodeRow], previous: str | None) -> dict[str, str]:
    """Episode id → the full-text search text of its raw-turn cube: the turn between the one
    before it (``previous`` for the first row: the session's stored tail) and the one after.

    A reply restates little of the question it answers ("Adoption agencies." after "What did
    you research?"), so the words that find it are in its neighbours. Over the raw turns of
    LoCoMo's development conversations, BM25 over turn + neighbours instead of the turn
    alone lifts fused evidence recall@10 from 0.65 to 0.76 (benchmarks/README.md). Only the
    lexical index reads it; the embedding stays that of the turn."""
    out: dict[str, str] = {}
    for i, row in enumerate(rows):
        before = rows[i - 1].content if i else previous
        after = rows[i + 1].content if i + 1 < len(rows) else None
        parts = [clip_context(before or ""), row.content, clip_context(after or "")]
        out[row.id] = "\n".join(p for p in parts if p)
    return out


def clip_context(text: str) -> str:
    """A neighbouring turn as context: its first CONTEXT_TOKENS tokens."""
    if estimate_tokens(text) <= CONTEXT_TOKENS:
        return text
    return truncate_tokens(text, CONTEXT_TOKENS)
