"""Synthetic cubes for the scale benchmarks, written through the store's batch write path.

Why precomputed embeddings: at a million cubes, embedding every text would take hours on two
cores and measure the embedder, not the store. A pool of template sentences is embedded once
(kept under cache_dir), and each cube takes a pool vector plus a little noise, renormalised, so
no two vectors coincide and the vector index has real work to do; its text is the pool
sentence plus a unique note, so the full-text index holds as many distinct documents.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from graphmem.api import GraphMem
from graphmem.embeddings import Embedder
from graphmem.ingest import Origin, cube_row, entity_id, normalise_entity
from graphmem.models import CubeKind, NewCube
from graphmem.store.protocol import EntityRow, WriteBatch

PEOPLE = ["Ana", "Tom", "Lea", "Omar", "Yuki", "Carlos", "Priya", "Jonas", "Mina", "Sam"]
PLACES = ["Lisbon", "Porto", "Berlin", "Kyoto", "Lyon", "Oslo", "Austin", "Cape Town", "Hanoi",
          "Quebec", "Seville", "Tallinn"]
THINGS = ["window seats", "spicy food", "jazz concerts", "hiking trails", "night trains",
          "board games", "sushi", "yoga classes", "vintage cameras", "electric cars",
          "crowded bars", "early flights", "gluten", "peanuts", "red wine", "sci-fi novels",
          "road trips", "museums", "street food", "rooftop pools", "camping", "podcasts"]
TEMPLATES = [
    "I really like {thing} when I visit {place}.",
    "I can't stand {thing}, especially in {place}.",
    "{person} recommended {thing} to me last week.",
    "My friend {person} lives in {place} and loves {thing}.",
    "I prefer {thing} over anything else on weekends.",
    "Next month I'm flying to {place} with {person}.",
    "I avoid {thing} because of my health.",
    "We talked about {thing} and {place} for an hour.",
]
PREFERENCE_CUES = ("I really like", "I can't stand", "I prefer", "I avoid")


def pool_sentences(n: int, seed: int = 11) -> list[tuple[str, list[str]]]:
    rng = random.Random(seed)
    out: dict[str, list[str]] = {}
    while len(out) < n:
        person, place, thing = rng.choice(PEOPLE), rng.choice(PLACES), rng.choice(THINGS)
        text = rng.choice(TEMPLATES).format(person=person, place=place, thing=thing)
        out[text] = [e for e in (person, place, thing) if e.lower() in text.lower()]
    return list(out.items())


def pool_vectors(embedder: Embedder, sentences: list[tuple[str, list[str]]],
                 cache: Path) -> np.ndarray:
    path = cache / f"bench-pool-{len(sentences)}.npy"
    if path.exists():
        return np.load(path)
    vectors = np.asarray(embedder.embed([t for t, _ in sentences]), dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def kind_of(text: str) -> CubeKind:
    return CubeKind.PREFERENCE if text.startswith(PREFERENCE_CUES) else CubeKind.FACT


@dataclass
class SyntheticBatch:
    """Memories of one user, written together: text, vector and named entities of each."""

    user: str
    texts: list[str]
    vectors: np.ndarray
    entities: list[list[str]]


def batches(mem: GraphMem, target: int, *, users: int, queried_share: float, have: int,
            owned: int, seed: int = 7, batch: int = 2000, pool: int = 2000,
            noise: float = 0.03) -> Iterator[SyntheticBatch]:
    """Memories until the store holds `target`: the queried user (bench0) owns
    `queried_share` of them, the rest go round-robin to `users - 1` others. The same seed,
    sizes and counts give the same memories, so peers (benchmarks/peers.py) can be handed
    exactly what GraphMem holds."""
    sentences = pool_sentences(pool)
    vectors = pool_vectors(mem.embedder, sentences, mem.settings.cache_dir)
    names = [f"bench{u}" for u in range(users)]
    rng = np.random.default_rng([seed, have])  # a later fill draws other notes
    step = 0
    while have < target:
        n = min(batch, target - have)
        # The queried user (bench0) takes a batch while it owns less than its share; the
        # batch is cut to what its share still lacks (a whole batch larger than the share
        # once left it owning nothing at 10k).
        lacking = int(queried_share * target) - owned
        if lacking > 0 and owned < queried_share * (have + n):
            n = min(n, lacking)
            user = names[0]
            owned += n
        else:
            user = names[1 + step % (users - 1)]
            step += 1
        picks = rng.integers(0, len(sentences), n)
        noisy = vectors[picks] + rng.normal(0.0, noise, (n, vectors.shape[1]))
        noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
        notes = rng.integers(0, 10**9, n)
        yield SyntheticBatch(user, [f"{sentences[i][0]} (note {note})"
                                    for i, note in zip(picks, notes, strict=True)],
                             noisy.astype(np.float32), [sentences[i][1] for i in picks])
        have += n


def populate(mem: GraphMem, target: int, *, users: int, queried_share: float, seed: int = 7,
             batch: int = 2000, pool: int = 2000, noise: float = 0.03,
             also: Callable[[SyntheticBatch], None] | None = None) -> float:
    """Fill the graph up to `target` cubes through the store's batch write path (see
    `batches`); `also` is handed every batch too (a peer's bulk load). Returns the seconds
    GraphMem's writes took."""
    import time

    names = [f"bench{u}" for u in range(users)]
    for name in names:
        mem.remember("setup", user_id=name)
    have = mem.store.stats()["cubes"]
    owned = mem.store.read_query("bench/owned_cubes", owner=names[0])[0]["n"]
    spent = 0.0
    with tqdm(total=target, initial=have, desc=f"populate to {target}") as bar:
        for b in batches(mem, target, users=users, queried_share=queried_share, have=have,
                         owned=owned, seed=seed, batch=batch, pool=pool, noise=noise):
            started = time.perf_counter()
            write(mem, b)
            spent += time.perf_counter() - started
            if also is not None:
                also(b)
            bar.update(len(b.texts))
    return spent


def write(mem: GraphMem, b: SyntheticBatch) -> None:
    """One batch as cubes with entities and ABOUT edges, in one write transaction."""
    origin = Origin(f"user:{b.user}", f"scope:private:{b.user}", b.user, "bench", None,
                    f"user:{b.user}")
    ents = sorted({e for names in b.entities for e in names})
    entities = [EntityRow(entity_id(origin.scope, normalise_entity(e)), b.user, e,
                          normalise_entity(e), "other", [e], owner_id=origin.owner_id)
                for e in ents]
    ids = {e.name: e.id for e in entities}
    cubes = [
        cube_row(NewCube(text=text, kind=kind_of(text)), origin, vec.tolist(),
                 extractor="bench", extractor_version="1", model=None,
                 entity_ids=[ids[e] for e in names])
        for text, vec, names in zip(b.texts, b.vectors, b.entities, strict=True)
    ]
    mem.store.write_batch(origin.actor, WriteBatch(scope=origin.scope, entities=entities,
                                                   cubes=cubes, subject=origin.owner_id))
