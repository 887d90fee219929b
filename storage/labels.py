"""What every writer of labels shares: a label's state as its events record it, the one function
that appends a label event (who, what, before, after), a new label with its first event, and ONE
versioned update (optimistic concurrency: an edit made on a stale copy is refused and nothing is
written). The per-photo review (``storage.review``), the inspections and the YOLO import write
through them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.types import LabelledBox
from storage import models as m
from storage.db import Database

# The label events' actions no undo reverts (``storage.history``): a model's labels (nothing
# before them) and what an import wrote (a folder of people's labels, not a reviewer's save on
# this photo: undo would delete them one by one, as the person pressing it, and importing again
# would not bring them back).
CREATE, IMPORT, IMPORT_CONDITION = "create", "import", "import-condition"
IMPORT_AUTHOR = "import"  # the author of imported labels and the uploader of imported photos
NEVER_UNDONE = (CREATE, IMPORT, IMPORT_CONDITION)


def labels_fingerprint(db: Database) -> tuple:
    """Changes whenever any label is added or edited (count, newest id, latest edit): one cheap
    query that tells a view built from all the labels whether it must be built again."""
    with db.read() as session:
        return tuple(
            session.execute(select(func.count(m.Label.id), func.max(m.Label.id), func.max(m.Label.updated_at))).one()
        )


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
    labelled: LabelledBox,
    status: str,
    author: str,
    actor: str,
    action: str,
    certainty: float = 1.0,
    prediction_id: int | None = None,
    save_id: str | None = None,
) -> m.Label:
    """Insert a label at version 1 with its first event, inside the caller's transaction.
    ``ValueError`` when the box reaches outside its photo."""
    image = session.get(m.Image, image_id)
    labelled.check_inside(image.width, image.height)
    x1, y1, x2, y2 = labelled.box
    label = m.Label(
        image_id=image_id,
        prediction_id=prediction_id,
        x1=x1,
        y1=y1,
        x2=x2,
        y2=y2,
        object_type=labelled.object_type,
        condition=labelled.condition,
        status=status,
        certainty=certainty,
        author=author,
        version=1,
    )
    session.add(label)
    session.flush()
    record_event(session, label, actor, action, None, save_id)
    return label


def record_event(
    session: Session,
    label: m.Label,
    actor: str,
    action: str,
    before: dict | None,
    save_id: str | None = None,
    reverts: str | None = None,
) -> None:
    """Append the label's event; ``save_id`` groups the events of one save (``storage.history``)."""
    event = m.LabelEvent(label_id=label.id, actor=actor, action=action, before=before, after=snapshot(label))
    event.save_id, event.reverts = save_id, reverts
    session.add(event)


def write_versioned(
    session: Session,
    label: m.Label,
    version: int,
    changes: dict[str, Any],
    actor: str,
    action: str,
    save_id: str | None = None,
    reverts: str | None = None,
    author: str | None = None,
) -> bool:
    """The one versioned update: write ``changes`` (any of object_type, condition, status, box)
    over ``label`` only if it is still at ``version``, bump the version and append the event.
    The label's author becomes ``actor``, or ``author`` where the two differ (an import: the
    folder's annotators are the labels' source, the person who ran it the event's actor).
    The version in the WHERE clause makes a concurrent writer (PostgreSQL takes the lock at this
    UPDATE) match no row instead of overwriting: then nothing is written and this returns False."""
    before = snapshot(label)
    state = {**before, **changes}
    image = session.get(m.Image, label.image_id)
    validate_state(state, (image.width, image.height))
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
            author=author or actor,
            updated_at=m.utcnow(),
            version=version + 1,
        )
    )
    session.refresh(label)
    if result.rowcount != 1:
        return False
    record_event(session, label, actor, action, before, save_id, reverts)
    return True


def validate_state(state: dict[str, Any], size: tuple[int, int] | None = None) -> None:
    """``ValueError`` unless ``state`` is a valid labelled box (``LabelledBox``'s rules), inside a
    photo of ``size`` (width, height) when given."""
    labelled = LabelledBox(tuple(state["box"]), state["object_type"], state["condition"])
    if size is not None:
        labelled.check_inside(*size)
