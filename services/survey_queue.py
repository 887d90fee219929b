"""Surveys on the task queue: a large survey handed in on one app replica is staged in the object
store, split into chunks of photos, and inspected by whichever ``slope worker`` takes each chunk;
any replica follows it and may cancel it.

Nothing is lost or doubled when a worker dies: a chunk it took is handed to another worker once
the broker's visibility time runs out, the photos it had stored are read back rather than
inspected again (``stored_inspection``), and storing one photo twice stores one inspection
(``save_inspection`` is idempotent). So a killed worker costs, at most, its chunk's photos in time.

The queue itself (Celery, ``services.tasks``) is behind ``TaskQueue``: these use cases only say
which chunk is to run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from core.images import stored_suffix
from core.pipeline import Inspector
from core.settings import Settings
from core.sources import PhotoSource, expand_sources
from core.statuses import ChunkStatus
from services.errors import ServiceError, plain_reason
from services.inspection import LoadLimits, inspect_batch
from services.sinks import StoreSink
from services.survey import record_survey, survey_date, survey_text
from storage import queue as queue_store
from storage.blobs import Blobs, blobs_for
from storage.db import Database
from storage.inspections import stored_inspection
from storage.queue import ChunkState, QueuedSurveyState
from storage.users import user_role


class TaskQueue(Protocol):
    def send_chunk(self, chunk_id: int, delay_s: float = 0.0) -> None:
        """Hand the chunk to a worker (after ``delay_s``)."""


class CancelRefused(ServiceError, PermissionError):
    title = "Queued surveys"


class ChunkCancelled(Exception):
    """Raised between photos when the survey was cancelled: the chunk stops there."""


def now() -> datetime:
    return datetime.now(UTC)


def queue_survey(
    db: Database,
    settings: Settings,
    queue: TaskQueue,
    paths: Iterable[str | Path],
    name: str | None,
    user: str,
    *,
    site: str | None = None,
    date: str | None = None,
    conf: float | None = None,
    max_photos: int | None = None,
) -> QueuedSurveyState:
    """Stage every photo under ``paths`` and queue it as chunks of ``settings.chunk_photos``.
    Sources that cannot be read are named in the survey's problems; the rest are queued."""
    date = survey_date(date)
    name, site = survey_text(name, "survey name"), survey_text(site, "site")
    if name is not None:
        record_survey(db, name, user, site, date)
    sources, problems = expand_sources(paths, max_bytes=settings.max_upload_bytes, max_photos=max_photos)
    queued_id = queue_store.add_queued_survey(db, name, user, conf, 0, [])
    blobs, staged = blobs_for(settings.data_dir), []
    for number, source in enumerate(sources):
        try:
            data = source.read()  # one photo in memory at a time: a drone survey is gigabytes
        except (OSError, ValueError) as exc:
            problems.append(f"{source.name}: could not be read ({exc})")
            continue
        key = f"{_staging(queued_id)}/{number:06d}{stored_suffix(data)}"
        blobs.put(key, data)
        staged.append({"name": source.name, "key": key})
    queue_store.set_photos(db, queued_id, len(staged), problems)
    size = settings.chunk_photos
    chunk_ids = queue_store.add_chunks(db, queued_id, [staged[i : i + size] for i in range(0, len(staged), size)])
    for chunk_id in chunk_ids:
        queue.send_chunk(chunk_id)
    return queue_store.queued_survey(db, queued_id)[0]


def run_chunk(db: Database, settings: Settings, inspector: Callable[[], Inspector], chunk_id: int, worker: str) -> str:
    """Run one chunk as ``worker``: "done" (also when it was already done or cancelled), or
    "busy" when another live worker holds it (the caller asks again later)."""
    stale_s = settings.task_visibility_s / 2
    claim = queue_store.claim_chunk(db, chunk_id, worker, now(), stale_s)
    if isinstance(claim, str):
        return claim
    blobs = blobs_for(settings.data_dir)
    sources = [PhotoSource(p["name"], p["key"], functools.partial(_staged, blobs, p["key"])) for p in claim.photos]

    def after_photo(done: int, total: int, name: str) -> None:
        # Every photo: the worker is alive (its chunk is not handed on) and the survey not cancelled.
        if queue_store.cancel_requested(db, chunk_id) or not queue_store.beat(db, chunk_id, worker, now()):
            raise ChunkCancelled

    try:
        batch = inspect_batch(
            sources,
            inspector(),  # the served models now: a promotion reaches the next chunk
            [StoreSink(db, settings.data_dir, claim.user, claim.survey)],
            conf=claim.conf,
            limits=LoadLimits(settings.max_image_pixels, settings.max_upload_bytes),
            progress=after_photo,
            previous=lambda data, models: stored_inspection(db, data, models),
        )
    except ChunkCancelled:
        queue_store.finish_chunk(db, chunk_id, ChunkStatus.CANCELLED, now())
    except Exception as exc:  # the store or the models failed for the whole chunk: say so, end it
        queue_store.finish_chunk(db, chunk_id, ChunkStatus.FAILED, now(), problems=[plain_reason(exc)])
    else:
        counts = {"inspected": batch.inspected, "reused": batch.reused, "failed": batch.failed}
        queue_store.finish_chunk(db, chunk_id, ChunkStatus.DONE, now(), problems=batch.problems, **counts)
    _tidy(db, blobs, claim.queued_id)
    return "done"


def cancel_queued_survey(db: Database, settings: Settings, queued_id: int, user: str) -> int:
    """Cancel a queued survey (its owner or an admin); returns the chunks that were still to run."""
    state, _ = queue_store.queued_survey(db, queued_id)
    if state.created_by != user and user_role(db, user) != "admin":
        raise CancelRefused(f"This queued survey is {state.created_by}'s: only they or an admin may cancel it.")
    stopped = queue_store.request_cancel(db, queued_id, now())
    _tidy(db, blobs_for(settings.data_dir), queued_id)
    return stopped


def queued_surveys(db: Database, limit: int = 20) -> list[QueuedSurveyState]:
    return queue_store.queued_surveys(db, limit)


def queued_survey(db: Database, queued_id: int) -> tuple[QueuedSurveyState, list[ChunkState]]:
    return queue_store.queued_survey(db, queued_id)


def _staging(queued_id: int) -> str:
    return f"staged/{queued_id}"


def _staged(blobs: Blobs, key: str) -> bytes:
    return blobs.path(key).read_bytes()


def _tidy(db: Database, blobs: Blobs, queued_id: int) -> None:
    """The staged photos go once no chunk of the survey is left to run (they are stored now)."""
    state, _ = queue_store.queued_survey(db, queued_id)
    if not state.open:
        blobs.clear(_staging(queued_id))
