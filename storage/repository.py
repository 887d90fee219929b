"""Repository functions: the only way the UI, the CLIs and training reach the database.

Every label edit is one short write transaction that checks the label's version (optimistic
concurrency: a reviewer who edited a stale copy gets ``ConflictError`` and nothing is written),
bumps it, and appends a ``LabelEvent`` with the state before and after.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from core.spatial import ObjectContext
from core.taxonomy import ALLOWED_CONDITIONS, check_pair
from core.types import Finding, LabelledBox
from core.types import Inspection as CoreInspection
from storage import models as m
from storage.db import Database

REVIEWED_STATUSES = ("accepted", "corrected", "added")


class ConflictError(RuntimeError):
    """The label changed since the caller read it; reload and try again."""


class NotFoundError(LookupError):
    pass


# ---------------------------------------------------------------- images and surveys


def store_image_file(data_dir: str | Path, data: bytes, suffix: str) -> tuple[str, str]:
    """Content-addressed copy under ``data_dir/images``: returns (sha256, path relative to
    data_dir). Written to a temporary name, then renamed, so a crash never leaves half a file."""
    sha = hashlib.sha256(data).hexdigest()
    relative = Path("images") / sha[:2] / f"{sha}{suffix.lower() or '.bin'}"
    target = Path(data_dir) / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
    return sha, str(relative)


def get_or_create_survey(session: Session, name: str, **fields: Any) -> m.Survey:
    survey = session.scalar(select(m.Survey).where(m.Survey.name == name))
    if survey is None:
        survey = m.Survey(name=name, **fields)
        session.add(survey)
        session.flush()
    return survey


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
    """The image row for these bytes, created if new. Returns (image, created)."""
    sha, relative = store_image_file(data_dir, data, Path(original_name).suffix)
    image = session.scalar(select(m.Image).where(m.Image.sha256 == sha))
    if image is not None:
        _join_survey(session, image, survey)
        return image, False
    image = m.Image(
        sha256=sha,
        path=relative,
        original_name=original_name,
        width=size[0],
        height=size[1],
        survey_id=get_or_create_survey(session, survey).id if survey else None,
        split=split,
        captured_at=captured_at,
        uploaded_by=uploaded_by,
    )
    session.add(image)
    session.flush()
    return image, True


def file_under_survey(db: Database, data: bytes, survey: str) -> bool:
    """A stored photo handed in again under a named survey (and shown from the store, not
    inspected again) joins that survey if it was filed under none; one already in another
    survey stays there. True when it is in ``survey``."""
    with db.write() as session:
        image = session.scalar(select(m.Image).where(m.Image.sha256 == hashlib.sha256(data).hexdigest()))
        return image is not None and _join_survey(session, image, survey)


def _join_survey(session: Session, image: m.Image, survey: str | None) -> bool:
    if not survey:
        return False
    target = get_or_create_survey(session, survey)
    if image.survey_id is None:
        image.survey_id = target.id
    return image.survey_id == target.id


# ---------------------------------------------------------------- inspections


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
    """
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
        has_labels = session.scalar(select(func.count()).where(m.Label.image_id == image.id)) > 0
        row = m.Inspection(
            image_id=image.id,
            detector_version=inspection.models.get("detector", ""),
            condition_version=inspection.models.get("condition", ""),
            timings_ms=dict(inspection.timings_ms),
            created_by=user,
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
                    finding.box_xyxy,
                    finding.object_type,
                    finding.condition,
                    "pending",
                    author="model",
                    actor=user,
                    action="create",
                    certainty=finding.review_certainty,
                    prediction_id=prediction.id,
                )
        return row.id


def labels_fingerprint(db: Database) -> tuple:
    """Changes whenever any label is added or edited (count, newest id, latest edit): one cheap
    query that tells a view built from all the labels whether it must be built again."""
    with db.read() as session:
        return tuple(
            session.execute(select(func.count(m.Label.id), func.max(m.Label.id), func.max(m.Label.updated_at))).one()
        )


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
    pending = func.sum(case((m.Label.status == "pending", 1), else_=0))
    query = (
        select(m.Image.id, m.Image.original_name, m.Survey.name, m.Image.uploaded_at, func.count(m.Label.id), pending)
        .outerjoin(m.Survey, m.Image.survey_id == m.Survey.id)
        .outerjoin(m.Label, (m.Label.image_id == m.Image.id) & (m.Label.status != "deleted"))
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
        photos = []
        for image in session.scalars(select(m.Image).where(m.Image.survey_id == found.id).order_by(m.Image.id)):
            latest = session.scalar(
                select(m.Inspection).where(m.Inspection.image_id == image.id).order_by(m.Inspection.id.desc()).limit(1)
            )
            photos.append(
                SurveyPhoto(
                    image.original_name,
                    Path(data_dir) / image.path,
                    _rebuilt(session, latest, image) if latest is not None else None,
                    image.uploaded_by,
                    latest.created_at if latest is not None else None,
                )
            )
        return photos


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
    return CoreInspection(image.width, image.height, findings, models, dict(inspection.timings_ms))


# ---------------------------------------------------------------- review queue


@dataclass(frozen=True)
class QueueItem:
    label_id: int
    version: int
    image_id: int
    image_path: str
    labelled: LabelledBox
    status: str
    certainty: float
    condition_probs: dict[str, float] | None
    detector_confidence: float | None


def review_queue(
    db: Database,
    *,
    survey: str | None = None,
    object_type: str | None = None,
    condition: str | None = None,
    status: str | None = "pending",
    page: int = 0,
    page_size: int = 50,
    after: tuple[float, int] | None = None,
) -> list[QueueItem]:
    """Labels to review, least certain first (condition margin x detector confidence), paged.

    ``after`` = (certainty, label_id) of the last item seen gives the next page by keyset, which
    costs the same at any depth; ``page`` (offset) is for jumping to a page number."""
    if page < 0 or not 1 <= page_size <= 500:
        raise ValueError(f"page must be >= 0 and page_size in 1..500, got {page}, {page_size}")
    query = (
        select(m.Label, m.Image.path, m.Prediction.condition_probs, m.Prediction.confidence)
        .join(m.Image, m.Label.image_id == m.Image.id)
        .outerjoin(m.Prediction, m.Label.prediction_id == m.Prediction.id)
    )
    if survey is not None:
        query = query.join(m.Survey, m.Image.survey_id == m.Survey.id).where(m.Survey.name == survey)
    if object_type is not None:
        query = query.where(m.Label.object_type == object_type)
    if condition is not None:
        query = query.where(m.Label.condition == condition)
    if status is not None:
        query = query.where(m.Label.status == status)
    if after is not None:
        certainty, label_id = after
        query = query.where(
            or_(m.Label.certainty > certainty, and_(m.Label.certainty == certainty, m.Label.id > label_id))
        )
    query = query.order_by(m.Label.certainty, m.Label.id).offset(page * page_size).limit(page_size)
    with db.read() as session:
        return [
            QueueItem(
                label_id=label.id,
                version=label.version,
                image_id=label.image_id,
                image_path=path,
                labelled=LabelledBox((label.x1, label.y1, label.x2, label.y2), label.object_type, label.condition),
                status=label.status,
                certainty=label.certainty,
                condition_probs=probs,
                detector_confidence=confidence,
            )
            for label, path, probs, confidence in session.execute(query)
        ]


def status_counts(db: Database, survey: str | None = None) -> dict[str, int]:
    query = select(m.Label.status, func.count()).group_by(m.Label.status)
    if survey is not None:
        query = query.join(m.Image, m.Label.image_id == m.Image.id).join(m.Survey).where(m.Survey.name == survey)
    with db.read() as session:
        counts = dict(session.execute(query).all())
    return {status: counts.get(status, 0) for status in m.LABEL_STATUSES}


# ---------------------------------------------------------------- label edits


def snapshot(label: m.Label) -> dict[str, Any]:
    return {
        "box": [label.x1, label.y1, label.x2, label.y2],
        "object_type": label.object_type,
        "condition": label.condition,
        "status": label.status,
    }


def new_label(
    session: Session,
    image_id: int,
    box: tuple[float, float, float, float] | list[float],
    object_type: str,
    condition: str | None,
    status: str,
    author: str,
    actor: str,
    action: str,
    certainty: float = 1.0,
    prediction_id: int | None = None,
) -> m.Label:
    """Insert a label at version 1 with its first event, inside the caller's transaction."""
    x1, y1, x2, y2 = (float(v) for v in box)
    label = m.Label(
        image_id=image_id,
        prediction_id=prediction_id,
        x1=x1,
        y1=y1,
        x2=x2,
        y2=y2,
        object_type=object_type,
        condition=condition,
        status=status,
        certainty=certainty,
        author=author,
        version=1,
    )
    session.add(label)
    session.flush()
    _event(session, label, actor, action, None)
    return label


def _event(session: Session, label: m.Label, actor: str, action: str, before: dict | None) -> None:
    session.add(m.LabelEvent(label_id=label.id, actor=actor, action=action, before=before, after=snapshot(label)))


def _edit(db: Database, label_id: int, version: int, actor: str, action: str, changes: dict[str, Any]) -> int:
    """Apply ``changes`` if the label is still at ``version``; returns the new version."""
    with db.write() as session:
        label = session.get(m.Label, label_id)
        if label is None:
            raise NotFoundError(f"label {label_id} does not exist")
        if label.version != version:
            raise ConflictError(
                f"label {label_id} is at version {label.version}, not {version}: "
                f"someone changed it since you loaded it; reload and try again"
            )
        before = snapshot(label)
        merged = {**before, **changes}
        _validate(merged)
        values = {
            "object_type": merged["object_type"],
            "condition": merged["condition"],
            "status": merged["status"],
            "x1": merged["box"][0],
            "y1": merged["box"][1],
            "x2": merged["box"][2],
            "y2": merged["box"][3],
            "author": actor,
            "updated_at": m.utcnow(),
            "version": version + 1,
        }
        # The version in the WHERE clause makes a concurrent writer (PostgreSQL, where the lock
        # is taken at this UPDATE) match no row instead of overwriting.
        result = session.execute(
            update(m.Label).where(m.Label.id == label_id, m.Label.version == version).values(**values)
        )
        if result.rowcount != 1:
            raise ConflictError(f"label {label_id} changed while saving; reload and try again")
        session.refresh(label)
        _event(session, label, actor, action, before)
        return label.version


def _validate(state: dict[str, Any]) -> None:
    x1, y1, x2, y2 = state["box"]
    if not (x2 > x1 and y2 > y1):
        raise ValueError(f"box {state['box']} is empty: x2 must exceed x1 and y2 exceed y1")
    if state["condition"] is None:
        if state["object_type"] not in ALLOWED_CONDITIONS:
            raise ValueError(f"unknown object type {state['object_type']!r}")
    else:
        check_pair(state["object_type"], state["condition"])


def accept(db: Database, label_id: int, version: int, actor: str) -> int:
    return _edit(db, label_id, version, actor, "accept", {"status": "accepted"})


def relabel(
    db: Database,
    label_id: int,
    version: int,
    actor: str,
    object_type: str | None = None,
    condition: str | None = None,
) -> int:
    changes: dict[str, Any] = {"status": "corrected"}
    if object_type is not None:
        changes["object_type"] = object_type
    if condition is not None:
        changes["condition"] = condition
    return _edit(db, label_id, version, actor, "relabel", changes)


def move(db: Database, label_id: int, version: int, actor: str, box: tuple[float, float, float, float]) -> int:
    return _edit(db, label_id, version, actor, "move", {"box": [float(v) for v in box], "status": "corrected"})


def delete(db: Database, label_id: int, version: int, actor: str) -> int:
    return _edit(db, label_id, version, actor, "delete", {"status": "deleted"})


def add_label(
    db: Database,
    image_id: int,
    box: tuple[float, float, float, float],
    object_type: str,
    condition: str | None,
    actor: str,
    status: str = "added",
) -> int:
    """A label a person drew (no prediction behind it). Returns its id."""
    state = {
        "box": [float(v) for v in box],
        "object_type": object_type,
        "condition": condition,
        "status": status,
    }
    _validate(state)
    with db.write() as session:
        if session.get(m.Image, image_id) is None:
            raise NotFoundError(f"image {image_id} does not exist")
        return new_label(session, image_id, state["box"], object_type, condition, status, actor, actor, "add").id


def undo(db: Database, label_id: int, version: int, actor: str) -> int:
    """Revert the label's latest change that is not yet undone (undo twice reverts two)."""
    with db.read() as session:
        events = session.scalars(
            select(m.LabelEvent).where(m.LabelEvent.label_id == label_id).order_by(m.LabelEvent.id.desc())
        ).all()
    skip = 0
    target = None
    for event in events:
        if event.action == "undo":
            skip += 1
        elif skip:
            skip -= 1
        else:
            target = event
            break
    if target is None or target.action == "create":
        raise ValueError(f"label {label_id} has no change to undo")
    restored = target.before if target.before is not None else {"status": "deleted"}  # undo of an add
    return _edit(db, label_id, version, actor, "undo", dict(restored))


def label_history(db: Database, label_id: int) -> list[m.LabelEvent]:
    with db.read() as session:
        return list(
            session.scalars(select(m.LabelEvent).where(m.LabelEvent.label_id == label_id).order_by(m.LabelEvent.id))
        )


def get_label(db: Database, label_id: int) -> m.Label:
    with db.read() as session:
        label = session.get(m.Label, label_id)
        if label is None:
            raise NotFoundError(f"label {label_id} does not exist")
        return label


# ---------------------------------------------------------------- photo review (issue 10)
#
# A reviewer works on one photo at a time: the photo queue orders photos by their least certain
# matching label; all labels of the photo are shown and saved together in one transaction.

STATUS_GROUPS: dict[str, tuple[str, ...] | None] = {
    "to review": ("pending",),
    "reviewed": REVIEWED_STATUSES,
    "all": None,
    **{status: (status,) for status in m.LABEL_STATUSES},
}


@dataclass(frozen=True)
class PhotoLabel:
    label_id: int
    version: int
    box: tuple[float, float, float, float]
    object_type: str
    condition: str | None
    status: str
    certainty: float
    author: str
    condition_probs: dict[str, float] | None  # the model's, from the label's prediction
    relations: dict[str, Any] | None
    detector_confidence: float | None


@dataclass(frozen=True)
class PhotoView:
    image_id: int
    path: str  # relative to the data directory
    original_name: str
    width: int
    height: int
    survey: str | None
    labels: tuple[PhotoLabel, ...]  # deleted labels left out; least certain first
    numbers: dict[int, int]  # label id -> box number, deleted labels included (``box_numbers``)

    def number(self, label_id: int) -> int:
        """The number a reviewer reads for a label: its box number on the photo."""
        return self.numbers[label_id]

    def label_id(self, number: int) -> int | None:
        """The label shown as box ``number``; None for a number not on this photo."""
        return next((i for i, n in self.numbers.items() if n == number), None)


@dataclass(frozen=True)
class LabelChange:
    """What a reviewer wants for one label they loaded at ``version``. Fields left ``None`` stay;
    ``accept`` marks it reviewed as it is; ``delete`` wins over everything else."""

    label_id: int
    version: int
    box: tuple[float, float, float, float] | None = None
    object_type: str | None = None
    condition: str | None = None
    reset_condition: bool = False  # set the condition to None (unknown) explicitly
    accept: bool = False
    delete: bool = False


@dataclass(frozen=True)
class NewBox:
    box: tuple[float, float, float, float]
    object_type: str
    condition: str | None


@dataclass(frozen=True)
class Conflict:
    label_id: int
    wanted: str  # the change that was not applied, in words
    by: str  # who changed the label since it was loaded
    at: datetime | None
    now: dict[str, Any]  # the label as it is now


@dataclass
class SaveResult:
    changed: list[int]  # label ids written (edited or added)
    conflicts: list[Conflict]


def _status_filter(query, statuses: tuple[str, ...] | None):
    if statuses is None:
        return query.where(m.Label.status != "deleted")
    return query.where(m.Label.status.in_(statuses))


def _label_filters(query, survey: str | None, object_type: str | None, condition: str | None):
    if survey is not None:
        query = query.where(
            m.Label.image_id.in_(
                select(m.Image.id).join(m.Survey, m.Image.survey_id == m.Survey.id).where(m.Survey.name == survey)
            )
        )
    if object_type is not None:
        query = query.where(m.Label.object_type == object_type)
    if condition is not None:
        query = query.where(m.Label.condition == condition)
    return query


def photo_queue(
    db: Database,
    *,
    survey: str | None = None,
    object_type: str | None = None,
    condition: str | None = None,
    status: str = "to review",
    after: tuple[float, int] | None = None,
    limit: int = 1,
) -> list[tuple[int, float, int]]:
    """Photos with labels matching the filters, least certain first, as (image_id, key, label_id):
    a photo's key is its least certain matching label (certainty, label id). ``after`` = the last
    (key, label_id) seen gives the next ones (keyset).

    Walks the labels in queue-index order and keeps a label only when no matching label of its
    photo comes before it, so the first rows found are the photos' own keys: the cost does not
    grow with the store's size (no GROUP BY over every pending label)."""
    if status not in STATUS_GROUPS:
        raise ValueError(f"status must be one of {', '.join(STATUS_GROUPS)}, got {status!r}")
    statuses = STATUS_GROUPS[status]
    earlier = aliased(m.Label)
    inner = select(earlier.id).where(
        earlier.image_id == m.Label.image_id,
        or_(
            earlier.certainty < m.Label.certainty, and_(earlier.certainty == m.Label.certainty, earlier.id < m.Label.id)
        ),
    )
    inner = inner.where(earlier.status != "deleted") if statuses is None else inner.where(earlier.status.in_(statuses))
    if object_type is not None:
        inner = inner.where(earlier.object_type == object_type)
    if condition is not None:
        inner = inner.where(earlier.condition == condition)
    query = select(m.Label.image_id, m.Label.certainty, m.Label.id)
    query = _label_filters(_status_filter(query, statuses), survey, object_type, condition)
    query = query.where(~inner.exists())
    if after is not None:
        certainty, label_id = after
        query = query.where(
            or_(m.Label.certainty > certainty, and_(m.Label.certainty == certainty, m.Label.id > label_id))
        )
    query = query.order_by(m.Label.certainty, m.Label.id).limit(limit)
    with db.read() as session:
        return [(image_id, float(key), label_id) for image_id, key, label_id in session.execute(query)]


def review_counts(
    db: Database, *, survey: str | None = None, object_type: str | None = None, condition: str | None = None
) -> dict[str, int]:
    """Labels to review (pending), reviewed (accepted, corrected, added), total (not deleted),
    and photos still to review, under the filters."""
    query = _label_filters(select(m.Label.status, func.count()), survey, object_type, condition)
    # Photos by image with a correlated EXISTS (an index search per photo): a DISTINCT over every
    # pending label costs several times more at 100k labels.
    pending = select(m.Label.id).where(m.Label.image_id == m.Image.id, m.Label.status == "pending")
    if object_type is not None:
        pending = pending.where(m.Label.object_type == object_type)
    if condition is not None:
        pending = pending.where(m.Label.condition == condition)
    photos = select(func.count()).select_from(m.Image).where(pending.exists())
    if survey is not None:
        photos = photos.where(m.Image.survey_id.in_(select(m.Survey.id).where(m.Survey.name == survey)))
    with db.read() as session:
        counts = dict(session.execute(query.group_by(m.Label.status)).all())
        pending_photos = session.scalar(photos) or 0
    return {
        "to_review": counts.get("pending", 0),
        "reviewed": sum(counts.get(s, 0) for s in REVIEWED_STATUSES),
        "total": sum(v for k, v in counts.items() if k != "deleted"),
        "photos_to_review": pending_photos,
    }


def box_numbers(session: Session, image_id: int) -> dict[int, int]:
    """Label id -> the box number a person reads on the photo: 1, 2, ... in the order the labels
    were made. The model's labels are made in the order of the first inspection's findings, so the
    numbers are the ones drawn on that inspection's photo and report; boxes drawn in review come
    after them, and a deleted label keeps its number so the others' do not shift."""
    ids = session.scalars(select(m.Label.id).where(m.Label.image_id == image_id).order_by(m.Label.id))
    return {label_id: number for number, label_id in enumerate(ids, 1)}


def photo_view(db: Database, image_id: int) -> PhotoView:
    query = (
        select(m.Label, m.Prediction.condition_probs, m.Prediction.relations, m.Prediction.confidence)
        .outerjoin(m.Prediction, m.Label.prediction_id == m.Prediction.id)
        .where(m.Label.image_id == image_id, m.Label.status != "deleted")
        .order_by(m.Label.certainty, m.Label.id)
    )
    with db.read() as session:
        image = session.get(m.Image, image_id)
        if image is None:
            raise NotFoundError(f"image {image_id} does not exist")
        survey = session.get(m.Survey, image.survey_id).name if image.survey_id else None
        labels = tuple(
            PhotoLabel(
                label_id=label.id,
                version=label.version,
                box=(label.x1, label.y1, label.x2, label.y2),
                object_type=label.object_type,
                condition=label.condition,
                status=label.status,
                certainty=label.certainty,
                author=label.author,
                condition_probs=probs,
                relations=relations,
                detector_confidence=confidence,
            )
            for label, probs, relations, confidence in session.execute(query)
        )
        numbers = box_numbers(session, image_id)
    return PhotoView(image.id, image.path, image.original_name, image.width, image.height, survey, labels, numbers)


def _describe(change: LabelChange) -> str:
    if change.delete:
        return "delete"
    parts = []
    if change.object_type is not None:
        parts.append(f"type -> {change.object_type}")
    if change.condition is not None:
        parts.append(f"condition -> {change.condition}")
    if change.box is not None:
        parts.append("box -> [" + ", ".join(f"{v:.0f}" for v in change.box) + "]")
    if change.accept and not parts:
        parts.append("accept")
    return ", ".join(parts) or "no change"


def save_photo(
    db: Database,
    image_id: int,
    actor: str,
    changes: list[LabelChange] = (),
    new_boxes: list[NewBox] = (),
) -> SaveResult:
    """Apply a reviewer's changes to one photo in one transaction. A label whose version moved
    since the reviewer loaded it is left as the other reviewer saved it and comes back as a
    ``Conflict`` (with the change that was not applied); every other change is written, each
    with its event. Invalid input (an empty box, a condition the type does not allow) raises
    ``ValueError`` and writes nothing."""
    result = SaveResult([], [])
    with db.write() as session:
        if session.get(m.Image, image_id) is None:
            raise NotFoundError(f"image {image_id} does not exist")
        for change in changes:
            label = session.get(m.Label, change.label_id)
            if label is None or label.image_id != image_id:
                raise NotFoundError(f"label {change.label_id} is not on image {image_id}")
            accept_only = change.accept and not change.delete and _describe(change) == "accept"
            if label.version != change.version and accept_only and label.status != "pending":
                continue  # someone else reviewed it already: nothing of ours is lost
            if label.version != change.version:
                last = session.scalar(
                    select(m.LabelEvent).where(m.LabelEvent.label_id == label.id).order_by(m.LabelEvent.id.desc())
                )
                result.conflicts.append(
                    Conflict(
                        label.id,
                        _describe(change),
                        last.actor if last else label.author,
                        last.at if last else None,
                        snapshot(label),
                    )
                )
                continue
            before = snapshot(label)
            state = dict(before)
            if change.delete:
                action, state["status"] = "delete", "deleted"
            else:
                edited = []
                moved = change.box is not None and any(
                    abs(a - b) > 0.5 for a, b in zip(change.box, before["box"], strict=True)
                )
                if moved:
                    state["box"] = [float(v) for v in change.box]
                    edited.append("move")
                if change.object_type is not None and change.object_type != before["object_type"]:
                    state["object_type"] = change.object_type
                    if state["condition"] not in ALLOWED_CONDITIONS.get(change.object_type, ()):
                        allowed = ALLOWED_CONDITIONS.get(change.object_type, ())
                        state["condition"] = allowed[0] if len(allowed) == 1 else None
                if change.reset_condition:
                    state["condition"] = None
                if change.condition is not None:
                    state["condition"] = change.condition
                if (state["object_type"], state["condition"]) != (before["object_type"], before["condition"]):
                    edited.append("relabel")
                if edited:
                    action, state["status"] = "+".join(edited), "corrected"
                elif change.accept and before["status"] == "pending":
                    action, state["status"] = "accept", "accepted"
                else:
                    continue  # nothing to write
            _validate(state)
            updated = session.execute(
                update(m.Label)
                .where(m.Label.id == label.id, m.Label.version == change.version)
                .values(
                    object_type=state["object_type"],
                    condition=state["condition"],
                    status=state["status"],
                    x1=state["box"][0],
                    y1=state["box"][1],
                    x2=state["box"][2],
                    y2=state["box"][3],
                    author=actor,
                    updated_at=m.utcnow(),
                    version=change.version + 1,
                )
            )
            if updated.rowcount != 1:  # a concurrent writer on PostgreSQL got there first
                session.refresh(label)
                result.conflicts.append(Conflict(label.id, _describe(change), label.author, None, snapshot(label)))
                continue
            session.refresh(label)
            _event(session, label, actor, action, before)
            result.changed.append(label.id)
        for box in new_boxes:
            state = {"box": [float(v) for v in box.box], "object_type": box.object_type, "condition": box.condition}
            _validate({**state, "status": "added"})
            label = new_label(
                session, image_id, state["box"], box.object_type, box.condition, "added", actor, actor, "add"
            )
            result.changed.append(label.id)
    return result


@dataclass(frozen=True)
class PhotoEvent:
    event_id: int
    label_id: int
    box_number: int  # the label's number on the photo (``box_numbers``)
    actor: str
    action: str
    at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def photo_history(db: Database, image_id: int, limit: int = 100) -> list[PhotoEvent]:
    """The photo's label events, newest first."""
    query = (
        select(m.LabelEvent)
        .join(m.Label, m.LabelEvent.label_id == m.Label.id)
        .where(m.Label.image_id == image_id)
        .order_by(m.LabelEvent.id.desc())
        .limit(limit)
    )
    with db.read() as session:
        events = list(session.scalars(query))
        # Numbered after the events are read, so a label made meanwhile by another reviewer is
        # numbered too (labels are never removed from the table).
        numbers = box_numbers(session, image_id)
        return [
            PhotoEvent(e.id, e.label_id, numbers[e.label_id], e.actor, e.action, e.at, e.before, e.after)
            for e in events
        ]


def last_undoable_on_photo(db: Database, image_id: int) -> PhotoEvent | None:
    """The photo's latest change that is not yet undone (what ``undo`` of its label reverts),
    or None when only the model's or an import's own labels are left."""
    skips: dict[int, int] = {}
    for event in photo_history(db, image_id, limit=10_000):
        if event.action == "undo":
            skips[event.label_id] = skips.get(event.label_id, 0) + 1
        elif skips.get(event.label_id):
            skips[event.label_id] -= 1
        elif event.action != "create":
            return event
    return None
