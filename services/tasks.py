"""The task queue: Celery over a Redis broker (``SLOPE_BROKER_URL``), as CVAT and Label Studio
run their background work on Redis-backed queues.

A task is acknowledged when it ends, not when a worker takes it (``task_acks_late``), and a
worker holds only the task it runs (prefetch 1). When a worker dies, the others notice that it
went silent (it reports after every photo) and send its chunk again; Redis also hands the task
on once the visibility time runs out, the backstop when no worker is left to notice. A task the
broker lost (Redis restarted without its data) is sent again once the broker holds no task of its
kind while its chunk or run still waits. Every task is idempotent (see ``services.survey_queue``),
so a task run twice stores its photos once.

The tasks: a queued survey's chunk of photos and its report (queue ``surveys``), a fine-tuning
or quantization job (queue ``training``). ``slope worker`` starts one worker process: it loads
the served models once, checks the registry before every chunk (a promotion reaches the next
chunk, as it reaches the app's next request) and runs one task at a time (``--pool solo``):
start one worker per core.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass

from celery import Celery

from core.settings import Settings
from lifecycle.server import ModelServer
from services.errors import ServiceError
from services.jobs import fail_orphaned_runs, run_job, send_again_lost_jobs
from services.survey_queue import end_cut_off, make_report, run_chunk, send_again_lost, take_back_silent
from storage.db import Database

app = Celery("slope_inspect", set_as_current=False)
SURVEYS, TRAINING = "surveys", "training"  # the two queues: a worker takes from those it is given
LOG = logging.getLogger(__name__)


@dataclass
class _Worker:
    """What this worker process loaded once."""

    db: Database
    settings: Settings
    server: ModelServer
    name: str
    queue: CeleryQueue


_worker: _Worker | None = None


class NoQueue(ServiceError, ValueError):
    title = "Queued surveys"


def configure(settings: Settings) -> Celery:
    if not settings.broker_url:
        raise NoQueue("no task queue: set SLOPE_BROKER_URL (e.g. redis://127.0.0.1:6379/0)")
    visibility = settings.task_visibility_s
    app.conf.update(
        broker_url=settings.broker_url,
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_default_queue=SURVEYS,
        task_routes={"slope.run_job": {"queue": TRAINING}},
        # Redis re-delivers a task left unacknowledged past the visibility time (its worker died);
        # the live workers look for such tasks this often.
        broker_transport_options={
            "visibility_timeout": visibility,
            "unacked_restore_interval": max(1, min(10, visibility // 4)),
            "unacked_restore_throttle": 1,
        },
    )
    return app


class QueueDown(ServiceError, ConnectionError):
    title = "Queued surveys"


class CeleryQueue:
    """``services.survey_queue.TaskQueue`` on Celery. Made only when the broker answers, so a
    survey is never half queued for a broker that is down."""

    def __init__(self, settings: Settings) -> None:
        queue = configure(settings)  # no broker configured: NoQueue, as it says
        try:
            with queue.connection_for_write() as connection:
                connection.ensure_connection(max_retries=2, interval_start=0.2, interval_step=0.5)
        except Exception as exc:
            raise QueueDown(
                f"The task queue does not answer ({type(exc).__name__}): nothing was queued. Try again in a moment."
            ) from None

    def send_chunk(self, chunk_id: int, delay_s: float = 0.0) -> None:
        inspect_chunk.apply_async((chunk_id,), countdown=delay_s or None)

    def send_report(self, queued_id: int) -> None:
        survey_report.apply_async((queued_id,))

    def send_job(self, run_id: int) -> None:
        """``services.jobs.JobQueue``: a training run for the ``training`` queue's workers."""
        run_training.apply_async((run_id,))

    def chunks_waiting(self) -> int:
        return _waiting(SURVEYS)

    def jobs_waiting(self) -> int:
        return _waiting(TRAINING)


def _waiting(queue: str) -> int:
    """The tasks the broker holds in ``queue`` (not those a worker has taken)."""
    with app.connection_for_read() as connection:
        return connection.default_channel.queue_declare(queue=queue, durable=True).message_count


@app.task(name="slope.inspect_chunk")
def inspect_chunk(chunk_id: int) -> None:
    if _worker is None:
        raise RuntimeError("inspect_chunk runs in `slope worker`, which loads the models first")
    outcome = run_chunk(_worker.db, _worker.settings, _worker.server.inspector, chunk_id, _worker.name)
    if outcome == "busy":  # another worker holds it and reports: ask again once it could have gone silent
        _worker.queue.send_chunk(chunk_id, _worker.settings.task_silent_s)


@app.task(name="slope.survey_report")
def survey_report(queued_id: int) -> None:
    if _worker is None:
        raise RuntimeError("survey_report runs in `slope worker`")
    make_report(_worker.db, _worker.settings, queued_id)


# Acknowledged when taken, not when done: a training run is not run twice. One whose worker dies
# stops beating; the next job start on any machine (``fail_orphaned_runs``) then marks it failed.
@app.task(name="slope.run_job", acks_late=False)
def run_training(run_id: int) -> None:
    if _worker is None:
        raise RuntimeError("run_training runs in `slope worker`")
    try:
        run_job(_worker.db, _worker.settings, run_id)
    except RuntimeError as not_queued:  # cancelled while it waited, or taken already: nothing to do
        LOG.warning("training run %s not run: %s", run_id, not_queued)


def _watch(worker: _Worker) -> None:
    """Hand on the chunks of silent workers, send again the tasks the broker lost, and end the
    surveys whose taking in was cut off, twice in every silent period, for as long as this worker
    lives (a daemon thread: it ends with the process)."""
    while True:
        time.sleep(worker.settings.task_silent_s / 2)
        try:
            take_back_silent(worker.db, worker.settings, worker.queue)
            send_again_lost(worker.db, worker.settings, worker.queue)
            send_again_lost_jobs(worker.db, worker.queue)
            end_cut_off(worker.db, worker.settings)
        except Exception:  # the store or broker away for a moment: look again next time
            LOG.exception("looking for silent workers and lost tasks failed")


def run_worker(
    settings: Settings, db: Database, name: str | None = None, queues: str = f"{SURVEYS},{TRAINING}"
) -> None:
    """Load the served models, then take tasks from ``queues`` until stopped (Ctrl-C or SIGTERM:
    the task in hand ends first)."""
    global _worker
    fail_orphaned_runs(db, settings)  # a training run this machine was running when it stopped
    server = ModelServer(settings, db)
    server.inspector()  # loaded now: the first chunk is not slower than the rest
    name = name or f"worker{os.getpid()}@{socket.gethostname()}"
    _worker = _Worker(db, settings, server, name, CeleryQueue(settings))
    threading.Thread(target=_watch, args=(_worker,), name="silent-workers", daemon=True).start()
    options = ["--pool=solo", f"--hostname={name}", "--without-gossip", "--without-mingle", f"--queues={queues}"]
    configure(settings).worker_main(["worker", *options, "--loglevel=INFO"])
