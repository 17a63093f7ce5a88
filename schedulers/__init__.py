"""The MemScheduler: heat from retrieval hits, lifecycle transitions, near-duplicate merging,
working-memory preloading and the KV-cache / LoRA promotion queue.

Reached as ``graphmem.schedulers`` (a symlink in graphmem/). Every query it runs is a named
file in cypher/scheduler/, run through the Store's generic read_query / write_query.
Submodules are imported on first use: settings import the policy model from here, and the
scheduler itself needs the store, which needs settings.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FlushResult": "heat", "HitRecorder": "heat",
    "Decay": "lifecycle", "Lifecycle": "lifecycle", "Merge": "lifecycle",
    "Transition": "lifecycle",
    "SchedulerPolicy": "policy",
    "PlannedPromotion": "promotion", "PromotionQueue": "promotion",
    "PromotionRequest": "promotion",
    "HotCube": "scheduler", "MemScheduler": "scheduler", "RetrievalNote": "scheduler",
    "SchedulerStatus": "scheduler", "TickReport": "scheduler",
    "WorkingMemory": "working_memory", "WorkingMemoryStats": "working_memory",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
