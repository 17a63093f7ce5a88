"""The MemScheduler: heat from retrieval hits, lifecycle transitions, near-duplicate merging,
working-memory preloading and the KV-cache / LoRA promotion queue.

Reached as ``graphmem.schedulers`` (a symlink in graphmem/). Every query it runs is a named
file in cypher/scheduler/, run through the store's generic read_query / write_query. Its
policy is configuration and lives with the settings (graphmem.policies).
"""

from graphmem.policies import SchedulerPolicy

from .heat import FlushResult, HitRecorder
from .lifecycle import Decay, Lifecycle, Merge, Transition
from .promotion import PlannedPromotion, PromotionQueue, PromotionRequest
from .scheduler import HotCube, MemScheduler, RetrievalNote, SchedulerStatus, TickReport
from .working_memory import WorkingMemory, WorkingMemoryStats

__all__ = [
    "Decay",
    "FlushResult",
    "HitRecorder",
    "HotCube",
    "Lifecycle",
    "MemScheduler",
    "Merge",
    "PlannedPromotion",
    "PromotionQueue",
    "PromotionRequest",
    "RetrievalNote",
    "SchedulerPolicy",
    "SchedulerStatus",
    "TickReport",
    "Transition",
    "WorkingMemory",
    "WorkingMemoryStats",
]
