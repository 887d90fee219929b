"""The task queue: Celery over a Redis broker (``SLOPE_BROKER_URL``), as CVAT and Label Studio
run their background work on Redis-backed queues.

A task is acknowledged when it ends, not when a worker takes it (``task_acks_late``), and a
worker holds only the task it runs (prefetch 1). When a worker dies, the others notice that it
went silent (it reports after every photo) and send its chunk again; Redis also hands the task
on once the visibility time runs out, the backstop when no worker is left to notice. Every task
is idempotent (see ``services.survey_queue``), so a task run twice stores its photos once.

``slope worker`` starts one worker process: it loads the served models once, checks the
registry before every chunk (a promotion reaches the next chunk, as it reaches the app's next
request) and runs one task at a time (``--pool solo``): start one worker per core.
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
from services.survey_queue import run_chunk, take_back_silent
from storage.db import Database

app = Celery("slope_inspect", set_as_current=False)
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


def configure(settings: Settings) -> Celery:
    if not settings.broker_url:
        raise ValueError("no task queue: set SLOPE_BROKER_URL (e.g. redis://127.0.0.1:6379/0)")
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
        # Redis re-delivers a task left unacknowledged past the visibility time (its worker died);
        # the live workers look for such tasks this often.
        broker_transport_options={
            "visibility_timeout": visibility,
            "unacked_restore_interval": max(1, min(10, visibility // 4)),
            "unacked_restore_throttle": 1,
        },
    )
    return app


class CeleryQueue:
    """``services.survey_queue.TaskQueue`` on Celery."""

    def __init__(self, settings: Settings) -> None:
        configure(settings)

    def send_chunk(self, chunk_id: int, delay_s: float = 0.0) -> None:
        inspect_chunk.apply_async((chunk_id,), countdown=delay_s or None)


@app.task(name="slope.inspect_chunk")
def inspect_chunk(chunk_id: int) -> None:
    if _worker is None:
        raise RuntimeError("inspect_chunk runs in `slope worker`, which loads the models first")
    outcome = run_chunk(_worker.db, _worker.settings, _worker.server.inspector, chunk_id, _worker.name)
    if outcome == "busy":  # another worker holds it and reports: ask again once it could have gone silent
        _worker.queue.send_chunk(chunk_id, _worker.settings.task_silent_s)


def _watch(worker: _Worker) -> None:
    """Hand on the chunks of silent workers, twice in every silent period, for as long as this
    worker lives (a daemon thread: it ends with the process)."""
    while True:
        time.sleep(worker.settings.task_silent_s / 2)
        try:
            take_back_silent(worker.db, worker.settings, worker.queue)
        except Exception:  # the store or broker away for a moment: look again next time
            LOG.exception("looking for silent workers failed")


def run_worker(settings: Settings, db: Database, name: str | None = None, loglevel: str = "INFO") -> None:
    """Load the served models, then take tasks until stopped (Ctrl-C or SIGTERM: the task in
    hand ends first)."""
    global _worker
    server = ModelServer(settings, db)
    server.inspector()  # loaded now: the first chunk is not slower than the rest
    name = name or f"worker{os.getpid()}@{socket.gethostname()}"
    _worker = _Worker(db, settings, server, name, CeleryQueue(settings))
    threading.Thread(target=_watch, args=(_worker,), name="silent-workers", daemon=True).start()
    options = ["--pool=solo", f"--hostname={name}", "--without-gossip", "--without-mingle", f"--loglevel={loglevel}"]
    configure(settings).worker_main(["worker", *options])
