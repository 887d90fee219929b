"""The schema's constraints hold in the database itself (SQLite and PostgreSQL), and upgrading an
upgraded database changes nothing."""

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from storage import models as m
from tests.storage.helpers import save


def label_row(image_id: int, status: str) -> m.Label:
    return m.Label(
        image_id=image_id, x1=0, y1=0, x2=1, y2=1, object_type="rock_toe", status=status, author="u", version=1
    )


def test_constraints_hold_in_the_database(db, data_dir):
    image_id = save(db, data_dir)
    with pytest.raises(IntegrityError):
        with db.write() as s:
            s.add(m.Image(sha256="0" * 64, path="x", original_name="x", width=1, height=1, uploaded_by="u"))
            s.add(m.Image(sha256="0" * 64, path="y", original_name="y", width=1, height=1, uploaded_by="u"))
    with pytest.raises(IntegrityError):  # a status outside LabelStatus
        with db.write() as s:
            s.add(label_row(image_id, "maybe"))
    with pytest.raises(IntegrityError):  # a label of no image
        with db.write() as s:
            s.add(label_row(424242, "added"))


def test_upgrade_is_idempotent(db):
    db.upgrade()
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(m.Label)) == 0
