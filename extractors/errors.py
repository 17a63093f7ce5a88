"""The one error extraction raises on purpose, so the memory pipeline can tell it apart.

It derives from GraphMemError: a failed extraction means the caller's turns were not turned
into memories, and, like every GraphMem error, that nothing was written. It lives in
graphmem.errors so the LLM layer (graphmem.llm), which extraction uses, can derive from it.
"""

from __future__ import annotations

from graphmem.errors import ExtractionError

__all__ = ["ExtractionError"]
