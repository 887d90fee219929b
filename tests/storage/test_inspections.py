"""Saving an inspection on SQLite and PostgreSQL: the photo, its predictions and one pending label
per finding (each with its creating event); a second inspection of the same photo adds
predictions only."""

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
    assert save(db, data_dir) == image_id
    assert (count(db, m.Image), count(db, m.Prediction), count(db, m.Label)) == (1, 8, 4)
    assert review_store.review_counts(db) == counts
