"""Ingestion: validated messages → one write batch → the store, and what was stored.

The facade (graphmem.api) validates the request and names the actor, owner and scope; this
plans everything the single write transaction needs (episodes, the extractor's entities,
facts and preferences, raw turns as episode cubes, their embeddings in one batch, entity
resolution against the scope's existing entities) and reads back what it created. The pure
row builders are in graphmem.ingest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from graphmem import ingest
from graphmem.embeddings import Embedder
from graphmem.models import AddResult, Message, NewCube
from graphmem.records import cube_from_stored
from graphmem.settings import Settings
from graphmem.store.protocol import CubeStore, QueryStore, WriteBatch

if TYPE_CHECKING:
    from graphmem.extractors.base import Extractor

log = logging.getLogger(__name__)


class IngestStore(CubeStore, QueryStore, Protocol):
    """The store pieces ingestion uses: writes, and the entity-resolution query."""


@dataclass
class _Planned:
    """A cube to create, its structured properties and the entities it is about."""

    cube: NewCube
    structured: dict[str, Any] = field(default_factory=dict)
    entity_ids: list[str] = field(default_factory=list)
    search_text: str | None = None


class Ingestor:
    def __init__(self, store: IngestStore, embedder: Embedder, settings: Settings,
                 extractor: Callable[[], Extractor]) -> None:
        self._store = store
        self._embedder = embedder
        self._settings = settings
        self._extractor = extractor

    def add(self, messages: Sequence[Message], origin: ingest.Origin, *, infer: bool,
            attributes: dict[str, Any]) -> AddResult:
        episodes = ingest.episode_rows(messages, origin)
        new_ids = {r.id for r in episodes} - self._store.existing_episode_ids(
            [r.id for r in episodes])
        batch = WriteBatch(scope=origin.scope, episodes=episodes,
                           session_links=ingest.session_links(episodes),
                           subject=origin.owner_id)
        extractor_name, extractor_version, model = "verbatim", "1", None
        planned: list[_Planned] = []
        new_turns = ingest.turns_for(episodes, new_ids)
        if infer:
            extractor = self._extractor()
            extractor_name, extractor_version = extractor.name, extractor.version
            if new_turns:
                extraction = extractor.extract(new_turns, user_id=origin.owner)
                extractor_name = extraction.extractor
                extractor_version, model = extraction.extractor_version, extraction.model
                batch.entities, entity_ids = ingest.entity_rows(extraction, origin)
                batch.relations = ingest.relation_rows(extraction, entity_ids)
                planned += [_Planned(cube, structured,
                                     [entity_ids[n] for n in cube.entities if n in entity_ids])
                            for cube, structured in ingest.memories_as_cubes(extraction)]
        previous = self._continue_session(origin, batch, new_ids)
        contexts = ingest.turn_search_texts(episodes, previous)
        planned += [_Planned(cube, search_text=contexts.get(cube.episode_ids[0])) for cube in
                    ingest.turn_cubes(episodes, new_ids, self._settings.episode_cube_roles)]
        speakers = {e.id: e.speaker for e in episodes if e.speaker}
        batch.subject_names = list(dict.fromkeys(
            e.speaker for e in episodes if e.speaker and e.role == "user" and e.id in new_ids))
        for p in planned:
            p.cube.attributes.update(attributes)
            speaker = next((speakers[i] for i in p.cube.episode_ids if i in speakers), None)
            if speaker:
                p.structured["speaker"] = speaker
        vectors = self._embed(batch, planned)
        self._resolve_entities(origin, batch, planned)
        batch.cubes = [
            ingest.cube_row(p.cube, origin, vec, extractor=extractor_name,
                            extractor_version=extractor_version, model=model,
                            entity_ids=p.entity_ids, structured=p.structured,
                            search_text=p.search_text)
            for p, vec in zip(planned, vectors, strict=True)
        ]
        outcome = self._store.write_batch(origin.actor, batch)
        created = list(dict.fromkeys(c.id for c in outcome.cubes if c.created))
        cubes = [cube_from_stored(c) for c in self._store.get_cubes(origin.actor, created)]
        log.info("add: user=%s episodes=%d new cubes=%d extractor=%s", origin.owner,
                 len(outcome.new_episode_ids), len(created), extractor_name)
        return AddResult(
            user_id=origin.owner, scope=origin.scope, extractor=extractor_name,
            episodes_written=len(outcome.new_episode_ids), cubes=cubes,
            entities=[e.name for e in batch.entities],
            skipped_duplicates=sum(1 for c in outcome.cubes if not c.created),
            superseded=outcome.superseded,
        )

    def remember(self, cube: NewCube, origin: ingest.Origin) -> str:
        """Store one cube verbatim; returns its id (an identical live cube already in the
        scope is the one returned)."""
        row = ingest.cube_row(cube, origin, self._embedder.embed([cube.text])[0],
                              extractor="api", extractor_version="1", model=None,
                              entity_ids=[])
        outcome = self._store.write_batch(origin.actor, WriteBatch(
            scope=origin.scope, cubes=[row], subject=origin.owner_id))
        return outcome.cubes[0].id

    def _continue_session(self, origin: ingest.Origin, batch: WriteBatch,
                          new_ids: set[str]) -> str | None:
        """When this batch goes on a session stored by an earlier call, chain the session's
        last stored turn to the batch's first (NEXT), let that turn's cube know its reply, and
        return its content as the first turn's preceding context."""
        if not origin.session_id or not batch.episodes or batch.episodes[0].id not in new_ids:
            return None
        rows = self._store.read_query(
            "episodes/session_tail", actor=origin.actor, scope=origin.scope,
            owner=origin.owner, session_id=origin.session_id,
            exclude=[e.id for e in batch.episodes])
        if not rows:
            return None
        tail, first = rows[0], batch.episodes[0]
        batch.session_links.insert(0, (tail["id"], first.id))
        batch.context_extensions.append((tail["id"], ingest.clip_context(first.content)))
        content: str = tail["content"]
        return content

    def _embed(self, batch: WriteBatch, planned: list[_Planned]) -> list[list[float]]:
        """Cube texts and entity names in one embedding batch; entity rows get theirs."""
        texts = [p.cube.text for p in planned] + [e.name for e in batch.entities]
        vectors = self._embedder.embed(texts) if texts else []
        for row, vec in zip(batch.entities, vectors[len(planned):], strict=True):
            row.embedding = vec
        return vectors[:len(planned)]

    def _resolve_entities(self, origin: ingest.Origin, batch: WriteBatch,
                          planned: list[_Planned]) -> None:
        """Point new entity names at an existing entity of the scope that means the same thing
        (same normalised name is already one node; this catches aliases by embedding)."""
        if not batch.entities:
            return
        existing = self._store.existing_entity_ids([e.id for e in batch.entities])
        fresh = [e for e in batch.entities if e.id not in existing]
        if not fresh:
            return
        rows = self._store.read_query(
            "entities/resolve", actor=origin.actor, scope=origin.scope,
            threshold=(1.0 + self._settings.entity_similarity) / 2.0,  # Neo4j: (1+cos)/2
            rows=[{"norm": e.norm, "type": e.type, "embedding": e.embedding} for e in fresh])
        remap = {}
        for row in rows:
            if row.get("id"):
                entity = next(e for e in fresh if e.norm == row["norm"])
                log.info("entity %r resolved to existing %r (similarity %.3f)", entity.name,
                         row["name"], row["sim"])
                remap[entity.id] = row["id"]
                entity.id = row["id"]
        if remap:
            for p in planned:
                p.entity_ids[:] = [remap.get(i, i) for i in p.entity_ids]
            for rel in batch.relations:
                rel.source = remap.get(rel.source, rel.source)
                rel.target = remap.get(rel.target, rel.target)
