"""Photos and surveys: content-addressed image files under the data directory and their rows,
and the surveys they are filed under."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.images import stored_suffix
from storage import models as m
from storage.blobs import blobs_for
from storage.db import Database, undo_on_rollback


def image_file_path(data: bytes, sha: str) -> Path:
    """Where the store keeps these bytes, relative to its data folder: content-addressed, named
    by ``sha`` (the bytes' sha256) and the format the bytes are."""
    return Path("images") / sha[:2] / f"{sha}{stored_suffix(data)}"


def get_or_create_survey(session: Session, name: str, **fields: Any) -> m.Survey:
    """The survey ``name``, made with ``fields`` if new. Two writers making the same new survey at
    once (PostgreSQL lets both look before either inserts): the second's insert collides, is
    rolled back to its savepoint, and it takes the first's survey instead of failing its upload."""
    survey = session.scalar(select(m.Survey).where(m.Survey.name == name))
    if survey is None:
        try:
            with session.begin_nested():
                survey = m.Survey(name=name, **fields)
                session.add(survey)
        except IntegrityError:
            survey = session.scalar(select(m.Survey).where(m.Survey.name == name))
    return survey


def complete_survey(
    db: Database, name: str, inspector: str, site: str | None, date: str | None, *, admin: bool = False
) -> tuple[str | None, str | None]:
    """The survey ``name``, created or completed: a site or date given now fills a missing one;
    replacing a stored one is for the survey's owner (its first inspector) or an ``admin``
    (``PermissionError`` otherwise, nothing written). Returns its site and date as stored."""
    with db.write() as session:
        survey = get_or_create_survey(session, name, site=site, date=date, inspector=inspector)
        replacing = (site and survey.site and site != survey.site) or (date and survey.date and date != survey.date)
        owner = survey.inspector or inspector
        if replacing and owner != inspector and not admin:
            raise PermissionError(
                f"Survey {name!r} is {owner}'s (site {survey.site or '-'}, date {survey.date or '-'}): only "
                f"{owner} or an admin may change its site or date. Leave them empty to add photos to it."
            )
        survey.site, survey.date = site or survey.site, date or survey.date
        survey.inspector = survey.inspector or inspector
        return survey.site, survey.date


def add_image(
    session: Session,
    data_dir: str | Path,
    data: bytes,
    original_name: str,
    size: tuple[int, int],
    uploaded_by: str,
    survey: str | None = None,
    split: str | None = None,
    captured_at: datetime | None = None,
) -> tuple[m.Image, bool]:
    """The image row for these bytes, created if new. Returns (image, created). The file is
    written only for a new image (a stored one keeps its file, whatever it was named then)."""
    sha = hashlib.sha256(data).hexdigest()  # once: a survey photo is tens of MB
    image = session.scalar(select(m.Image).where(m.Image.sha256 == sha))
    if image is not None:
        join_survey(session, image, survey)
        return image, False
    # A name as a zip may hold it: control characters dropped, its end kept within the column.
    shown = "".join(c for c in original_name if c.isprintable())[-500:]
    image = m.Image(
        sha256=sha,
        path=str(image_file_path(data, sha)),
        original_name=shown,
        width=size[0],
        height=size[1],
        survey_id=get_or_create_survey(session, survey).id if survey else None,
        split=split,
        captured_at=captured_at,
        uploaded_by=uploaded_by,
    )
    session.add(image)
    # The row first: on PostgreSQL a second writer of the same photo waits here until this
    # transaction ends, so it never finds a file this one is about to remove on a rollback.
    session.flush()
    blobs, key = blobs_for(data_dir), image.path
    if blobs.put(key, data):
        undo_on_rollback(session, lambda: blobs.delete(key))
    join_survey(session, image, survey)
    return image, True


def file_under_survey(db: Database, data: bytes, survey: str) -> bool:
    """A stored photo handed in again under a named survey (and shown from the store, not
    inspected again) joins that survey too. True when the photo is stored."""
    with db.write() as session:
        image = session.scalar(select(m.Image).where(m.Image.sha256 == hashlib.sha256(data).hexdigest()))
        return image is not None and join_survey(session, image, survey)


def join_survey(session: Session, image: m.Image, survey: str | None) -> bool:
    """``image`` in ``survey`` too (a photo may be in several); the first survey it joins stays
    its own (``images.survey_id``). True when it is in ``survey`` now."""
    if not survey:
        return False
    target = get_or_create_survey(session, survey)
    if image.survey_id is None:
        image.survey_id = target.id
    if session.get(m.ImageSurvey, (image.id, target.id)) is None:
        session.add(m.ImageSurvey(image_id=image.id, survey_id=target.id))
        session.flush()
    return True


def survey_members(survey: str):
    """The ids of the photos in ``survey``: a subquery for the filters of the queue, the counts,
    the export and the survey report."""
    return (
        select(m.ImageSurvey.image_id)
        .join(m.Survey, m.ImageSurvey.survey_id == m.Survey.id)
        .where(m.Survey.name == survey)
    )


def survey_names_of(session: Session, image_id: int) -> list[str]:
    """The surveys a photo is in, first joined first."""
    query = (
        select(m.Survey.name)
        .join(m.ImageSurvey, m.ImageSurvey.survey_id == m.Survey.id)
        .where(m.ImageSurvey.image_id == image_id)
        .order_by(m.Survey.id)
    )
    return list(session.scalars(query))


# Photo tables, children first; users, model versions and training runs are not photos.
_PHOTO_TABLES = (m.LabelEvent, m.Label, m.Prediction, m.Inspection, m.ImageSurvey, m.Image, m.Survey)


def delete_all_photos(db: Database, data_dir: str | Path) -> None:
    """Every photo, inspection, label and history entry, rows and image files (the public
    demo's reset); users, model versions and training runs stay."""
    with db.write() as session:
        for table in _PHOTO_TABLES:
            session.execute(delete(table))
    blobs_for(data_dir).clear("images")


def survey_names(db: Database) -> list[str]:
    with db.read() as session:
        return list(session.scalars(select(m.Survey.name).order_by(m.Survey.name)))
