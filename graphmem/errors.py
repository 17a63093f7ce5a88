"""Errors a caller can act on. Each says what was wrong and that nothing was written."""

from __future__ import annotations


class GraphMemError(Exception):
    """Base of every error GraphMem raises on purpose."""


class InvalidInput(GraphMemError, ValueError):
    """The request was malformed; it was rejected before anything reached the store."""


class PayloadTooLarge(InvalidInput):
    """A text, batch or metadata blob exceeded a configured limit."""


class NotFound(GraphMemError, LookupError):
    """No such cube, or the acting principal may not read it (the two are not told apart,
    so that ids of other users' memories cannot be probed)."""


class PermissionDenied(GraphMemError, PermissionError):
    """The acting principal may read the target but not change it."""


class Conflict(GraphMemError):
    """A concurrent writer changed the same cube first; retry with the new version."""


class StoreUnavailable(GraphMemError, ConnectionError):
    """Neo4j could not be reached or dropped the connection; the transaction was rolled back."""


class ExtractionError(GraphMemError):
    """The extractor could not produce a valid Extraction (bad model output, unreachable
    endpoint, missing model); the message says which and what to change."""


class LLMError(ExtractionError):
    """A chat model failed (an endpoint unreachable or answering an error after its retries, a
    local model that cannot be loaded) or answered something that is not a chat completion.
    An ExtractionError, so the memory pipeline treats it as a failed extraction; chat and the
    benchmarks raise it too, since they share the clients."""
