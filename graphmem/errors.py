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
