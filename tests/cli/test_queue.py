"""``slope survey --queue`` and ``slope queue``: without a broker they say what to set; with
one (real Redis), a survey is staged and queued, listed, shown chunk by chunk and cancelled."""

from __future__ import annotations

import redis

from cli.main import main
from tests.conftest import REDIS_URL


def test_queue_without_a_broker_says_what_to_set(tmp_path, monkeypatch, capsys, val_images):
    monkeypatch.setenv("SLOPE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SLOPE_BROKER_URL", raising=False)
    assert main(["survey", str(val_images[0]), "--name", "north", "--queue"]) == 2
    assert "set SLOPE_BROKER_URL" in capsys.readouterr().err


def test_a_survey_is_queued_listed_shown_and_cancelled(broker, tmp_path, monkeypatch, capsys, val_images):
    monkeypatch.setenv("SLOPE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SLOPE_BROKER_URL", broker)
    monkeypatch.setenv("SLOPE_CHUNK_PHOTOS", "2")
    monkeypatch.delenv("SLOPE_OBJECT_STORE", raising=False)
    monkeypatch.setattr("getpass.getuser", lambda: "ines")
    assert main(["survey", *map(str, val_images[:3]), "--name", "north", "--queue"]) == 0
    assert capsys.readouterr().out.startswith("queued survey 1 (north): 3 photos in 2 chunks")
    assert main(["queue"]) == 0
    assert "1: north by ines, 3 photos, 0 inspected, 0 failed; chunks: 2 queued" in capsys.readouterr().out
    assert main(["queue", "1", "--cancel"]) == 0
    out = capsys.readouterr().out
    assert (
        "cancelled: 2 chunks stopped" in out
        and "chunk 2: cancelled, 1 photo, 0 inspected, 0 failed, 0 attempts, -" in out
    )
    assert main(["queue", "9"]) == 2
    assert "no queued survey 9" in capsys.readouterr().err
    assert redis.Redis.from_url(REDIS_URL).llen("surveys") == 2  # the two tasks wait for a worker


def test_a_broker_that_does_not_answer_queues_nothing(tmp_path, monkeypatch, capsys, val_images):
    from sqlalchemy import func, select

    from core.settings import Settings
    from storage import models as m
    from storage.db import Database

    monkeypatch.setenv("SLOPE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SLOPE_BROKER_URL", "redis://127.0.0.1:9/0")  # nothing listens on port 9
    assert main(["survey", str(val_images[0]), "--name", "north", "--queue"]) == 2
    assert "The task queue does not answer (OperationalError): nothing was queued" in capsys.readouterr().err
    with Database.from_settings(Settings.from_env()).read() as session:
        assert session.scalar(select(func.count()).select_from(m.QueuedSurvey)) == 0
