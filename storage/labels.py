"""Labels one at a time: their state, the events that record every change (who, what, before,
after), and ONE versioned update (optimistic concurrency: an edit made on a stale copy is refused
and nothing is written). The per-photo review in ``storage.review`` writes through it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from core.statuses import LabelStatus
from core.taxonomy import ALLOWED_CONDITIONS, check_pair
from core.types import Box, LabelledBox
from storage import models as m
from storage.db import Database
from storage.errors import ConflictError, NotFoundError


def labels_fingerprint(db: Database) -> tuple:
    """Changes whenever any label is added or edited (count, newest id, latest edit): one cheap
    query that tells a view built from all the labels whether it must be built again."""
    with db.read() as session:
        return tuple(
            session.execute(select(func.count(m.Label.id), func.max(m.Label.id), func.max(m.Label.updated_at))).one()
        )


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
    status: str | None = LabelStatus.PENDING,
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
    box: Box | list[float],
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
    record_event(session, label, actor, action, None)
    return label


def record_event(session: Session, label: m.Label, actor: str, action: str, before: dict | None) -> None:
    session.add(m.LabelEvent(label_id=label.id, actor=actor, action=action, before=before, after=snapshot(label)))


def write_versioned(
    session: Session, label: m.Label, version: int, changes: dict[str, Any], actor: str, action: str
) -> bool:
    """The one versioned update: write ``changes`` (any of object_type, condition, status, box)
    over ``label`` only if it is still at ``version``, bump the version and append the event.
    The version in the WHERE clause makes a concurrent writer (PostgreSQL takes the lock at this
    UPDATE) match no row instead of overwriting: then nothing is written and this returns False."""
    before = snapshot(label)
    state = {**before, **changes}
    validate_state(state)
    x1, y1, x2, y2 = state["box"]
    result = session.execute(
        update(m.Label)
        .where(m.Label.id == label.id, m.Label.version == version)
        .values(
            object_type=state["object_type"],
            condition=state["condition"],
            status=state["status"],
            x1=x1,
            y1=y1,
            x2=x2,
            y2=y2,
            author=actor,
            updated_at=m.utcnow(),
            version=version + 1,
        )
    )
    session.refresh(label)
    if result.rowcount != 1:
        return False
    record_event(session, label, actor, action, before)
    return True


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
        if not write_versioned(session, label, version, changes, actor, action):
            raise ConflictError(f"label {label_id} changed while saving; reload and try again")
        return label.version


def validate_state(state: dict[str, Any]) -> None:
    x1, y1, x2, y2 = state["box"]
    if not (x2 > x1 and y2 > y1):
        raise ValueError(f"box {state['box']} is empty: x2 must exceed x1 and y2 exceed y1")
    if state["condition"] is None:
        if state["object_type"] not in ALLOWED_CONDITIONS:
            raise ValueError(f"unknown object type {state['object_type']!r}")
    else:
        check_pair(state["object_type"], state["condition"])


def accept(db: Database, label_id: int, version: int, actor: str) -> int:
    return _edit(db, label_id, version, actor, "accept", {"status": LabelStatus.ACCEPTED})


def relabel(
    db: Database,
    label_id: int,
    version: int,
    actor: str,
    object_type: str | None = None,
    condition: str | None = None,
) -> int:
    changes: dict[str, Any] = {"status": LabelStatus.CORRECTED}
    if object_type is not None:
        changes["object_type"] = object_type
    if condition is not None:
        changes["condition"] = condition
    return _edit(db, label_id, version, actor, "relabel", changes)


def move(db: Database, label_id: int, version: int, actor: str, box: Box) -> int:
    return _edit(
        db, label_id, version, actor, "move", {"box": [float(v) for v in box], "status": LabelStatus.CORRECTED}
    )


def delete(db: Database, label_id: int, version: int, actor: str) -> int:
    return _edit(db, label_id, version, actor, "delete", {"status": LabelStatus.DELETED})


def add_label(
    db: Database,
    image_id: int,
    box: Box,
    object_type: str,
    condition: str | None,
    actor: str,
    status: str = LabelStatus.ADDED,
) -> int:
    """A label a person drew (no prediction behind it). Returns its id."""
    state = {
        "box": [float(v) for v in box],
        "object_type": object_type,
        "condition": condition,
        "status": status,
    }
    validate_state(state)
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
    restored = target.before if target.before is not None else {"status": LabelStatus.DELETED}  # undo of an add
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
