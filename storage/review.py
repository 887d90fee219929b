"""The per-photo review the app uses: the queue of photos least certain first, a photo with its
labels, a reviewer's save of a whole photo (each label through ``storage.labels``' versioned
update; a stale label comes back as a conflict), its history and undo."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from core.statuses import REVIEWED, LabelStatus
from core.taxonomy import ALLOWED_CONDITIONS
from core.types import Box, LabelledBox
from storage import models as m
from storage.db import Database
from storage.errors import NotFoundError
from storage.images import survey_members, survey_names_of
from storage.labels import new_label, snapshot, write_versioned

STATUS_GROUPS: dict[str, tuple[str, ...] | None] = {
    "to review": (LabelStatus.PENDING,),
    "reviewed": REVIEWED,
    "all": None,
    **{status: (status,) for status in m.LABEL_STATUSES},
}


@dataclass(frozen=True)
class PhotoLabel:
    label_id: int
    version: int
    box: Box
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
    box: Box | None = None
    object_type: str | None = None
    condition: str | None = None
    reset_condition: bool = False  # set the condition to None (unknown) explicitly
    accept: bool = False
    delete: bool = False
    # (type, condition) as the reviewer saw it: a stale accept of what is still there is no
    # conflict (nothing of theirs is lost); of something another reviewer changed, it is one.
    seen: tuple[str, str | None] | None = None

    @property
    def accept_only(self) -> bool:
        """Accepts the label as it is and changes nothing."""
        edits = (self.box, self.object_type, self.condition)
        return self.accept and not self.delete and not self.reset_condition and edits == (None, None, None)


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
        return query.where(m.Label.status != LabelStatus.DELETED)
    return query.where(m.Label.status.in_(statuses))


UNKNOWN = "unknown"  # the condition filter for labels no condition was chosen for (drawn or imported so)


def _condition_is(column, condition: str):
    return column.is_(None) if condition == UNKNOWN else column == condition


def _label_filters(query, survey: str | None, object_type: str | None, condition: str | None):
    if survey is not None:
        query = query.where(m.Label.image_id.in_(survey_members(survey)))
    if object_type is not None:
        query = query.where(m.Label.object_type == object_type)
    if condition is not None:
        query = query.where(_condition_is(m.Label.condition, condition))
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
    (key, label_id) seen gives the next ones (keyset)."""
    query = _photo_keys(survey, object_type, condition, status)
    if after is not None:
        certainty, label_id = after
        query = query.where(
            or_(m.Label.certainty > certainty, and_(m.Label.certainty == certainty, m.Label.id > label_id))
        )
    query = query.order_by(m.Label.certainty, m.Label.id).limit(limit)
    with db.read() as session:
        return [(image_id, float(key), label_id) for image_id, key, label_id in session.execute(query)]


def photos_before(
    db: Database,
    key: tuple[float, int],
    *,
    survey: str | None = None,
    object_type: str | None = None,
    condition: str | None = None,
    status: str = "to review",
) -> int:
    """How many photos of the queue come before the one whose key is ``key`` (its place, less
    one). The walk stops at ``key``, so it costs what the photos before it cost."""
    certainty, label_id = key
    query = _photo_keys(survey, object_type, condition, status).where(
        or_(m.Label.certainty < certainty, and_(m.Label.certainty == certainty, m.Label.id < label_id))
    )
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def _photo_keys(survey: str | None, object_type: str | None, condition: str | None, status: str):
    """Each queue photo's key label (image_id, certainty, id) under the filters.

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
    inner = (
        inner.where(earlier.status != LabelStatus.DELETED)
        if statuses is None
        else inner.where(earlier.status.in_(statuses))
    )
    if object_type is not None:
        inner = inner.where(earlier.object_type == object_type)
    if condition is not None:
        inner = inner.where(_condition_is(earlier.condition, condition))
    query = select(m.Label.image_id, m.Label.certainty, m.Label.id)
    query = _label_filters(_status_filter(query, statuses), survey, object_type, condition)
    return query.where(~inner.exists())


def review_counts(
    db: Database, *, survey: str | None = None, object_type: str | None = None, condition: str | None = None
) -> dict[str, int]:
    """Labels to review (pending), reviewed (accepted, corrected, added), total (not deleted),
    and photos still to review, under the filters."""
    query = _label_filters(select(m.Label.status, func.count()), survey, object_type, condition)
    # Photos by image with a correlated EXISTS (an index search per photo): a DISTINCT over every
    # pending label costs several times more at 100k labels.
    pending = select(m.Label.id).where(m.Label.image_id == m.Image.id, m.Label.status == LabelStatus.PENDING)
    if object_type is not None:
        pending = pending.where(m.Label.object_type == object_type)
    if condition is not None:
        pending = pending.where(_condition_is(m.Label.condition, condition))
    photos = select(func.count()).select_from(m.Image).where(pending.exists())
    if survey is not None:
        photos = photos.where(m.Image.id.in_(survey_members(survey)))
    with db.read() as session:
        counts = dict(session.execute(query.group_by(m.Label.status)).all())
        pending_photos = session.scalar(photos) or 0
    return {
        "to_review": counts.get(LabelStatus.PENDING, 0),
        "reviewed": sum(counts.get(s, 0) for s in REVIEWED),
        "total": sum(v for k, v in counts.items() if k != LabelStatus.DELETED),
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
        .where(m.Label.image_id == image_id, m.Label.status != LabelStatus.DELETED)
        .order_by(m.Label.certainty, m.Label.id)
    )
    with db.read() as session:
        image = session.get(m.Image, image_id)
        if image is None:
            raise NotFoundError(f"image {image_id} does not exist")
        survey = ", ".join(survey_names_of(session, image.id)) or None
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
        parts.append(f"accept as {change.seen[1] or 'condition unknown'}" if change.seen else "accept")
    return ", ".join(parts) or "no change"


def save_photo(
    db: Database,
    image_id: int,
    actor: str,
    changes: list[LabelChange] = (),
    new_boxes: list[LabelledBox] = (),
) -> SaveResult:
    """Apply a reviewer's changes to one photo in one transaction. A label whose version moved
    since the reviewer loaded it is left as the other reviewer saved it and comes back as a
    ``Conflict`` (with the change that was not applied); every other change is written, each
    with its event. Invalid input (an empty box, one outside the photo, a condition the type does
    not allow) raises ``ValueError`` and writes nothing."""
    result = SaveResult([], [])
    save_id = uuid.uuid4().hex  # the events of this save are one action: one undo reverts them all
    with db.write() as session:
        if session.get(m.Image, image_id) is None:
            raise NotFoundError(f"image {image_id} does not exist")
        for change in changes:
            label = session.get(m.Label, change.label_id)
            if label is None or label.image_id != image_id:
                raise NotFoundError(f"label {change.label_id} is not on image {image_id}")
            if change.box is not None and not all(math.isfinite(v) for v in change.box):
                raise ValueError("a box came with coordinates that are not numbers; reload the photo")
            as_seen = change.seen == (label.object_type, label.condition)
            # Deleted is not reviewed as seen: their "keep it" meets a "remove it", a conflict to show.
            reviewed_as_seen = label.status in REVIEWED and as_seen
            if label.version != change.version and change.accept_only and reviewed_as_seen:
                continue  # someone else reviewed it as it was: nothing of ours is lost
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
                action, state["status"] = "delete", LabelStatus.DELETED
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
                    action, state["status"] = "+".join(edited), LabelStatus.CORRECTED
                elif change.accept and before["status"] == LabelStatus.PENDING:
                    action, state["status"] = "accept", LabelStatus.ACCEPTED
                else:
                    continue  # nothing to write
            if not write_versioned(session, label, change.version, state, actor, action, save_id):
                # a concurrent writer on PostgreSQL got there first
                result.conflicts.append(Conflict(label.id, _describe(change), label.author, None, snapshot(label)))
                continue
            result.changed.append(label.id)
        for labelled in new_boxes:
            added = new_label(session, image_id, labelled, LabelStatus.ADDED, actor, actor, "add", save_id=save_id)
            result.changed.append(added.id)
    return result


@dataclass(frozen=True)
class OverviewRow:
    image_id: int
    name: str
    to_review: int
    reviewed: int
    total: int  # labels not deleted, under the type/condition filters
    key: float  # the least certainty among its labels in the status group (the queue's order)


def queue_overview(
    db: Database,
    *,
    survey: str | None = None,
    object_type: str | None = None,
    condition: str | None = None,
    status: str = "to review",
    name_contains: str | None = None,
    limit: int = 200,
) -> list[OverviewRow]:
    """The queue's photos in its order, each with its counts: the overview a reviewer jumps from.
    ``name_contains`` searches the file names (case-insensitive)."""
    statuses = STATUS_GROUPS[status]
    in_group = m.Label.status != LabelStatus.DELETED if statuses is None else m.Label.status.in_(statuses)
    key = func.min(case((in_group, m.Label.certainty)))
    query = (
        select(
            m.Image.id,
            m.Image.original_name,
            func.sum(case((m.Label.status == LabelStatus.PENDING, 1), else_=0)),
            func.sum(case((m.Label.status.in_(REVIEWED), 1), else_=0)),
            func.count(m.Label.id),
            key,
        )
        .join(m.Label, m.Label.image_id == m.Image.id)
        .where(m.Label.status != LabelStatus.DELETED)
    )
    query = _label_filters(query, survey, object_type, condition)
    if name_contains:
        query = query.where(func.lower(m.Image.original_name).contains(name_contains.lower(), autoescape=True))
    query = query.group_by(m.Image.id, m.Image.original_name).having(key.is_not(None))
    with db.read() as session:
        rows = session.execute(query.order_by(key, m.Image.id).limit(limit)).all()
    return [OverviewRow(i, name, int(p or 0), int(r or 0), int(t), float(k)) for i, name, p, r, t, k in rows]


def photo_key(
    db: Database, image_id: int, *, object_type: str | None = None, condition: str | None = None, status: str = "all"
) -> tuple[float, int] | None:
    """A photo's place in the queue: (certainty, label id) of its least certain label under the
    filters (what ``photo_queue`` orders and pages by); None when none matches."""
    statuses = STATUS_GROUPS[status]
    query = _status_filter(select(m.Label.certainty, m.Label.id).where(m.Label.image_id == image_id), statuses)
    query = _label_filters(query, None, object_type, condition)
    with db.read() as session:
        row = session.execute(query.order_by(m.Label.certainty, m.Label.id).limit(1)).first()
    return (float(row[0]), row[1]) if row else None
