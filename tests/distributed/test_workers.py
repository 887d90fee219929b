"""A survey of the 45 val photos on two ``slope worker`` processes over Redis and PostgreSQL:
every photo stored once, and once more when a worker is killed (``kill -9``) mid-survey; a
survey whose tasks Redis lost still runs."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime

import pytest
import redis
from sqlalchemy import func, select

from core.statuses import ChunkStatus
from services.survey_queue import ask_for_report, queue_survey, queued_survey
from services.tasks import CeleryQueue
from storage import models as m
from storage.users import add_user

pytestmark = pytest.mark.slow
FINISHED_S = 240


def _queue_val(cluster, val_images, name):
    add_user(cluster.db, "ines", "inspector", "a long password")
    queue = CeleryQueue(cluster.settings)
    return queue_survey(cluster.db, cluster.settings, queue, val_images, name, "ines")


def _wait_finished(cluster, queued_id):
    deadline = time.monotonic() + FINISHED_S
    while True:
        state, chunks = queued_survey(cluster.db, queued_id)
        if not state.open:
            return state, chunks
        assert time.monotonic() < deadline, f"not finished in {FINISHED_S} s: {state.chunks}"
        time.sleep(0.2)


def _stored(cluster):
    with cluster.db.read() as session:
        inspections = session.scalar(select(func.count()).select_from(m.Inspection))
        photos = session.scalar(select(func.count(func.distinct(m.Inspection.image_id))))
        labels = session.scalar(select(func.count()).select_from(m.Label))
        predictions = session.scalar(select(func.count()).select_from(m.Prediction))
    return inspections, photos, labels, predictions


def test_two_workers_share_a_survey_of_45_photos_and_store_each_once(cluster, val_images):
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    cluster.wait_ready()
    state = _queue_val(cluster, val_images, "val on two workers")
    assert (state.photos, sum(state.chunks.values())) == (45, 15)  # the workers may have begun
    state, chunks = _wait_finished(cluster, state.id)
    assert state.chunks == {"done": 15} and (state.inspected, state.failed) == (45, 0)
    assert {c.worker for c in chunks} == {"w1", "w2"}  # both took chunks
    inspections, photos, labels, predictions = _stored(cluster)
    assert (inspections, photos) == (45, 45)
    assert labels == predictions  # one pending label per prediction: none doubled

    # Its report, made by a worker into the object store
    queue = CeleryQueue(cluster.settings)
    assert ask_for_report(cluster.db, cluster.settings, queue, state.id, "ines") is None
    deadline = time.monotonic() + 120
    while (files := ask_for_report(cluster.db, cluster.settings, queue, state.id, "ines")) is None:
        assert time.monotonic() < deadline, "no report in 120 s"
        time.sleep(0.5)
    assert "val on two workers" in files[0].read_text() and len(files[1].read_text().splitlines()) > 45


def test_a_worker_killed_mid_survey_loses_and_doubles_nothing(cluster, val_images):
    victim = cluster.start_worker("victim")
    cluster.start_worker("survivor")
    cluster.wait_ready()
    state = _queue_val(cluster, val_images, "val with a killed worker")
    deadline = time.monotonic() + FINISHED_S
    while True:  # kill the victim while it holds a chunk, after some chunks are done
        _, chunks = queued_survey(cluster.db, state.id)
        held = [c for c in chunks if c.status == ChunkStatus.RUNNING and c.worker == "victim"]
        if held and sum(c.status == ChunkStatus.DONE for c in chunks) >= 2:
            os.kill(victim.pid, signal.SIGKILL)
            killed_at = datetime.now(UTC)
            break
        assert time.monotonic() < deadline and victim.poll() is None, "the victim never held a chunk"
        time.sleep(0.01)
    victim.wait(10)
    state, chunks = _wait_finished(cluster, state.id)
    taken_over = next(c for c in chunks if c.id == held[0].id)
    assert state.chunks == {"done": 15} and (state.inspected, state.failed) == (45, 0)
    assert (taken_over.worker, taken_over.attempts) == ("survivor", 2), killed_at
    inspections, photos, labels, predictions = _stored(cluster)
    assert (inspections, photos) == (45, 45)
    assert labels == predictions


def test_a_survey_whose_tasks_the_broker_lost_still_runs(cluster, val_images):
    """Redis restarted without its data after the survey was queued: no task is left to run its
    chunks. The worker's watcher finds them queued with nothing in the broker, and sends them again."""
    state = _queue_val(cluster, val_images[:6], "val lost by the broker")
    assert state.chunks == {"queued": 2}
    redis.Redis.from_url(cluster.settings.broker_url).flushdb()  # every task gone
    cluster.start_worker("w1")
    state, chunks = _wait_finished(cluster, state.id)
    assert state.chunks == {"done": 2} and (state.inspected, state.failed) == (6, 0)
    assert [c.attempts for c in chunks] == [1, 1]
    assert _stored(cluster)[:2] == (6, 6)
