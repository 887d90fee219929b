"""The states a label, a model version, a training run and a queued chunk can be in: one ``StrEnum`` each, so a
misspelt status is an error where it is written, not a row no query finds. They compare equal to
their strings (``LabelStatus.PENDING == "pending"``), which is what the database stores."""

from __future__ import annotations

from enum import StrEnum


class LabelStatus(StrEnum):
    PENDING = "pending"  # a model's prediction no person has looked at
    ACCEPTED = "accepted"  # a person saw it and kept it as it was
    CORRECTED = "corrected"  # a person changed its type, condition or box
    ADDED = "added"  # a person drew it (or it was imported as reviewed)
    DELETED = "deleted"  # a person removed it; kept for the history


# A reviewed label is ground truth: a person saw it.
REVIEWED = (LabelStatus.ACCEPTED, LabelStatus.CORRECTED, LabelStatus.ADDED)


class ModelStatus(StrEnum):
    CANDIDATE = "candidate"
    SERVED = "served"
    RETIRED = "retired"
    REJECTED = "rejected"


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_RUNS = (RunStatus.QUEUED, RunStatus.RUNNING)


class ChunkStatus(StrEnum):
    """A queued survey's chunk of photos (one task on the queue)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


OPEN_CHUNKS = (ChunkStatus.QUEUED, ChunkStatus.RUNNING)
