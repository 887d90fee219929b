"""Queued surveys, in one process: the use cases behind the task queue (staging, chunks, claims,
cancel) with the chunks run here in turn, so every rule is checked without a broker. The same
code on real workers over Redis is ``tests/distributed``."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from core.settings import Settings
from core.sources import PhotoSource
from core.statuses import ChunkStatus
from services.inspection import PhotoOutcome
from services.sinks import StoreSink
from services.survey_queue import (
    CancelRefused,
    NoReport,
    ReportRefused,
    ask_for_report,
    cancel_queued_survey,
    make_report,
    queue_survey,
    queued_survey,
    run_chunk,
    send_again_lost,
    take_back_silent,
)
from storage import models as m
from storage import queue as queue_store
from storage.db import Database
from storage.users import add_user


class ListQueue:
    """A queue that only remembers what it was handed (the test runs the chunks)."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.reports: list[int] = []
        self.waiting = 0  # the chunk tasks the broker would say it holds

    def chunks_waiting(self) -> int:
        return self.waiting

    def send_chunk(self, chunk_id: int, delay_s: float = 0.0) -> None:
        self.sent.append(chunk_id)

    def send_report(self, queued_id: int) -> None:
        self.reports.append(queued_id)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.delenv("SLOPE_OBJECT_STORE", raising=False)
    settings = Settings(data_dir=str(tmp_path / "data"), chunk_photos=4, task_visibility_s=60)
    db = Database.from_settings(settings)
    add_user(db, "ines", "inspector", "a long password")
    add_user(db, "ravi", "reviewer", "a long password")
    yield db, settings
    db.dispose()


def _photos(val_images, tmp_path, n):
    folder = tmp_path / "flight"
    folder.mkdir()
    for path in val_images[:n]:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "broken.jpg").write_bytes(b"not a photo")
    return folder


def _count(db, table):
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(table))


def test_a_queued_survey_runs_in_chunks_and_running_a_chunk_again_adds_nothing(store, val_images, tmp_path, inspector):
    db, settings = store
    queue = ListQueue()
    state = queue_survey(db, settings, queue, [_photos(val_images, tmp_path, 10)], "north", "ines", site="A3")
    assert (state.photos, state.chunks) == (11, {"queued": 3})  # 11 staged: the broken one fails on a worker
    assert len(queue.sent) == 3
    assert sorted(p.name for p in (tmp_path / "data" / "staged" / str(state.id)).iterdir())[0] == "000000.jpg"

    assert [run_chunk(db, settings, lambda: inspector, c, "w1") for c in queue.sent] == ["done"] * 3
    state, chunks = queued_survey(db, state.id)
    assert state.chunks == {"done": 3} and (state.inspected, state.failed) == (10, 1)
    assert any("broken.jpg: not a recognised image" in p for c in chunks for p in c.problems)
    assert _count(db, m.Inspection) == 10
    assert not (tmp_path / "data" / "staged" / str(state.id)).exists()  # staged photos go when all is done

    # The broker handing a finished chunk again (a worker died after finishing, before acking)
    assert run_chunk(db, settings, lambda: inspector, queue.sent[0], "w2") == "done"
    assert _count(db, m.Inspection) == 10
    with db.read() as session:
        members = session.scalar(select(func.count()).select_from(m.ImageSurvey))
    assert members == 10


def test_a_chunk_whose_worker_went_silent_is_handed_on_and_its_stored_photos_are_not_doubled(
    store, val_images, tmp_path, inspector
):
    db, settings = store
    queue = ListQueue()
    queue_survey(db, settings, queue, [_photos(val_images, tmp_path, 3)], None, "ines")
    chunk = queue.sent[0]
    assert not isinstance(queue_store.claim_chunk(db, chunk, "dead", datetime.now(UTC), 30), str)
    # The same task handed to another worker while the first still reports: it is told to wait.
    assert run_chunk(db, settings, lambda: inspector, chunk, "w2") == "busy"
    assert take_back_silent(db, settings, queue) == []  # not silent yet
    # The first worker stored one photo, then went silent (it died).
    first = val_images[0].read_bytes()
    StoreSink(db, settings.data_dir, "ines").add(
        PhotoOutcome(PhotoSource("a.jpg", "a.jpg", lambda: first), first, None, inspector.inspect(_open(first)))
    )
    with db.write() as session:
        row = session.get(m.SurveyChunk, chunk)
        row.heartbeat_at = row.heartbeat_at - timedelta(seconds=settings.task_silent_s + 1)
    assert take_back_silent(db, settings, queue) == [chunk]
    assert take_back_silent(db, settings, queue) == []  # handed on once
    assert queue.sent[-1] == chunk
    assert run_chunk(db, settings, lambda: inspector, chunk, "w2") == "done"
    _, chunks = queued_survey(db, queue_store.queued_surveys(db)[0].id)
    assert (chunks[0].status, chunks[0].worker, chunks[0].attempts) == ("done", "w2", 2)
    assert chunks[0].reused == 1  # the silent worker's photo read back, not inspected again
    assert _count(db, m.Inspection) == 3
    # Had it been only slow, it learns at its next photo that the chunk is not its own any more,
    # and its end changes nothing.
    assert queue_store.beat(db, chunk, "dead", datetime.now(UTC)) == "lost"
    assert not queue_store.finish_chunk(db, chunk, "dead", ChunkStatus.FAILED, datetime.now(UTC))
    assert queued_survey(db, queue_store.queued_surveys(db)[0].id)[1][0].status == "done"


def test_chunks_whose_tasks_the_broker_lost_are_sent_again_once_and_only_when_it_holds_none(
    store, val_images, tmp_path, inspector
):
    """Redis restarted without its data: the queued chunks' tasks are gone, and nothing would
    ever run them. The workers' watcher sends them again, once, and only when the broker holds
    no chunk task at all (with a backlog, the workers simply have not come to them yet)."""
    db, settings = store
    queue = ListQueue()
    state = queue_survey(db, settings, queue, [_photos(val_images, tmp_path, 10)], "north", "ines")
    first, *lost = queue.sent
    assert not isinstance(queue_store.claim_chunk(db, first, "w1", datetime.now(UTC), 30), str)  # one was taken
    other = queue_survey(db, settings, queue, [val_images[12]], None, "ines")
    cancel_queued_survey(db, settings, other.id, "ines")
    queue.sent.clear()
    assert send_again_lost(db, settings, queue) == []  # sent just now: a worker may be taking them
    with db.write() as session:
        for chunk in session.scalars(select(m.SurveyChunk)):
            chunk.sent_at = chunk.sent_at - timedelta(seconds=settings.task_silent_s + 1)
    queue.waiting = 5
    assert send_again_lost(db, settings, queue) == []  # a backlog: not lost, only waiting
    queue.waiting = 0
    assert send_again_lost(db, settings, queue) == lost == queue.sent  # not the running or cancelled ones
    assert send_again_lost(db, settings, queue) == []  # sent again once
    assert [run_chunk(db, settings, lambda: inspector, c, "w2") for c in lost] == ["done", "done"]
    assert queued_survey(db, state.id)[0].chunks == {"running": 1, "done": 2}


def test_a_survey_whose_taking_in_was_cut_off_is_ended_and_its_staged_photos_go(
    store, val_images, inspector, monkeypatch
):
    """The app taking in a survey died after its first chunk: the survey no longer shows 'Taking
    in the photos' for ever; it ends with what was queued and says the rest never was."""
    import services.survey_queue as survey_queue
    from ui.queue_tab import state_word

    db, settings = store
    queue = ListQueue()

    def the_app_stops():
        raise KeyboardInterrupt("the app was stopped")

    sources = [PhotoSource(p.name, p.name, p.read_bytes) for p in val_images[:5]]
    sources.append(PhotoSource("sixth.jpg", "sixth.jpg", the_app_stops))
    monkeypatch.setattr(survey_queue, "expand_sources", lambda paths, **kwargs: (sources, []))
    with pytest.raises(KeyboardInterrupt):
        queue_survey(db, settings, queue, ["flight"], "north", "ines")
    queued = queue_store.queued_surveys(db)[0]
    assert not queued.staged and queued.chunks == {"queued": 1} and len(queue.sent) == 1
    assert survey_queue.end_cut_off(db, settings) == []  # it queued a chunk just now
    with db.write() as session:
        row = session.get(m.QueuedSurvey, queued.id)
        row.taking_in_at = row.taking_in_at - timedelta(seconds=survey_queue.TAKING_IN_SILENT_S + 1)
    assert take_back_silent(db, settings, queue) == []  # no chunk of it went silent
    assert survey_queue.end_cut_off(db, settings) == [queued.id]  # the workers' watcher ends it
    state, _ = queued_survey(db, queued.id)
    assert state.staged and state.photos == 4
    assert state.problems == [
        "Taking in the photos stopped after 4 photos (the upload was cut off): any after them were never queued; "
        "hand them in again."
    ]
    assert survey_queue.end_cut_off(db, settings) == []  # ended once
    staged = Path(settings.data_dir) / "staged" / str(queued.id)
    assert len(list(staged.iterdir())) == 5  # the fifth was staged, never queued
    assert run_chunk(db, settings, lambda: inspector, queue.sent[0], "w1") == "done"
    assert queued_survey(db, queued.id)[0].chunks == {"done": 1} and not staged.exists()
    assert state_word(queued) == "Taking in the photos"  # as the tab showed it before
    assert state_word(queued_survey(db, queued.id)[0]) == "Done, with problems"


def _open(data):
    return Image.open(io.BytesIO(data)).convert("RGB")


def test_cancel_stops_the_chunks_not_yet_taken_and_only_the_owner_or_an_admin_may(
    store, val_images, tmp_path, inspector
):
    db, settings = store
    queue = ListQueue()
    state = queue_survey(db, settings, queue, [_photos(val_images, tmp_path, 10)], "north", "ines")
    assert run_chunk(db, settings, lambda: inspector, queue.sent[0], "w1") == "done"
    with pytest.raises(CancelRefused, match="ines's: only they or an admin"):
        cancel_queued_survey(db, settings, state.id, "ravi")
    assert cancel_queued_survey(db, settings, state.id, "ines") == 2
    assert [run_chunk(db, settings, lambda: inspector, c, "w1") for c in queue.sent[1:]] == ["done", "done"]
    state, chunks = queued_survey(db, state.id)
    assert [c.status for c in chunks] == [ChunkStatus.DONE, ChunkStatus.CANCELLED, ChunkStatus.CANCELLED]
    assert state.cancel_requested and not state.open
    assert _count(db, m.Inspection) == 4  # the cancelled chunks inspected nothing
    assert not (tmp_path / "data" / "staged" / str(state.id)).exists()


def test_a_survey_cancelled_while_its_chunk_runs_stops_after_the_photo_in_hand(
    store, val_images, tmp_path, inspector, monkeypatch
):
    db, settings = store
    queue = ListQueue()
    state = queue_survey(db, settings, queue, [_photos(val_images, tmp_path, 3)], None, "ines")
    real = inspector.inspect

    def cancel_during_the_first(image, conf=None):
        queue_store.request_cancel(db, state.id, datetime.now(UTC))
        return real(image, conf=conf)

    monkeypatch.setattr(inspector, "inspect", cancel_during_the_first)
    assert run_chunk(db, settings, lambda: inspector, queue.sent[0], "w1") == "done"
    _, chunks = queued_survey(db, state.id)
    assert chunks[0].status == ChunkStatus.CANCELLED
    assert _count(db, m.Inspection) == 1  # the photo in hand was stored, none after it


def test_a_bad_survey_date_is_refused_before_anything_is_queued(store, val_images, tmp_path):
    db, settings = store
    queue = ListQueue()
    with pytest.raises(ValueError, match="not a date like"):
        queue_survey(db, settings, queue, [_photos(val_images, tmp_path, 2)], "north", "ines", date="yesterday")
    assert queue.sent == [] and _count(db, m.QueuedSurvey) == 0


def test_a_finished_survey_s_report_is_made_by_a_worker_and_kept_in_the_object_store(
    store, val_images, tmp_path, inspector
):
    db, settings = store
    queue = ListQueue()
    state = queue_survey(db, settings, queue, [_photos(val_images, tmp_path, 5)], "north", "ines", site="A3")
    with pytest.raises(NoReport, match="still running"):
        ask_for_report(db, settings, queue, state.id, "ines")
    for chunk in queue.sent:
        run_chunk(db, settings, lambda: inspector, chunk, "w1")
    assert ask_for_report(db, settings, queue, state.id, "ines") is None  # asked of a worker
    assert ask_for_report(db, settings, queue, state.id, "ines") is None  # being made: not asked twice
    assert queue.reports == [state.id]
    key = make_report(db, settings, state.id)  # what the worker does
    html, csv = ask_for_report(db, settings, queue, state.id, "ines")
    assert key.startswith(f"reports/{state.id}/") and html.parent == csv.parent
    assert "north" in html.read_text() and "A3" in html.read_text()
    assert len(csv.read_text().splitlines()) > 1  # a header and the findings
    assert make_report(db, settings, state.id) != key and not html.exists()  # a new report replaces it

    # Another inspector may not have it (its photos and findings); a reviewer may.
    add_user(db, "ivan", "inspector", "a long password")
    add_user(db, "rita", "reviewer", "a long password")
    with pytest.raises(ReportRefused, match="only they, a reviewer or an admin"):
        ask_for_report(db, settings, queue, state.id, "ivan")
    assert ask_for_report(db, settings, queue, state.id, "rita") is not None  # the newest report

    unnamed = queue_survey(db, settings, queue, [val_images[6]], None, "ines")
    with pytest.raises(NoReport, match="no name"):
        ask_for_report(db, settings, queue, unnamed.id, "ines")
