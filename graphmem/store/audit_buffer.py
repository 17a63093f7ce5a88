"""Buffered audit events for searches.

A search is a read, but it is audited, and a write transaction of its own per search costs a
commit (2-4 ms here) on the latency path. Search events are therefore queued in process and
written in one UNWIND transaction by a background thread every `interval_s`, or at once when
`max_events` are waiting; close() and any reader of the audit trail flush first, so a flush
can be late but an event is never skipped. Writes keep their audit event inside their own
transaction.

The cost of the batching: events of the last interval are lost if the process is killed
(not on a clean close). `GRAPHMEM_AUDIT_READS=sync` restores one transaction per search.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from graphmem.errors import GraphMemError

log = logging.getLogger(__name__)

Writer = Callable[[list[dict[str, Any]]], None]


class AuditBuffer:
    def __init__(self, write: Writer, interval_s: float = 0.2, max_events: int = 500,
                 background: bool = True) -> None:
        self._write = write
        self._background = background
        self._interval_s = interval_s
        self._max_events = max_events
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._events: list[dict[str, Any]] = []
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> int:
        return len(self._events)

    def add(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._events.append(event)
            full = len(self._events) >= self._max_events
            if self._background and self._thread is None and not self._stopped.is_set():
                self._thread = threading.Thread(target=self._run, name="graphmem-audit",
                                                daemon=True)
                self._thread.start()
        if full:
            self._wake.set()

    def flush(self) -> int:
        """Write every queued event now; returns how many were written. On a store error the
        events go back to the queue (bounded) and the error propagates."""
        with self._flush_lock:
            with self._lock:
                taken, self._events = self._events, []
            if not taken:
                return 0
            try:
                self._write(taken)
            except GraphMemError:
                with self._lock:
                    keep = taken + self._events
                    bound = self._max_events * 10
                    if len(keep) > bound:
                        log.warning("audit buffer over its bound during a store outage: "
                                    "dropped the %d oldest search events", len(keep) - bound)
                    self._events = keep[-bound:]
                raise
            return len(taken)

    def close(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self._interval_s)
            self._wake.clear()
            try:
                self.flush()
            except GraphMemError as exc:
                log.warning("audit flush failed, events kept for the next one: %s", exc)
