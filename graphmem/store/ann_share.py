"""How much of each shared vector index a principal can read, remembered for a while.

Why: the two ANN channels (search/vector.cypher, search/preferences.cypher) ask the index
for more candidates the smaller the reader's share of it is. Counting the reader's cubes is
an index scan over all of them (10k entries for a user with 10k cubes: about 1.2 ms of Neo4j
per search for both channels, on two cores it shares with the client). A share changes
slowly and only steers how many candidates are fetched: one that is out of date costs at most
the retry with four times the candidates, or the exact scan, that follow a short answer
(Neo4jStore._widen), never a wrong result. So it is counted once per `ttl_s` per
reader (search/ann_share.cypher) instead of on every search.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AnnShare:
    cubes: int  # every MemCube node in the graph (the vector index's population, at most)
    own_cubes: int  # those in scopes the reader can read
    preferences: int  # every :Preference node (the preference index's population)
    own_preferences: int

    @classmethod
    def from_row(cls, row: Any) -> AnnShare:
        return cls(int(row["cubes"]), int(row["own_cubes"]), int(row["preferences"]),
                   int(row["own_preferences"]))

    def params(self, retriever: str) -> dict[str, int]:
        """`$total` and `$own` of the channel's index."""
        if retriever == "preferences":
            return {"total": self.preferences, "own": self.own_preferences}
        return {"total": self.cubes, "own": self.own_cubes}


class ShareCache:
    """Reader → AnnShare, each kept `ttl_s` (0 keeps none), the latest `max_readers`."""

    def __init__(self, ttl_s: float, *, max_readers: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._max = max_readers
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, AnnShare]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, reader: str) -> AnnShare | None:
        with self._lock:
            entry = self._entries.get(reader)
            if entry is None or self._clock() - entry[0] >= self._ttl_s:
                return None
            return entry[1]

    def put(self, reader: str, share: AnnShare) -> None:
        if self._ttl_s <= 0:
            return
        with self._lock:
            self._entries[reader] = (self._clock(), share)
            self._entries.move_to_end(reader)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
