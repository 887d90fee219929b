"""Queued surveys and their chunks: the rows every app replica and worker shares, so any of them
can follow a survey, cancel it, or take over a chunk whose worker died. A chunk is claimed in one
short transaction (its row locked on PostgreSQL), so two workers handed the same task never run
it both: the second sees it done, cancelled, or still beating under the first."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update

from core.statuses import OPEN_CHUNKS, ChunkStatus
from core.taxonomy import counted
from storage import models as m
from storage.db import Database, as_utc
from storage.errors import NotFoundError


@dataclass(frozen=True)
class Claim:
    """What the worker that took a chunk needs: its photos, and how the survey asked for them."""

    chunk_id: int
    queued_id: int
    photos: list[dict[str, str]]  # [{"name", "key"}]
    survey: str | None
    user: str
    conf: float | None


@dataclass(frozen=True)
class ChunkState:
    id: int
    position: int
    photos: int
    status: str
    worker: str | None
    attempts: int
    inspected: int
    reused: int
    failed: int
    problems: list[str]


@dataclass(frozen=True)
class QueuedSurveyState:
    id: int
    survey: str | None
    created_by: str
    created_at: datetime
    photos: int
    cancel_requested: bool
    problems: list[str]
    chunks: dict[str, int]  # status -> chunks in it
    inspected: int
    failed: int
    staged: bool  # every chunk is queued (more may come while photos are being staged)
    report: str | None  # where its latest report is in the object store

    @property
    def open(self) -> bool:
        return not self.staged or any(self.chunks.get(status, 0) for status in OPEN_CHUNKS)


def add_queued_survey(db: Database, survey: str | None, user: str, conf: float | None) -> int:
    """A queued survey whose photos are about to be staged (``staged`` says when they all are)."""
    with db.write() as session:
        row = m.QueuedSurvey(survey=survey, created_by=user, conf=conf, photos=0, problems=[])
        session.add(row)
        session.flush()
        return row.id


def staged(db: Database, queued_id: int, photos: int, problems: list[str], now: datetime) -> None:
    """Every chunk is queued: the photos queued in all, and the sources refused."""
    with db.write() as session:
        row = session.get(m.QueuedSurvey, queued_id)
        row.photos, row.problems, row.staged_at = photos, problems, now


def add_chunk(db: Database, queued_id: int, position: int, photos: list[dict[str, str]], now: datetime) -> int:
    """One more chunk of a queued survey; its id (what its task carries)."""
    with db.write() as session:
        row = m.SurveyChunk(queued_survey_id=queued_id, position=position, photos=photos, sent_at=now)
        session.add(row)
        session.get(m.QueuedSurvey, queued_id).taking_in_at = now
        session.flush()
        return row.id


def end_cut_off(db: Database, now: datetime, silent_s: float) -> list[int]:
    """Surveys still taking in their photos that queued nothing for ``silent_s`` (the app taking
    them in died, the upload was cut off) are ended as staged with what they queued, and a
    problem saying so; returns their ids. Their queued chunks run as usual."""
    cutoff = now - timedelta(seconds=silent_s)
    with db.write() as session:
        stalled = session.scalars(
            select(m.QueuedSurvey)
            .where(m.QueuedSurvey.staged_at.is_(None))
            .where(func.coalesce(m.QueuedSurvey.taking_in_at, m.QueuedSurvey.created_at) < cutoff)
            .with_for_update(skip_locked=True)
        ).all()
        for queued in stalled:
            chunks = session.scalars(select(m.SurveyChunk.photos).where(m.SurveyChunk.queued_survey_id == queued.id))
            queued.photos = sum(len(photos) for photos in chunks)
            queued.problems = [
                *queued.problems,
                f"Taking in the photos stopped after {counted(queued.photos, 'photo')} (the upload was cut off): "
                "any after them were never queued; hand them in again.",
            ]
            queued.staged_at = now
        return [queued.id for queued in stalled]


def claim_chunk(db: Database, chunk_id: int, worker: str, now: datetime, silent_s: float) -> Claim | str:
    """The chunk for ``worker`` to run, or why not: "done" (or failed, or cancelled: nothing to
    do, the task may be dropped) or "busy" (another worker reported within ``silent_s``: it is
    alive, ask again later). A cancelled survey's chunk is marked cancelled here."""
    with db.write() as session:
        chunk = session.scalar(select(m.SurveyChunk).where(m.SurveyChunk.id == chunk_id).with_for_update())
        if chunk is None:
            raise NotFoundError(f"no queued chunk {chunk_id}")
        queued = session.get(m.QueuedSurvey, chunk.queued_survey_id)
        if chunk.status not in OPEN_CHUNKS:
            return "done"
        if queued.cancel_requested:
            chunk.status, chunk.finished_at = ChunkStatus.CANCELLED, now
            return "done"
        beat = as_utc(chunk.heartbeat_at) if chunk.heartbeat_at else None
        if chunk.status == ChunkStatus.RUNNING and beat and now - beat < timedelta(seconds=silent_s):
            return "busy"
        chunk.status, chunk.worker, chunk.attempts = ChunkStatus.RUNNING, worker, chunk.attempts + 1
        chunk.started_at = chunk.heartbeat_at = now
        return Claim(chunk.id, queued.id, list(chunk.photos), queued.survey, queued.created_by, queued.conf)


def beat(db: Database, chunk_id: int, worker: str, now: datetime) -> str:
    """The worker is alive (after a photo): "ok" to go on, "cancel" when the survey was cancelled,
    "lost" when the chunk is no longer its own (handed to another worker: it went silent too long)."""
    with db.write() as session:
        chunk = session.scalar(select(m.SurveyChunk).where(m.SurveyChunk.id == chunk_id).with_for_update())
        if chunk is None or chunk.worker != worker or chunk.status != ChunkStatus.RUNNING:
            return "lost"
        if session.get(m.QueuedSurvey, chunk.queued_survey_id).cancel_requested:
            return "cancel"
        chunk.heartbeat_at = now
        return "ok"


def finish_chunk(db: Database, chunk_id: int, worker: str, status: ChunkStatus, now: datetime, **counts: Any) -> bool:
    """The chunk's end, as ``worker`` ran it: its status, counts (inspected, reused, failed) and
    problem lines. Nothing is written (False) when the chunk was handed to another worker."""
    with db.write() as session:
        chunk = session.scalar(select(m.SurveyChunk).where(m.SurveyChunk.id == chunk_id).with_for_update())
        if chunk.worker != worker or chunk.status != ChunkStatus.RUNNING:
            return False
        chunk.status, chunk.finished_at = status, now
        for name, value in counts.items():
            setattr(chunk, name, value)
        return True


def take_back_silent(db: Database, now: datetime, silent_s: float) -> list[int]:
    """Running chunks whose worker has not reported for ``silent_s`` (it died, or its machine
    did) are queued again; returns their ids, to be sent again. Done in one locked pass, so two
    workers looking at once hand each chunk on once."""
    with db.write() as session:
        silent = session.scalars(
            select(m.SurveyChunk)
            .where(m.SurveyChunk.status == ChunkStatus.RUNNING)
            .where(m.SurveyChunk.heartbeat_at < now - timedelta(seconds=silent_s))
            .with_for_update(skip_locked=True)
        ).all()
        for chunk in silent:
            chunk.status, chunk.sent_at = ChunkStatus.QUEUED, now
        return [chunk.id for chunk in silent]


def take_back_lost(db: Database, now: datetime, after_s: float) -> list[int]:
    """Queued chunks handed to the broker over ``after_s`` ago and never taken: asked only when
    the broker holds no chunk at all, so their tasks were lost (Redis restarted without its
    data). Marked sent again now, in one locked pass, so two workers looking at once send each
    once; returns their ids, to be sent."""
    with db.write() as session:
        lost = session.scalars(
            select(m.SurveyChunk)
            .where(m.SurveyChunk.status == ChunkStatus.QUEUED)
            .where(or_(m.SurveyChunk.sent_at.is_(None), m.SurveyChunk.sent_at < now - timedelta(seconds=after_s)))
            .order_by(m.SurveyChunk.id)
            .with_for_update(skip_locked=True)
        ).all()
        for chunk in lost:
            chunk.sent_at = now
        return [chunk.id for chunk in lost]


def set_report(db: Database, queued_id: int, key: str) -> None:
    with db.write() as session:
        session.get(m.QueuedSurvey, queued_id).report = key


def request_cancel(db: Database, queued_id: int, now: datetime) -> int:
    """Stop a queued survey: chunks not yet taken are cancelled now, a running one stops after
    its current photo. Returns how many chunks were still to run."""
    with db.write() as session:
        queued = session.get(m.QueuedSurvey, queued_id)
        if queued is None:
            raise NotFoundError(f"no queued survey {queued_id}")
        queued.cancel_requested = True
        waiting = session.execute(
            update(m.SurveyChunk)
            .where(m.SurveyChunk.queued_survey_id == queued_id, m.SurveyChunk.status == ChunkStatus.QUEUED)
            .values(status=ChunkStatus.CANCELLED, finished_at=now)
        ).rowcount
        running = session.scalar(
            select(m.SurveyChunk.id)
            .where(m.SurveyChunk.queued_survey_id == queued_id, m.SurveyChunk.status == ChunkStatus.RUNNING)
            .limit(1)
        )
        return waiting + (running is not None)


def queued_surveys(db: Database, limit: int = 20) -> list[QueuedSurveyState]:
    """The latest queued surveys, newest first, with their chunks counted by status."""
    with db.read() as session:
        rows = session.scalars(select(m.QueuedSurvey).order_by(m.QueuedSurvey.id.desc()).limit(limit)).all()
        return [_state(row, _chunks(session, row.id)) for row in rows]


def queued_survey(db: Database, queued_id: int) -> tuple[QueuedSurveyState, list[ChunkState]]:
    with db.read() as session:
        row = session.get(m.QueuedSurvey, queued_id)
        if row is None:
            raise NotFoundError(f"no queued survey {queued_id}")
        chunks = _chunks(session, queued_id)
        return _state(row, chunks), chunks


def _chunks(session, queued_id: int) -> list[ChunkState]:
    query = select(m.SurveyChunk).where(m.SurveyChunk.queued_survey_id == queued_id).order_by(m.SurveyChunk.position)
    return [
        ChunkState(
            c.id, c.position, len(c.photos), c.status, c.worker, c.attempts, c.inspected, c.reused, c.failed,
            list(c.problems),
        )
        for c in session.scalars(query)
    ]  # fmt: skip


def _state(row: m.QueuedSurvey, chunks: list[ChunkState]) -> QueuedSurveyState:
    return QueuedSurveyState(
        row.id,
        row.survey,
        row.created_by,
        as_utc(row.created_at),
        row.photos,
        row.cancel_requested,
        list(row.problems),
        dict(Counter(c.status for c in chunks)),
        sum(c.inspected for c in chunks),
        sum(c.failed for c in chunks),
        row.staged_at is not None,
        row.report,
    )
