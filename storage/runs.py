"""Training runs: the rows a job is followed through (queued -> running -> succeeded, failed or
cancelled), its progress, the tail of its log and a cancel request. One run is active at a time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from core.statuses import ACTIVE_RUNS, RunStatus
from storage import models as m
from storage.db import Database
from storage.errors import NotFoundError

LOG_LIMIT = 20_000  # characters of log kept in the row (the job's own file keeps everything)
TrainingRun = m.TrainingRun  # the row, as callers above storage name it


class RunBusyError(RuntimeError):
    """Another run is queued or running: runs go one at a time."""


ON_TASK_QUEUE = "(task queue)"  # a run's host while it waits for a worker to take it


def queue_run(db: Database, kind: str, settings: dict[str, Any], actor: str, host: str | None = None) -> int:
    """Record a queued run (``host``: ``ON_TASK_QUEUE`` when a worker will take it); ``RunBusyError``
    while another is active. Returns its id."""
    with db.write() as session:
        busy = session.scalar(select(m.TrainingRun).where(m.TrainingRun.status.in_(ACTIVE_RUNS)))
        if busy is not None:
            raise RunBusyError(f"job {busy.id} ({busy.kind}) is {busy.status}: one job at a time")
        run = m.TrainingRun(kind=kind, status=RunStatus.QUEUED, settings=settings, created_by=actor, log="", host=host)
        session.add(run)
        session.flush()
        return run.id


def waiting_on_task_queue(db: Database, older_than_s: float) -> list[int]:
    """Runs queued for a worker over ``older_than_s`` ago and still not taken."""
    since = m.utcnow() - timedelta(seconds=older_than_s)
    with db.read() as session:
        return list(
            session.scalars(
                select(m.TrainingRun.id)
                .where(m.TrainingRun.status == RunStatus.QUEUED, m.TrainingRun.host == ON_TASK_QUEUE)
                .where(m.TrainingRun.created_at < since)
            )
        )


def set_pid(db: Database, run_id: int, pid: int, host: str) -> None:
    """The process started for a queued run on machine ``host`` (unless it has already taken the
    run itself)."""
    with db.write() as session:
        run = session.get(m.TrainingRun, run_id)
        if run.status == RunStatus.QUEUED and run.pid is None:
            run.pid, run.host = pid, host


def get_run(db: Database, run_id: int) -> m.TrainingRun:
    with db.read() as session:
        run = session.get(m.TrainingRun, run_id)
        if run is None:
            raise NotFoundError(f"training run {run_id} does not exist")
        return run


def latest_runs(db: Database, limit: int = 20) -> list[m.TrainingRun]:
    with db.read() as session:
        return list(session.scalars(select(m.TrainingRun).order_by(m.TrainingRun.id.desc()).limit(limit)))


def request_cancel(db: Database, run_id: int) -> None:
    with db.write() as session:
        run = session.get(m.TrainingRun, run_id)
        if run is None:
            raise NotFoundError(f"training run {run_id} does not exist")
        if run.status in ACTIVE_RUNS:
            run.cancel_requested = True
        if run.status == RunStatus.QUEUED and run.host == ON_TASK_QUEUE:  # no worker has it: ends now
            run.status, run.finished_at = RunStatus.CANCELLED, m.utcnow()


def fail_orphans(
    db: Database, alive: Callable[[int], bool], starting_s: float, host: str, silent_s: float
) -> list[int]:
    """Active runs whose job is gone become failed; returns their ids. On machine ``host`` a run
    is gone when its process is; a run of another machine only when it has not said it is alive
    (``beat``) for ``silent_s``, since its process cannot be seen from here. A run queued less
    than ``starting_s`` ago without a pid is being started; a live one leaves every run alone."""
    failed = []
    now = m.utcnow()
    with db.write() as session:
        for run in session.scalars(select(m.TrainingRun).where(m.TrainingRun.status.in_(ACTIVE_RUNS))):
            if run.host is not None and run.host != host:
                last = run.beat_at or run.started_at
                if run.status != RunStatus.RUNNING or last is None or (now - m.as_utc(last)).total_seconds() < silent_s:
                    return []  # jobs go one at a time: that machine's job is the active one
                run.status, run.finished_at = RunStatus.FAILED, now
                run.error = (
                    f"the job on {run.host} stopped saying it is alive (nothing for over {silent_s:g} s): its "
                    "worker or machine stopped"
                )
                failed.append(run.id)
                continue
            just_queued = run.pid is None and (now - m.as_utc(run.created_at)).total_seconds() < starting_s
            if just_queued or (run.pid is not None and alive(run.pid)):
                return []
            run.status, run.finished_at = RunStatus.FAILED, now
            run.error = "the job's process ended without reporting (killed, or the app or machine stopped)"
            failed.append(run.id)
    return failed


def beat(db: Database, run_id: int) -> None:
    """The running job is alive (``fail_orphans`` reads it from other machines)."""
    with db.write() as session:
        session.execute(update(m.TrainingRun).where(m.TrainingRun.id == run_id).values(beat_at=m.utcnow()))


def take_run(db: Database, run_id: int, pid: int, host: str) -> tuple[str, dict[str, Any], str]:
    """Mark a queued run running in process ``pid`` on ``host``; returns its kind, settings and
    who started it."""
    with db.write() as session:
        run = session.get(m.TrainingRun, run_id)
        if run is None or run.status != RunStatus.QUEUED:
            raise RuntimeError(f"training run {run_id} is not queued")
        run.status, run.started_at, run.pid, run.host = RunStatus.RUNNING, m.utcnow(), pid, host
        run.beat_at = run.started_at
        return run.kind, dict(run.settings), run.created_by


def finish_run(db: Database, run_id: int, status: RunStatus, error: str | None, produced: str | None = None) -> None:
    """The run's end: its status, why it failed, and the model version it produced (by name)."""
    with db.write() as session:
        run = session.get(m.TrainingRun, run_id)
        run.status, run.finished_at, run.error = status, m.utcnow(), error
        if produced is not None:
            run.produced_version_id = session.scalar(
                select(m.ModelVersion.id).where(m.ModelVersion.name == produced).order_by(m.ModelVersion.id.desc())
            )


def append_log(db: Database, run_id: int, line: str) -> None:
    with db.write() as session:
        run = session.get(m.TrainingRun, run_id)
        run.log = (run.log + line + "\n")[-LOG_LIMIT:]


def set_progress(db: Database, run_id: int, progress: dict[str, Any]) -> None:
    with db.write() as session:
        session.get(m.TrainingRun, run_id).progress = progress
