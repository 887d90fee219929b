"""What the storage functions raise for a caller to handle: a stale edit (or promotion), a
missing row and a store that stayed busy."""

from __future__ import annotations


class ConflictError(RuntimeError):
    """The label changed since the caller read it; reload and try again."""


class NotFoundError(LookupError):
    pass


class ServedChanged(ConflictError):
    """Another version is served than the one the caller compared against; nothing changed."""


class StoreBusy(RuntimeError):
    """Another program held the store's write lock for longer than a writer waits (retrying with
    backoff); nothing of the transaction was written."""
