"""Conversions between store rows (flat node properties) and the public MemCube model."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from graphmem.models import (
    KIND_LABELS,
    MEMORY_TYPE_OF_KIND,
    CubeKind,
    CubeMeta,
    CubePayload,
    MemCube,
    Provenance,
    utcnow,
)
from graphmem.store.protocol import StoredCube

# Node properties that also appear as payload attributes (preference structure).
STRUCTURED_ATTRIBUTES = ("polarity", "category", "strength", "topic", "confidence")


def labels_for(kind: str, memory_type: str) -> list[str]:
    return [memory_type.capitalize(), KIND_LABELS[CubeKind(kind)]]


def memory_type_for(kind: str) -> str:
    return MEMORY_TYPE_OF_KIND.get(CubeKind(kind), "plaintext")


def cube_from_stored(stored: StoredCube) -> MemCube:
    p: dict[str, Any] = stored.props
    attributes: dict[str, Any] = json.loads(p.get("attributes_json") or "{}")
    for key in STRUCTURED_ATTRIBUTES:
        if p.get(key) is not None:
            attributes.setdefault(key, p[key])
    created: datetime = p.get("created_at") or utcnow()
    meta = CubeMeta(
        id=p["id"],
        memory_type=p.get("memory_type", "plaintext"),
        kind=CubeKind(p.get("kind", "fact")),
        created=created,
        updated=p.get("updated_at") or created,
        source=p.get("source"),
        provenance=Provenance(
            episode_ids=stored.episode_ids,
            extractor=p.get("extractor"),
            extractor_version=p.get("extractor_version"),
            created_by=p.get("created_by"),
            session_id=p.get("session_id"),
            extracted_at=created,
        ),
        model=p.get("model"),
        priority=p.get("priority", "mid"),
        expires=p.get("expires_at"),
        access=stored.access,
        status=p.get("status", "generated"),
        version=int(p.get("version", 1)),
        current=bool(p.get("current", True)),
        owner=p.get("owner"),
        scope=p.get("scope", ""),
        agent_id=p.get("agent_id"),
        session_id=p.get("session_id"),
        valid_from=p.get("valid_from"),
        valid_until=p.get("valid_until"),
        superseded_by=p.get("superseded_by"),
        heat=float(p.get("heat") or 0.0),
        hits=int(p.get("hits") or 0),
    )
    payload = CubePayload(
        type=p.get("payload_type", "explicit"),
        format=p.get("payload_format", "text"),
        content=p.get("text", ""),
        attributes=attributes,
    )
    if stored.entities:
        payload.attributes.setdefault("entities", sorted(stored.entities))
    return MemCube(meta=meta, payload=payload)


def props_from_cube(cube: MemCube) -> dict[str, Any]:
    """Flat node properties for a bundle import (the inverse of cube_from_stored)."""
    m, pl = cube.meta, cube.payload
    attributes = {k: v for k, v in pl.attributes.items() if k != "entities"}
    props: dict[str, Any] = {
        "id": m.id,
        "vid": f"{m.id}:v{m.version}",
        "version": m.version,
        "current": m.current,
        "memory_type": m.memory_type,
        "kind": m.kind.value,
        "text": pl.content,
        "payload_type": pl.type,
        "payload_format": pl.format,
        "attributes_json": json.dumps(attributes, sort_keys=True, default=str),
        "status": m.status.value,
        "priority": m.priority,
        "created_at": m.created,
        "updated_at": m.updated,
        "expires_at": m.expires,
        "source": m.source,
        "model": m.model,
        "owner": m.owner,
        "agent_id": m.agent_id,
        "session_id": m.session_id,
        "extractor": m.provenance.extractor,
        "extractor_version": m.provenance.extractor_version,
        "created_by": m.provenance.created_by,
        "valid_from": m.valid_from,
        "valid_until": m.valid_until,
        "superseded_by": m.superseded_by,
        "hits": m.hits,
        "heat": m.heat,
    }
    for key in STRUCTURED_ATTRIBUTES:
        if key in attributes and isinstance(attributes[key], str | int | float):
            props[key] = attributes[key]
    return {k: v for k, v in props.items() if v is not None}
