"""Training jobs: one at a time, each in a process of its own, followed through ``TrainingRun``.

The app (or a CLI) calls ``start_job``: it records a queued run and starts
``python -m services.jobs RUN_ID`` in a new process session, so a long training never slows the
app's requests and survives neither more nor less than its own process. The job reports progress
and log lines into its run row and checks for a cancel request between steps. What a job makes is a
candidate; promotion is one short transaction at its very end. So a job that crashes, is killed,
or is still running when the app dies leaves the served models and the labels as they were: at
the next start ``fail_orphaned_runs`` marks such a run failed and removes its half-written folder.

    python -m services.jobs RUN_ID        # what start_job runs; not for people
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.settings import PROJECT_ROOT, Settings
from lifecycle.folders import TrainingCancelled  # a job asked to stop raises it: the run is 'cancelled'
from storage import models as m
from storage.db import Database
from storage.errors import NotFoundError

# kind -> "module:function"; each function is ``(settings: dict, context: JobContext) -> str | None``
# and returns the version it produced, if any. Imported in the job's process only.
JOBS = {
    "condition": "services.improve:improve_condition",
    "detector": "services.improve:improve_detector",
    "quantize": "services.improve:quantize_version",
}
ACTIVE = ("queued", "running")
LOG_LIMIT = 20_000  # characters of log kept in the run row (the full log is in the job's file)
CANCEL_POLL_S = 1.0
STARTING_S = 60  # a queued run without a pid yet is being started, not orphaned


class JobBusyError(RuntimeError):
    """Another job is queued or running: jobs run one at a time."""


def jobs_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "jobs"


def start_job(db: Database, settings: Settings, kind: str, job_settings: dict[str, Any], actor: str) -> int:
    """Record a queued run and start its process; returns the run id."""
    if kind not in JOBS:
        raise ValueError(f"unknown job kind {kind!r}; choose one of {', '.join(JOBS)}")
    if settings.demo_mode:
        raise PermissionError("training is switched off in the public demo")
    fail_orphaned_runs(db, settings)
    with db.write() as session:
        busy = session.scalar(select(m.TrainingRun).where(m.TrainingRun.status.in_(ACTIVE)))
        if busy is not None:
            raise JobBusyError(f"job {busy.id} ({busy.kind}) is {busy.status}: one job at a time")
        run = m.TrainingRun(kind=kind, status="queued", settings=job_settings, created_by=actor, log="")
        session.add(run)
        session.flush()
        run_id = run.id
    folder = jobs_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    # The job must use the same store and data directory as its caller, whatever the environment.
    env = {**os.environ, "SLOPE_DATA_DIR": str(settings.data_dir), "DATABASE_URL": db.url}
    try:
        with open(folder / f"{run_id}.log", "ab") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "services.jobs", str(run_id)],
                cwd=PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # not killed with the app's process group
            )
    except OSError as exc:
        with db.write() as session:
            row = session.get(m.TrainingRun, run_id)
            row.status, row.finished_at, row.error = "failed", m.utcnow(), f"the job could not start: {exc}"
        raise
    with db.write() as session:
        row = session.get(m.TrainingRun, run_id)
        if row.status == "queued" and row.pid is None:
            row.pid = process.pid
    return run_id


def get_run(db: Database, run_id: int) -> m.TrainingRun:
    with db.read() as session:
        run = session.get(m.TrainingRun, run_id)
        if run is None:
            raise NotFoundError(f"training run {run_id} does not exist")
        return run


def runs(db: Database, limit: int = 20) -> list[m.TrainingRun]:
    with db.read() as session:
        return list(session.scalars(select(m.TrainingRun).order_by(m.TrainingRun.id.desc()).limit(limit)))


def request_cancel(db: Database, run_id: int) -> None:
    with db.write() as session:
        run = session.get(m.TrainingRun, run_id)
        if run is None:
            raise NotFoundError(f"training run {run_id} does not exist")
        if run.status in ACTIVE:
            run.cancel_requested = True


def wait(db: Database, run_id: int, timeout_s: float, poll_s: float = 0.5) -> m.TrainingRun:
    """The run once it has ended, or as it is when ``timeout_s`` runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        run = get_run(db, run_id)
        if run.status not in ACTIVE or time.monotonic() > deadline:
            return run
        time.sleep(poll_s)


def fail_orphaned_runs(db: Database, settings: Settings) -> list[int]:
    """Runs recorded as queued or running whose process is gone (the app or the machine stopped,
    the job was killed) become failed; their half-written candidate folders are removed. Returns
    the ids marked failed."""
    failed = []
    with db.write() as session:
        for run in session.scalars(select(m.TrainingRun).where(m.TrainingRun.status.in_(ACTIVE))):
            just_queued = run.pid is None and (m.utcnow() - m.as_utc(run.created_at)).total_seconds() < STARTING_S
            if just_queued or (run.pid is not None and _alive(run.pid)):
                return []  # a live job: leave it, and its staging folder, alone
            run.status, run.finished_at = "failed", m.utcnow()
            run.error = "the job's process ended without reporting (killed, or the app or machine stopped)"
            failed.append(run.id)
    if failed:
        from lifecycle.folders import registry_root

        for staging in registry_root(settings.data_dir).glob("*/.staging-*"):
            shutil.rmtree(staging, ignore_errors=True)
    return failed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not a live job.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


@dataclass
class JobContext:
    """What a running job gets: the store and settings, and the ways to report and to stop."""

    db: Database
    settings: Settings
    run_id: int
    _last_poll: float = 0.0
    _cancelled: bool = False

    def log(self, line: str) -> None:
        print(line, flush=True)  # the job's own log file keeps everything
        with self.db.write() as session:
            run = session.get(m.TrainingRun, self.run_id)
            run.log = (run.log + line + "\n")[-LOG_LIMIT:]

    def progress(self, step: int, total: int, figures: dict[str, Any] | None = None) -> None:
        with self.db.write() as session:
            run = session.get(m.TrainingRun, self.run_id)
            run.progress = {"step": step, "total": total, **(figures or {})}

    def should_stop(self) -> bool:
        """True once a cancel was requested (read from the store at most once a second)."""
        now = time.monotonic()
        if not self._cancelled and now - self._last_poll >= CANCEL_POLL_S:
            self._last_poll = now
            self._cancelled = bool(get_run(self.db, self.run_id).cancel_requested)
        return self._cancelled


def run_job(db: Database, settings: Settings, run_id: int) -> str:
    """Run a recorded job in this process; returns its final status."""
    with db.write() as session:
        run = session.get(m.TrainingRun, run_id)
        if run is None or run.status != "queued":
            raise RuntimeError(f"training run {run_id} is not queued")
        run.status, run.started_at, run.pid = "running", m.utcnow(), os.getpid()
        kind, job_settings = run.kind, dict(run.settings)
    context = JobContext(db, settings, run_id)
    module, function = JOBS[kind].split(":")
    job: Callable[[dict, JobContext], str | None] = getattr(importlib.import_module(module), function)
    status, error, produced = "succeeded", None, None
    try:
        produced = job(job_settings, context)
    except TrainingCancelled:
        status = "cancelled"
    except Exception as exc:  # any failure ends the run as failed, with its reason
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    with db.write() as session:
        run = session.get(m.TrainingRun, run_id)
        run.status, run.finished_at, run.error = status, m.utcnow(), error
        if produced is not None:
            run.produced_version_id = session.scalar(
                select(m.ModelVersion.id).where(m.ModelVersion.name == produced).order_by(m.ModelVersion.id.desc())
            )
    return status


def main(argv: list[str] | None = None) -> int:
    from core.offline import prepare_offline

    prepare_offline()
    args = sys.argv[1:] if argv is None else argv
    settings = Settings.from_env()
    db = Database.from_settings(settings)
    return 0 if run_job(db, settings, int(args[0])) == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
