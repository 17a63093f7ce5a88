"""The one error extraction raises on purpose, so the memory pipeline can tell it apart.

It derives from GraphMemError: a failed extraction means the caller's turns were not turned
into memories, and, like every GraphMem error, that nothing was written.
"""

from __future__ import annotations

from graphmem.errors import GraphMemError


class ExtractionError(GraphMemError):
    """The extractor could not produce a valid Extraction (bad model output, unreachable
    endpoint, missing model); the message says which and what to change."""
