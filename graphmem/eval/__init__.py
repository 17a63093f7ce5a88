"""Memory benchmarks for GraphMem: PrefEval, PersonaMem and LoCoMo.

Systems under test implement :class:`MemorySystem` (reset / ingest / retrieve over
:class:`EvalTurn` turns), so GraphMem and the in-process baselines go through one scoring path.
Modules: ``prefeval``, ``personamem`` and ``locomo`` load data (``*_llm`` hold their
generation and judging), ``baselines`` holds the reference systems,
``runner`` replays and scores, ``metrics`` and ``report`` summarise, ``cli`` is
``graphmem eval``. Nothing here needs Neo4j unless the ``graphmem`` system is chosen.
"""

from graphmem.eval.protocol import EvalTurn, MemorySystem, Retrieved

__all__ = ["EvalTurn", "MemorySystem", "Retrieved"]
