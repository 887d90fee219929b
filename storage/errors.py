"""What the storage functions raise for a caller to handle: a stale edit and a missing row."""

from __future__ import annotations


class ConflictError(RuntimeError):
    """The label changed since the caller read it; reload and try again."""


class NotFoundError(LookupError):
    pass
