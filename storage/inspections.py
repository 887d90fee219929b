"""Inspections and uploads: a pipeline result stored as an inspection with its predictions (never
modified) and one pending label each; an inspection rebuilt from the store (a photo already
inspected by the same models is not inspected again); what a user uploaded; a survey's photos."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.spatial import ObjectContext
from core.statuses import LabelStatus
from core.types import Finding, LabelledBox
from core.types import Inspection as CoreInspection
from storage import models as m
from storage.blobs import blobs_for
from storage.db import Database, as_utc
from storage.errors import NotFoundError
from storage.images import add_image, survey_members
from storage.labels import CREATE, new_label


def save_inspection(
    db: Database,
    data_dir: str | Path,
    data: bytes,
    original_name: str,
    inspection: CoreInspection,
    user: str,
    survey: str | None = None,
    captured_at: datetime | None = None,
) -> int:
    """Store the photo, the inspection and its predictions; returns the inspection id.

    The first inspection of a photo also opens one pending label per prediction for review.
    Later inspections (a new model) add predictions only, so reviewed labels are never doubled.
    Idempotent: the same photo by the same model versions stored again (two workers handed the
    same chunk) returns the stored inspection's id and adds nothing.
    """
    store = functools.partial(
        _save_inspection, db, data_dir, data, original_name, inspection, user, survey, captured_at
    )
    try:
        return store()
    except IntegrityError:
        # Another writer stored the same new photo first (PostgreSQL: this one waited on the
        # photo's unique row, then collided). Once more: the photo is found stored now.
        return store()


def _save_inspection(
    db: Database,
    data_dir: str | Path,
    data: bytes,
    original_name: str,
    inspection: CoreInspection,
    user: str,
    survey: str | None,
    captured_at: datetime | None,
) -> int:
    models = (inspection.models.get("detector", ""), inspection.models.get("condition", ""))
    with db.write() as session:
        image, _ = add_image(
            session,
            data_dir,
            data,
            original_name,
            (inspection.width, inspection.height),
            user,
            survey=survey,
            captured_at=captured_at,
        )
        # The photo's row locked (PostgreSQL) until the end: one writer at a time asks whether
        # these models' inspection is stored.
        session.execute(select(m.Image.id).where(m.Image.id == image.id).with_for_update())
        stored = session.scalar(
            select(m.Inspection.id)
            .where(m.Inspection.image_id == image.id)
            .where(m.Inspection.detector_version == models[0], m.Inspection.condition_version == models[1])
            .limit(1)
        )
        if stored is not None:
            return stored
        has_labels = session.scalar(select(func.count()).where(m.Label.image_id == image.id)) > 0
        row = m.Inspection(
            image_id=image.id,
            detector_version=models[0],
            condition_version=models[1],
            timings_ms=dict(inspection.timings_ms),
            created_by=user,
            # when it was made, as its reports say (else now)
            **({"created_at": datetime.fromisoformat(inspection.inspected_at)} if inspection.inspected_at else {}),
        )
        session.add(row)
        session.flush()
        for finding in inspection.findings:
            prediction = m.Prediction(
                inspection_id=row.id,
                image_id=image.id,
                x1=finding.box_xyxy[0],
                y1=finding.box_xyxy[1],
                x2=finding.box_xyxy[2],
                y2=finding.box_xyxy[3],
                object_type=finding.object_type,
                confidence=finding.confidence,
                condition=finding.condition,
                condition_probs=dict(finding.condition_probs),
                condition_margin=finding.condition_margin,
                relations=finding.context.as_dict(),
            )
            session.add(prediction)
            session.flush()
            if not has_labels:
                new_label(
                    session,
                    image.id,
                    LabelledBox(finding.box_xyxy, finding.object_type, finding.condition),
                    LabelStatus.PENDING,
                    author="model",
                    actor=user,
                    action=CREATE,
                    certainty=finding.review_certainty,
                    prediction_id=prediction.id,
                )
        return row.id


@dataclass(frozen=True)
class Upload:
    """A photo someone uploaded, with where its review stands."""

    image_id: int
    name: str
    survey: str | None
    uploaded_at: datetime
    labels: int
    to_review: int


def uploads_of(db: Database, username: str, limit: int = 100) -> list[Upload]:
    """The photos ``username`` uploaded (an inspector's own work), newest first."""
    pending = func.sum(case((m.Label.status == LabelStatus.PENDING, 1), else_=0))
    query = (
        select(m.Image.id, m.Image.original_name, m.Survey.name, m.Image.uploaded_at, func.count(m.Label.id), pending)
        .outerjoin(m.Survey, m.Image.survey_id == m.Survey.id)
        .outerjoin(m.Label, (m.Label.image_id == m.Image.id) & (m.Label.status != LabelStatus.DELETED))
        .where(m.Image.uploaded_by == username)
        .group_by(m.Image.id, m.Survey.name)
        .order_by(m.Image.uploaded_at.desc(), m.Image.id.desc())
        .limit(limit)
    )
    with db.read() as session:
        return [
            Upload(i, name, survey, at, n or 0, int(p or 0)) for i, name, survey, at, n, p in session.execute(query)
        ]


def stored_inspection(db: Database, data: bytes, models: dict[str, str]) -> CoreInspection | None:
    """The stored inspection of these photo bytes by exactly these model versions, rebuilt from
    its predictions; None when the photo is new or was inspected by other models. A survey run
    again skips what it has already done."""
    query = (
        select(m.Inspection, m.Image)
        .join(m.Image, m.Inspection.image_id == m.Image.id)
        .where(
            m.Image.sha256 == hashlib.sha256(data).hexdigest(),
            m.Inspection.detector_version == models.get("detector", ""),
            m.Inspection.condition_version == models.get("condition", ""),
        )
        .order_by(m.Inspection.id.desc())
        .limit(1)
    )
    with db.read() as session:
        row = session.execute(query).first()
        return None if row is None else _rebuilt(session, *row)


@dataclass(frozen=True)
class SurveyPhoto:
    """A stored photo of a survey and its latest inspection."""

    name: str
    path: Path  # the stored file
    inspection: CoreInspection | None  # None: stored, never inspected (e.g. imported)
    uploaded_by: str
    inspected_at: datetime | None


def survey_details(db: Database, survey: str) -> tuple[str | None, str | None]:
    """The survey's (site, date) as stored."""
    with db.read() as session:
        found = session.scalar(select(m.Survey).where(m.Survey.name == survey))
        if found is None:
            raise NotFoundError(f"no survey named {survey!r}")
        return found.site, found.date


def survey_photos(db: Database, data_dir: str | Path, survey: str) -> list[SurveyPhoto]:
    """Every photo of the survey, in the order stored, with its latest inspection."""
    with db.read() as session:
        found = session.scalar(select(m.Survey).where(m.Survey.name == survey))
        if found is None:
            raise NotFoundError(f"no survey named {survey!r}")
        members = select(m.Image).where(m.Image.id.in_(survey_members(survey))).order_by(m.Image.id)
        return [_with_latest(session, image, data_dir) for image in session.scalars(members)]


def uploaded_photo(db: Database, data_dir: str | Path, image_id: int, username: str) -> SurveyPhoto:
    """A photo ``username`` uploaded, with its latest inspection; ``NotFoundError`` for a photo
    that is not theirs (nobody reads another's uploads this way)."""
    with db.read() as session:
        image = session.get(m.Image, image_id)
        if image is None or image.uploaded_by != username:
            raise NotFoundError(f"no photo {image_id} uploaded by {username}")
        return _with_latest(session, image, data_dir)


def _with_latest(session: Session, image: m.Image, data_dir: str | Path) -> SurveyPhoto:
    latest = session.scalar(
        select(m.Inspection).where(m.Inspection.image_id == image.id).order_by(m.Inspection.id.desc()).limit(1)
    )
    return SurveyPhoto(
        image.original_name,
        blobs_for(data_dir).path(image.path),
        _rebuilt(session, latest, image) if latest is not None else None,
        image.uploaded_by,
        latest.created_at if latest is not None else None,
    )


def _rebuilt(session: Session, inspection: m.Inspection, image: m.Image) -> CoreInspection:
    """A stored inspection as the pipeline made it (findings in their drawn order)."""
    predictions = session.scalars(
        select(m.Prediction).where(m.Prediction.inspection_id == inspection.id).order_by(m.Prediction.id)
    ).all()
    findings = tuple(
        Finding(
            box_xyxy=(p.x1, p.y1, p.x2, p.y2),
            object_type=p.object_type,
            confidence=p.confidence,
            condition=p.condition,
            condition_probs=dict(p.condition_probs),
            context=ObjectContext.from_dict(p.relations),
        )
        for p in predictions
    )
    models = {"detector": inspection.detector_version, "condition": inspection.condition_version}
    when = as_utc(inspection.created_at).isoformat(timespec="seconds")
    return CoreInspection(image.width, image.height, findings, models, dict(inspection.timings_ms), when)
