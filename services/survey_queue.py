"""Surveys on the task queue: a large survey handed in on one app replica is staged in the object
store, split into chunks of photos, and inspected by whichever ``slope worker`` takes each chunk;
any replica follows it and may cancel it.

Nothing is lost or doubled when a worker dies: a chunk it took is handed to another worker once
it has been silent for ``task_silent_s`` (or the broker's visibility time ran out), the photos
it had stored are read back rather than inspected again (``stored_inspection``), and storing one
photo twice stores one inspection (``save_inspection`` is idempotent). So a killed worker costs
its chunk's photos and the silent time, no data.

The queue itself (Celery, ``services.tasks``) is behind ``TaskQueue``: these use cases only say
which chunk is to run.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from core.images import stored_suffix
from core.pipeline import Inspector
from core.settings import Settings
from core.sources import PhotoSource, expand_sources
from core.statuses import ChunkStatus
from services.errors import ServiceError, plain_reason
from services.inspection import LoadLimits, checked_threshold, inspect_batch
from services.sinks import StoreSink
from services.survey import checked_survey
from services.survey_report import write_survey_report
from storage import queue as queue_store
from storage.blobs import Blobs, blobs_for
from storage.db import Database
from storage.inspections import stored_inspection
from storage.queue import ChunkState, QueuedSurveyState
from storage.users import user_role


class TaskQueue(Protocol):
    def send_chunk(self, chunk_id: int, delay_s: float = 0.0) -> None:
        """Hand the chunk to a worker (after ``delay_s``)."""

    def send_report(self, queued_id: int) -> None:
        """Have a worker make the survey's report."""

    def chunks_waiting(self) -> int:
        """How many chunk tasks the broker holds for a worker to take."""


class CancelRefused(ServiceError, PermissionError):
    title = "Queued surveys"


class ChunkStopped(Exception):
    """Raised between photos when the chunk is to stop there: "cancel" (the survey was
    cancelled) or "lost" (it was handed to another worker)."""


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
    """Stage every photo under ``paths`` in the object store and queue them in chunks of
    ``settings.chunk_photos``, each as soon as it is full. Sources that cannot be read are named
    in the survey's problems; the rest are queued."""
    name, _, _ = checked_survey(db, name, user, site, date)
    checked_threshold(conf)
    sources, problems = expand_sources(paths, max_bytes=settings.max_upload_bytes, max_photos=max_photos)
    queued_id = queue_store.add_queued_survey(db, name, user, conf)
    blobs, chunk, chunks, photos = blobs_for(settings.data_dir), [], 0, 0

    def send(chunk: list[dict[str, str]], position: int) -> None:
        queue.send_chunk(queue_store.add_chunk(db, queued_id, position, chunk, now()))

    for number, source in enumerate(sources):
        try:
            data = source.read()  # one photo in memory at a time: a drone survey is gigabytes
        except (OSError, ValueError) as exc:
            problems.append(f"{source.name}: could not be read ({exc})")
            continue
        key = f"{_staging(queued_id)}/{number:06d}{stored_suffix(data)}"
        blobs.put(key, data)
        chunk.append({"name": source.name, "key": key})
        photos += 1
        if len(chunk) == settings.chunk_photos:  # queued at once: workers start while the rest is staged
            send(chunk, chunks)
            chunk, chunks = [], chunks + 1
    if chunk:
        send(chunk, chunks)
    queue_store.staged(db, queued_id, photos, problems, now())
    _tidy(db, blobs, queued_id)  # the workers may have finished every chunk already
    return queue_store.queued_survey(db, queued_id)[0]


def run_chunk(db: Database, settings: Settings, inspector: Callable[[], Inspector], chunk_id: int, worker: str) -> str:
    """Run one chunk as ``worker``: "done" (also when it was done, cancelled, or taken over by
    another worker meanwhile), or "busy" when another live worker holds it (ask again later)."""
    claim = queue_store.claim_chunk(db, chunk_id, worker, now(), settings.task_silent_s)
    if isinstance(claim, str):
        return claim
    blobs = blobs_for(settings.data_dir)
    sources = [PhotoSource(p["name"], p["key"], functools.partial(blobs.read, p["key"])) for p in claim.photos]

    def after_photo(done: int, total: int, name: str) -> None:
        # Every photo: the worker reports it is alive, and learns whether to go on.
        answer = queue_store.beat(db, chunk_id, worker, now())
        if answer != "ok":
            raise ChunkStopped(answer)

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
    except ChunkStopped as stopped:  # cancelled: say so; lost: the worker that has it now will
        if str(stopped) == "cancel":
            queue_store.finish_chunk(db, chunk_id, worker, ChunkStatus.CANCELLED, now())
    except Exception as exc:  # the store or the models failed for the whole chunk: say so, end it
        queue_store.finish_chunk(db, chunk_id, worker, ChunkStatus.FAILED, now(), problems=[plain_reason(exc)])
    else:
        counts = {"inspected": batch.inspected, "reused": batch.reused, "failed": batch.failed}
        queue_store.finish_chunk(db, chunk_id, worker, ChunkStatus.DONE, now(), problems=batch.problems, **counts)
    _tidy(db, blobs, claim.queued_id)
    return "done"


def take_back_silent(db: Database, settings: Settings, queue: TaskQueue) -> list[int]:
    """Hand on the chunks whose worker went silent (``settings.task_silent_s`` without a word
    after a photo): sooner than the broker's visibility time, which must outlast a whole chunk.
    Every worker calls it now and then; returns the chunks sent again."""
    chunk_ids = queue_store.take_back_silent(db, now(), settings.task_silent_s)
    for chunk_id in chunk_ids:
        queue.send_chunk(chunk_id)
    return chunk_ids


def send_again_lost(db: Database, settings: Settings, queue: TaskQueue) -> list[int]:
    """Send again the queued chunks whose tasks the broker lost (Redis restarted without its
    data): queued for over ``settings.task_silent_s`` since they were sent while the broker holds
    no chunk at all. A chunk sent twice is run once (``claim_chunk``). Every worker calls it now
    and then, beside ``take_back_silent``; returns the chunks sent again."""
    if queue.chunks_waiting():  # a backlog: the workers have not come to them yet
        return []
    chunk_ids = queue_store.take_back_lost(db, now(), settings.task_silent_s)
    for chunk_id in chunk_ids:
        queue.send_chunk(chunk_id)
    return chunk_ids


TAKING_IN_SILENT_S = 600  # staging a chunk's photos takes seconds: 10 minutes without one is a cut


def end_cut_off(db: Database, settings: Settings) -> list[int]:
    """Surveys whose photos stopped being taken in (the app taking them in died mid-upload) for
    ``TAKING_IN_SILENT_S``: ended with what they queued and a problem saying so, their staged
    photos removed once their chunks have run. Every worker calls it now and then, beside
    ``take_back_silent``; returns their ids."""
    ended = queue_store.end_cut_off(db, now(), TAKING_IN_SILENT_S)
    blobs = blobs_for(settings.data_dir)
    for queued_id in ended:
        _tidy(db, blobs, queued_id)
    return ended


def cancel_queued_survey(db: Database, settings: Settings, queued_id: int, user: str) -> int:
    """Cancel a queued survey (its owner or an admin); returns the chunks that were still to run."""
    state, _ = queue_store.queued_survey(db, queued_id)
    if state.created_by != user and user_role(db, user) != "admin":
        raise CancelRefused(f"This queued survey is {state.created_by}'s: only they or an admin may cancel it.")
    stopped = queue_store.request_cancel(db, queued_id, now())
    _tidy(db, blobs_for(settings.data_dir), queued_id)
    return stopped


class NoReport(ServiceError, ValueError):
    title = "Queued surveys"


class ReportRefused(ServiceError, PermissionError):
    title = "Queued surveys"


PENDING = "(being made since)"  # the report's key, with a time, while a worker makes it
REPORT_RETRY_S = 120  # asked for again after this long, the worker is asked again (it may have died)


def ask_for_report(
    db: Database, settings: Settings, queue: TaskQueue, queued_id: int, user: str
) -> tuple[Path, Path] | None:
    """The survey's report (HTML page, CSV) once a worker has made it; until then a worker is
    asked to make it (None: ask again in a moment). A survey still running, or with no name (its
    photos are filed under none), has no report. Only whoever queued it, a reviewer or an admin
    may have it: it holds the photos and findings, as My uploads shows an inspector only theirs."""
    state, _ = queue_store.queued_survey(db, queued_id)
    if state.created_by != user and user_role(db, user) not in ("reviewer", "admin"):
        raise ReportRefused(
            f"This queued survey is {state.created_by}'s: only they, a reviewer or an admin may see its report."
        )
    if state.survey is None:
        raise NoReport("This survey has no name: its photos are in the Review tab, with no survey report.")
    if state.open:
        raise NoReport("The survey is still running: its report comes once every chunk is done.")
    if state.report is not None and state.report.startswith(PENDING):
        since = datetime.fromisoformat(state.report.removeprefix(PENDING).strip())
        if now() - since < timedelta(seconds=REPORT_RETRY_S):
            return None
    elif state.report is not None:
        blobs = blobs_for(settings.data_dir)
        return blobs.path(f"{state.report}/report.html"), blobs.path(f"{state.report}/findings.csv")
    queue_store.set_report(db, queued_id, f"{PENDING} {now().isoformat()}")
    queue.send_report(queued_id)
    return None


def make_report(db: Database, settings: Settings, queued_id: int) -> str:
    """On a worker: the survey's HTML report and CSV from the store, put in the object store
    (``reports/<id>/``) where every replica finds them; returns that key."""
    state, _ = queue_store.queued_survey(db, queued_id)
    blobs = blobs_for(settings.data_dir)
    # A new key for every report (a key's bytes never change: replicas keep local copies).
    key = f"reports/{queued_id}/{now().strftime('%Y%m%dT%H%M%S%f')}"
    with tempfile.TemporaryDirectory() as out:
        files = write_survey_report(db, settings.data_dir, state.survey, out)
        blobs.clear(f"reports/{queued_id}")  # the last report of this survey
        blobs.put(f"{key}/report.html", files.html.read_bytes())
        blobs.put(f"{key}/findings.csv", files.csv.read_bytes())
    queue_store.set_report(db, queued_id, key)
    return key


def queued_surveys(db: Database, limit: int = 20) -> list[QueuedSurveyState]:
    return queue_store.queued_surveys(db, limit)


def queued_survey(db: Database, queued_id: int) -> tuple[QueuedSurveyState, list[ChunkState]]:
    return queue_store.queued_survey(db, queued_id)


def _staging(queued_id: int) -> str:
    return f"staged/{queued_id}"


def _tidy(db: Database, blobs: Blobs, queued_id: int) -> None:
    """The staged photos go once no chunk of the survey is left to run (they are stored now)."""
    state, _ = queue_store.queued_survey(db, queued_id)
    if not state.open:
        blobs.clear(_staging(queued_id))
