"""Training jobs: one at a time, each in a process of its own, followed through ``TrainingRun``.

The app (or a CLI) calls ``start_job``: it records a queued run and starts
``python -m cli job RUN_ID`` (``slope job``) in a new process session, so a long training never
slows the app's requests and survives neither more nor less than its own process; with a task
queue, a worker of the ``training`` queue runs it instead (``services.tasks``). A run records the
machine it runs on: only that machine can tell whether its process is alive; the others go by
the beat the running job writes every ``BEAT_S`` (a job whose machine is gone would otherwise
block every later job, since jobs go one at a time). The job reports progress
and log lines into its run row and checks for a cancel request between steps. What a job makes is a
candidate; promotion is one short transaction at its very end. So a job that crashes, is killed,
or is still running when the app dies leaves the served models and the labels as they were: at
the next start ``fail_orphaned_runs`` marks such a run failed and removes its half-written folder.
The rows are ``storage.runs``'; the folders ``lifecycle.folders``'.
"""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psutil

from core.settings import PROJECT_ROOT, Settings
from core.statuses import ACTIVE_RUNS, RunStatus
from lifecycle.folders import (
    TrainingCancelled,  # a job asked to stop raises it: the run is 'cancelled'
    discard_half_written,
)
from services.errors import ServiceError, TrainingOff, plain_reason
from services.job_spec import JobSpec
from storage import runs as run_store
from storage.db import Database
from storage.runs import RunBusyError, TrainingRun

# kind -> "module:function"; each function is ``(spec: JobSpec, context: JobContext) -> str | None``
# and returns the version it produced, if any. Imported in the job's process only.
JOBS = {
    "condition": "services.improve:improve_condition",
    "detector": "services.improve:improve_detector",
    "quantize": "services.improve:quantize_version",
}
ACTIVE = ACTIVE_RUNS
CANCEL_POLL_S = 1.0
STARTING_S = 60  # a queued run without a pid yet is being started, not orphaned
OPERATOR = "cli"  # who a job started on the command line runs as: the machine's operator, not an account
BEAT_S = 10.0  # a running job says it is alive this often (a thread of its own: long steps too)
SILENT_S = 120.0  # another machine's running job silent this long is gone (its worker died)


class JobBusyError(ServiceError, RuntimeError):
    """Another job is queued or running: jobs go one at a time. (Storage's ``RunBusyError`` as a
    refusal the UI shows like any other; storage cannot raise a service's error itself.)"""


def jobs_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "jobs"


class JobQueue(Protocol):
    def send_job(self, run_id: int) -> None:
        """Hand the recorded run to a worker."""

    def jobs_waiting(self) -> int:
        """How many training tasks the broker holds for a worker to take."""


def start_job(db: Database, settings: Settings, spec: JobSpec, actor: str, queue: JobQueue | None = None) -> int:
    """Record a queued run and start it: in a process of its own here, or, with a task ``queue``,
    on the worker that takes it (``slope worker --queues training``). Returns the run id."""
    if settings.demo_mode:
        raise TrainingOff("training is switched off in the public demo")
    fail_orphaned_runs(db, settings)
    try:
        host = run_store.ON_TASK_QUEUE if queue is not None else None
        run_id = run_store.queue_run(db, spec.kind, spec.to_dict(), actor, host)
    except RunBusyError as busy:
        raise JobBusyError(str(busy)) from None
    if queue is not None:
        try:
            queue.send_job(run_id)
        except Exception as exc:
            run_store.finish_run(db, run_id, RunStatus.FAILED, f"the task queue did not take the job: {exc}")
            raise
        return run_id
    folder = jobs_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    # The job must use the same store and data directory as its caller, whatever the environment.
    env = {**os.environ, "SLOPE_DATA_DIR": str(settings.data_dir), "DATABASE_URL": db.url}
    try:
        with open(folder / f"{run_id}.log", "ab") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "cli", "job", str(run_id)],
                cwd=PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # not killed with the app's process group
            )
    except OSError as exc:
        run_store.finish_run(db, run_id, RunStatus.FAILED, f"the job could not start: {exc}")
        raise
    run_store.set_pid(db, run_id, process.pid, socket.gethostname())
    return run_id


def send_again_lost_jobs(db: Database, queue: JobQueue) -> list[int]:
    """Send again a run queued for a worker whose task the broker lost (Redis restarted without
    its data): still queued ``STARTING_S`` after it was sent while the broker holds no training
    task. A run sent twice runs once (``take_run`` refuses a run already taken); returns those
    sent again."""
    if queue.jobs_waiting():
        return []
    run_ids = run_store.waiting_on_task_queue(db, STARTING_S)
    for run_id in run_ids:
        queue.send_job(run_id)
    return run_ids


get_run = run_store.get_run
runs = run_store.latest_runs
request_cancel = run_store.request_cancel


def wait(db: Database, run_id: int, timeout_s: float, poll_s: float = 0.5) -> TrainingRun:
    """The run once it has ended, or as it is when ``timeout_s`` runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        run = get_run(db, run_id)
        if run.status not in ACTIVE or time.monotonic() > deadline:
            return run
        time.sleep(poll_s)


def fail_orphaned_runs(db: Database, settings: Settings) -> list[int]:
    """Runs recorded as queued or running whose job is gone become failed: on this machine, its
    process is gone (the app or the machine stopped, the job was killed); on another, it has not
    said it is alive for ``SILENT_S`` (a training worker killed, its machine gone). Their
    half-written candidate folders here are removed. Returns the ids marked failed."""
    failed = run_store.fail_orphans(db, _alive, STARTING_S, socket.gethostname(), SILENT_S)
    if failed:
        discard_half_written(settings.data_dir)
    return failed


def _alive(pid: int) -> bool:
    """A live process; a zombie (exited, not yet reaped by its parent) is not a live job."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@dataclass
class JobContext:
    """What a running job gets: the store and settings, and the ways to report and to stop."""

    db: Database
    settings: Settings
    run_id: int
    actor: str = ""  # who started the job: a promotion it makes is recorded as theirs
    _last_poll: float = 0.0
    _cancelled: bool = False

    def log(self, line: str) -> None:
        print(line, flush=True)  # the job's own log file keeps everything
        run_store.append_log(self.db, self.run_id, line)

    def progress(self, step: int, total: int, figures: dict[str, Any] | None = None) -> None:
        run_store.set_progress(self.db, self.run_id, {"step": step, "total": total, **(figures or {})})

    def should_stop(self) -> bool:
        """True once a cancel was requested (read from the store at most once a second)."""
        now = time.monotonic()
        if not self._cancelled and now - self._last_poll >= CANCEL_POLL_S:
            self._last_poll = now
            self._cancelled = bool(get_run(self.db, self.run_id).cancel_requested)
        return self._cancelled


def run_job(db: Database, settings: Settings, run_id: int) -> str:
    """Run a recorded job in this process; returns its final status."""
    kind, values, actor = run_store.take_run(db, run_id, os.getpid(), socket.gethostname())
    context = JobContext(db, settings, run_id, actor)
    module, function = JOBS[kind].split(":")
    job: Callable[[JobSpec, JobContext], str | None] = getattr(importlib.import_module(module), function)
    status, error, produced = RunStatus.SUCCEEDED, None, None
    ended = threading.Event()
    beating = threading.Thread(target=_beat, args=(db, run_id, ended), name=f"run-{run_id}-beat", daemon=True)
    beating.start()
    try:
        produced = job(JobSpec.from_dict(kind, values), context)
    except TrainingCancelled:
        status = RunStatus.CANCELLED
    except Exception as exc:  # any failure ends the run as failed, with its reason
        # A refusal written for a person as it is; anything else as a sentence and an id (its
        # text may carry a server path or SQL: it goes to the log and the job's own log file).
        status, error = RunStatus.FAILED, str(exc) if isinstance(exc, ServiceError | ValueError) else plain_reason(exc)
        traceback.print_exc()
    finally:
        ended.set()
        beating.join(timeout=30)
    run_store.finish_run(db, run_id, status, error, produced)
    return status


def _beat(db: Database, run_id: int, ended: threading.Event) -> None:
    """Say the run is alive every ``BEAT_S`` until ``ended``; a beat the store refuses (busy) is
    only late, so it is skipped, never raised."""
    while not ended.wait(BEAT_S):
        try:
            run_store.beat(db, run_id)
        except Exception:  # noqa: BLE001 - the next beat tries again; the job must not stop for it
            traceback.print_exc()
