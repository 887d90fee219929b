"""Saving an inspection on SQLite and PostgreSQL: the photo, its predictions and one pending label
per finding (each with its creating event); a second inspection of the same photo adds
predictions only."""

import threading

from sqlalchemy import func, select

from storage import models as m
from storage import review as review_store
from tests.storage.helpers import save


def count(db, table) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(table))


def test_saving_an_inspection_stores_image_predictions_and_pending_labels(db, data_dir):
    image_id = save(db, data_dir)
    with db.read() as s:
        image = s.get(m.Image, image_id)
        assert (data_dir / image.path).read_bytes() == b"photo-1"
        statuses = s.scalars(select(m.Label.status)).all()
    assert statuses == ["pending"] * 4
    assert (count(db, m.Prediction), count(db, m.LabelEvent)) == (4, 4)  # one "create" event each
    counts = {"to_review": 4, "reviewed": 0, "total": 4, "photos_to_review": 1}
    assert review_store.review_counts(db) == counts
    # A second inspection of the same bytes (a newer model) adds predictions, not labels.
    assert save(db, data_dir, condition="cond-v2") == image_id
    assert (count(db, m.Image), count(db, m.Prediction), count(db, m.Label)) == (1, 8, 4)
    assert review_store.review_counts(db) == counts
    # The same photo by the same models stored again (a task run twice) adds nothing.
    assert save(db, data_dir, condition="cond-v2") == image_id
    assert (count(db, m.Inspection), count(db, m.Prediction), count(db, m.Label)) == (2, 8, 4)


def test_two_writers_storing_the_same_new_photo_at_once_store_one_inspection(db, data_dir):
    """Two workers handed the same chunk: on PostgreSQL the second waits on the first's photo row,
    then finds it stored; on SQLite writers take turns."""
    start = threading.Barrier(4)
    failures = []

    def store_it():
        start.wait()
        try:
            save(db, data_dir, content=b"photo-race")
        except Exception as exc:  # noqa: BLE001 - any failure is the finding
            failures.append(exc)

    threads = [threading.Thread(target=store_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert (count(db, m.Image), count(db, m.Inspection), count(db, m.Label)) == (1, 1, 4)


def test_two_inspectors_starting_the_same_new_survey_at_once_both_get_it(db, db_url):
    """On PostgreSQL both look before either inserts; the second's insert collided and failed its
    whole upload. Now it takes the survey the first made (run 10 times, two writers each)."""
    from storage.db import Database
    from storage.images import complete_survey

    second = Database(db_url)
    failures = []
    for attempt in range(10):
        barrier = threading.Barrier(2)

        def start(store, who, name=f"north {attempt}", barrier=barrier):
            barrier.wait()
            try:
                complete_survey(store, name, who, None, None)
            except Exception as exc:  # noqa: BLE001 - any failure is what this test looks for
                failures.append(repr(exc)[:200])

        racers = [threading.Thread(target=start, args=(store, who)) for store, who in ((db, "ines"), (second, "olu"))]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
    second.dispose()
    assert failures == []
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(m.Survey)) == 10
