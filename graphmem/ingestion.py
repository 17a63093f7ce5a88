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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from graphmem import ingest
from graphmem.embeddings import Embedder
from graphmem.models import AddResult, CubeKind, Message, NewCube
from graphmem.records import cube_from_stored
from graphmem.settings import Settings
from graphmem.store.protocol import CubeStore, EntityRow, EpisodeRow, QueryStore, WriteBatch

if TYPE_CHECKING:
    from graphmem.extractors.base import Extraction, Extractor, Turn

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


@dataclass
class _Conversation:
    """One conversation of a bulk ingest, planned: its batch, its cubes, its extractor."""

    origin: ingest.Origin
    batch: WriteBatch
    planned: list[_Planned]
    extractor: tuple[str, str, str | None]  # name, version, model
    new_turns: list[Turn] = field(default_factory=list)
    extraction: Extraction | None = None


@dataclass(frozen=True)
class BulkItem:
    """A validated conversation for `Ingestor.add_many`: what one `add` call would get."""

    messages: Sequence[Message]
    origin: ingest.Origin
    attributes: dict[str, Any]


class Ingestor:
    def __init__(self, store: IngestStore, embedder: Embedder, settings: Settings,
                 extractor: Callable[[], Extractor]) -> None:
        self._store = store
        self._embedder = embedder
        self._settings = settings
        self._extractor = extractor
        # One read per add runs here, behind its embedding; four threads let concurrent adds
        # (a server's request threads) go on without waiting for each other.
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ingest")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def add(self, messages: Sequence[Message], origin: ingest.Origin, *, infer: bool,
            attributes: dict[str, Any]) -> AddResult:
        return self.add_many([BulkItem(messages, origin, attributes)], infer=infer)[0]

    def add_many(self, items: Sequence[BulkItem], *, infer: bool) -> list[AddResult]:
        """Several conversations with the semantics of one `add` each, in that order, but
        with the work batched: one lookup of known episodes, one spaCy pass, two embedding
        batches (the raw turns, on a thread while spaCy runs; then the extracted memories and
        entity names), one entity-resolution query per scope and one write transaction (which
        reads back what it created) for all of them. What a conversation would have seen of
        an earlier one in the same call (its episodes, its entities) is taken into account
        here, and the writes run conversation by conversation inside the transaction, so
        deduplication and supersession see the earlier ones exactly as consecutive `add`
        calls would."""
        if not items:
            return []
        convs, ahead = self._plan(items, infer)
        planned = [p for c in convs for p in c.planned]
        entities = [e for c in convs for e in c.batch.entities]
        # Which entities the graph already holds is asked while the texts are embedded: a
        # round trip to Neo4j behind the CPU work (about 3 ms of a single add's ~45).
        existing = self._pool.submit(self._store.existing_entity_ids,
                                     list(dict.fromkeys(e.id for e in entities))) \
            if entities else None
        vectors = self._embed(entities, planned, ahead.result())
        self._resolve_entities(convs, existing.result() if existing else set())
        at = 0
        for conv in convs:
            name, version, model = conv.extractor
            conv.batch.cubes = [
                ingest.cube_row(p.cube, conv.origin, vec, extractor=name,
                                extractor_version=version, model=model,
                                entity_ids=p.entity_ids, structured=p.structured,
                                search_text=p.search_text)
                for p, vec in zip(conv.planned, vectors[at:at + len(conv.planned)], strict=True)
            ]
            at += len(conv.planned)
        outcomes = self._store.write_batches(
            [(c.origin.actor, c.batch) for c in convs])
        results = []
        for conv, outcome in zip(convs, outcomes, strict=True):
            log.info("add: user=%s episodes=%d new cubes=%d extractor=%s", conv.origin.owner,
                     len(outcome.new_episode_ids), len(outcome.stored), conv.extractor[0])
            results.append(AddResult(
                user_id=conv.origin.owner, scope=conv.origin.scope,
                extractor=conv.extractor[0],
                episodes_written=len(outcome.new_episode_ids),
                cubes=[cube_from_stored(s) for s in outcome.stored],
                entities=[e.name for e in conv.batch.entities],
                skipped_duplicates=sum(1 for c in outcome.cubes if not c.created),
                superseded=outcome.superseded,
            ))
        return results

    def _plan(self, items: Sequence[BulkItem], infer: bool
              ) -> tuple[list[_Conversation], Future[dict[str, list[float]]]]:
        """Episodes, extraction and cubes of every conversation; a turn an earlier
        conversation of the call already brings counts as known, as it would after its add.
        Also returns the raw turns' embeddings (their episode cubes' vectors), computed on a
        thread meanwhile."""
        episodes = [ingest.episode_rows(item.messages, item.origin) for item in items]
        # Which turns are new is asked while the extractor parses them all (most are new),
        # and the turns are embedded meanwhile on a thread (spaCy holds this one).
        pending = self._pool.submit(self._known_and_tails, items, episodes)
        roles = set(self._settings.episode_cube_roles)
        ahead = self._pool.submit(self._embed_texts, [r.content for rows in episodes
                                                      for r in rows if r.role in roles])
        extractor = self._extractor() if infer else None
        preparse = getattr(extractor, "preparse", None)
        if preparse is not None:
            preparse([t for rows in episodes
                      for t in ingest.turns_for(rows, {r.id for r in rows})])
        known, tails = pending.result()
        convs: list[_Conversation] = []
        for item, rows in zip(items, episodes, strict=True):
            new_ids = {r.id for r in rows} - known
            known |= new_ids
            conv = _Conversation(
                item.origin,
                WriteBatch(scope=item.origin.scope, episodes=rows,
                           session_links=ingest.session_links(rows),
                           subject=item.origin.owner_id,
                           subject_names=list(dict.fromkeys(
                               r.speaker for r in rows
                               if r.speaker and r.role == "user" and r.id in new_ids))),
                [], ("verbatim", "1", None), ingest.turns_for(rows, new_ids))
            previous = _continue_session(item.origin, conv.batch, new_ids, tails)
            contexts = ingest.turn_search_texts(rows, previous)
            conv.planned = [_Planned(cube, search_text=contexts.get(cube.episode_ids[0]))
                            for cube in ingest.turn_cubes(
                                rows, new_ids, self._settings.episode_cube_roles)]
            if rows and item.origin.session_id:
                tails[(item.origin.scope, item.origin.owner, item.origin.session_id)] = (
                    rows[-1].id, rows[-1].content)
            convs.append(conv)
        if extractor is not None:
            jobs = [c for c in convs if c.new_turns]
            extractions = extract_many(extractor,
                                       [(c.new_turns, c.origin.owner) for c in jobs])
            for conv in convs:
                conv.extractor = (extractor.name, extractor.version, None)
            for conv, extraction in zip(jobs, extractions, strict=True):
                conv.extractor = (extraction.extractor, extraction.extractor_version,
                                  extraction.model)
                conv.batch.entities, entity_ids = ingest.entity_rows(extraction, conv.origin)
                conv.batch.relations = ingest.relation_rows(extraction, entity_ids)
                conv.planned[:0] = [
                    _Planned(cube, structured,
                             [entity_ids[n] for n in cube.entities if n in entity_ids])
                    for cube, structured in ingest.memories_as_cubes(extraction)]
                conv.planned = _fold_restated_turns(conv.planned)
        for conv, item in zip(convs, items, strict=True):
            speakers = {e.id: e.speaker for e in conv.batch.episodes if e.speaker}
            for p in conv.planned:
                p.cube.attributes.update(item.attributes)
                speaker = next((speakers[i] for i in p.cube.episode_ids if i in speakers), None)
                if speaker:
                    p.structured["speaker"] = speaker
        return convs, ahead

    def remember(self, cube: NewCube, origin: ingest.Origin) -> str:
        """Store one cube verbatim; returns its id (an identical live cube already in the
        scope is the one returned)."""
        row = ingest.cube_row(cube, origin, self._embedder.embed([cube.text])[0],
                              extractor="api", extractor_version="1", model=None,
                              entity_ids=[])
        outcome = self._store.write_batch(origin.actor, WriteBatch(
            scope=origin.scope, cubes=[row], subject=origin.owner_id))
        return outcome.cubes[0].id

    def _known_and_tails(self, items: Sequence[BulkItem], episodes: Sequence[list[EpisodeRow]]
                         ) -> tuple[set[str], dict[tuple[str, str, str], tuple[str, str]]]:
        """The episode ids already stored, and (scope, owner, session) → (id, content) of each
        session's latest stored turn, for every conversation that goes on a session: one
        round of reads for the whole call (a single `add` paid one each, about 2.5 ms). A tail
        is looked up even when the conversation's first turn turns out to be known; it is
        then not used (_continue_session)."""
        wanted: dict[str, dict[tuple[str, str, str], None]] = {}
        for item, rows in zip(items, episodes, strict=True):
            o = item.origin
            if o.session_id and rows:
                wanted.setdefault(o.actor, {})[(o.scope, o.owner, o.session_id)] = None
        exclude = [r.id for rows in episodes for r in rows]
        queries: list[tuple[str, dict[str, Any]]] = [
            ("episodes/existing", {"ids": list(dict.fromkeys(exclude))})]
        queries += [("episodes/session_tails", {
            "actor": actor, "exclude": exclude,
            "rows": [{"scope": k[0], "owner": k[1], "session_id": k[2]} for k in keys]})
            for actor, keys in wanted.items()]
        known_rows, *tail_rows = self._store.read_queries(queries)
        tails = {(row["scope"], row["owner"], row["session_id"]): (str(row["id"]),
                                                                   str(row["content"]))
                 for rows in tail_rows for row in rows}
        return {str(r["id"]) for r in known_rows}, tails

    def _embed_texts(self, texts: list[str]) -> dict[str, list[float]]:
        unique = list(dict.fromkeys(texts))
        return dict(zip(unique, self._embedder.embed(unique), strict=True)) if unique else {}

    def _embed(self, entities: list[EntityRow], planned: list[_Planned],
               ready: dict[str, list[float]]) -> list[list[float]]:
        """Cube texts and entity names in one embedding batch, less those `ready` holds;
        entity rows get theirs."""
        texts = [p.cube.text for p in planned] + [e.name for e in entities]
        vectors = {**ready, **self._embed_texts([t for t in texts if t not in ready])}
        for row in entities:
            row.embedding = vectors[row.name]
        return [vectors[p.cube.text] for p in planned]

    def _resolve_entities(self, convs: list[_Conversation], existing: set[str]) -> None:
        """Point new entity names at an existing entity of the scope that means the same thing
        (same normalised name is already one node; this catches aliases by embedding).

        One query per (actor, scope) for every conversation of the call; an entity that an
        earlier conversation of the call creates is a candidate for the later ones, chosen
        by the same rule as the query's (graphmem.ingestion.closest_entity)."""
        if not any(c.batch.entities for c in convs):
            return
        threshold = (1.0 + self._settings.entity_similarity) / 2.0  # Neo4j: (1+cos)/2
        # Candidates from the graph, asked once for every name not known by id. A name that an
        # earlier conversation creates is known to the later ones by id (as after its add).
        groups: dict[tuple[str, str], list[EntityRow]] = {}
        for conv in convs:
            groups.setdefault((conv.origin.actor, conv.origin.scope), []).extend(
                e for e in conv.batch.entities if e.id not in existing)
        from_graph: dict[tuple[str, str], dict[str, Any]] = {}  # (scope, key) → match
        for (actor, scope), rows in groups.items():
            unique = {_key(e): e for e in rows}
            if not unique:
                continue
            for row in self._store.read_query(
                    "entities/resolve_many", actor=actor, scope=scope, threshold=threshold,
                    rows=[{"key": k, "norm": e.norm, "type": e.type, "embedding": e.embedding}
                          for k, e in unique.items()]):
                if row.get("id"):
                    from_graph[(scope, row["key"])] = row
        created: dict[str, list[EntityRow]] = {}  # scope → entities this call creates
        known = set(existing)
        for conv in convs:
            scope = conv.origin.scope
            remap: dict[str, str] = {}
            fresh: list[EntityRow] = []
            for entity in conv.batch.entities:
                if entity.id in known:
                    continue
                best = from_graph.get((scope, _key(entity)))
                match = closest_entity(entity, created.get(scope, []), threshold)
                if match is not None and (best is None or match[1] > best["sim"]):
                    best = {"id": match[0].id, "name": match[0].name, "sim": match[1]}
                if best is None:
                    fresh.append(entity)
                    continue
                log.info("entity %r resolved to existing %r (similarity %.3f)", entity.name,
                         best["name"], best["sim"])
                remap[entity.id] = best["id"]
                entity.id = best["id"]
            # Known to the conversations after this one, as after its add (not to itself:
            # one add resolves its names against the graph only).
            created.setdefault(scope, []).extend(fresh)
            known.update(e.id for e in fresh)
            if remap:
                for p in conv.planned:
                    p.entity_ids[:] = [remap.get(i, i) for i in p.entity_ids]
                for rel in conv.batch.relations:
                    rel.source = remap.get(rel.source, rel.source)
                    rel.target = remap.get(rel.target, rel.target)


def _key(entity: EntityRow) -> str:
    return f"{entity.norm}\x1f{entity.type}"


def closest_entity(entity: EntityRow, candidates: Sequence[EntityRow],
                   threshold: float) -> tuple[EntityRow, float] | None:
    """The rule of cypher/entities/resolve.cypher over entities not yet in the graph: another
    normalised name, a compatible type, Neo4j's cosine similarity (1 + cos) / 2 at least
    `threshold`; the most similar wins."""
    best: tuple[EntityRow, float] | None = None
    if entity.embedding is None:
        return None
    query = np.asarray(entity.embedding, dtype=np.float64)
    for cand in candidates:
        if cand.embedding is None or cand.norm == entity.norm or not (
                cand.type == entity.type or "other" in (cand.type, entity.type)):
            continue
        vec = np.asarray(cand.embedding, dtype=np.float64)
        cos = float(query @ vec / (np.linalg.norm(query) * np.linalg.norm(vec) or 1.0))
        sim = (1.0 + cos) / 2.0
        if sim >= threshold and (best is None or sim > best[1]):
            best = (cand, sim)
    return best


def extract_many(extractor: Extractor,
                 jobs: Sequence[tuple[Sequence[Turn], str]]) -> list[Extraction]:
    """One extraction per conversation, batched when the extractor can (the offline one runs
    every turn through a single spaCy pipe)."""
    batched = getattr(extractor, "extract_many", None)
    if batched is not None and jobs:
        return list(batched(jobs))
    return [extractor.extract(turns, user_id=user) for turns, user in jobs]


def _fold_restated_turns(planned: list[_Planned]) -> list[_Planned]:
    """A memory that restates its turn word for word stands in for the turn's raw cube.

    Why: a one-sentence turn ("I prefer window seats when I fly.") is often extracted as it
    is, and storing it twice put the same sentence twice into every index and twice into a
    search's hits, one of a few slots wasted. The memory takes over what the raw cube was
    kept for: the turn's search text (its neighbours' words, for BM25) and its time."""
    raw = {p.cube.episode_ids[0]: p for p in planned
           if p.cube.kind is CubeKind.EPISODE and len(p.cube.episode_ids) == 1}
    folded: set[str] = set()
    for p in planned:
        if p.cube.kind is CubeKind.EPISODE or len(p.cube.episode_ids) != 1:
            continue
        turn = raw.get(p.cube.episode_ids[0])
        if turn is None or p.cube.episode_ids[0] in folded \
                or ingest.content_key(p.cube.text) != ingest.content_key(turn.cube.text):
            continue
        folded.add(p.cube.episode_ids[0])
        p.search_text = p.search_text or turn.search_text
        p.cube.valid_from = p.cube.valid_from or turn.cube.valid_from
    return [p for p in planned
            if not (p.cube.kind is CubeKind.EPISODE and p.cube.episode_ids[0] in folded)]


def _continue_session(origin: ingest.Origin, batch: WriteBatch, new_ids: set[str],
                      tails: dict[tuple[str, str, str], tuple[str, str]]) -> str | None:
    """When this batch goes on a session with an earlier turn (stored, or from an earlier
    conversation of the same call: ``tails``), chain that turn to the batch's first (NEXT), let
    its cube know its reply, and return its content as the first turn's preceding context."""
    if not origin.session_id or not batch.episodes or batch.episodes[0].id not in new_ids:
        return None
    tail = tails.get((origin.scope, origin.owner, origin.session_id))
    if tail is None:
        return None
    tail_id, content = tail
    first = batch.episodes[0]
    batch.session_links.insert(0, (tail_id, first.id))
    batch.context_extensions.append((tail_id, ingest.clip_context(first.content)))
    return content
