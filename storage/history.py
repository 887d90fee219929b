"""A photo's history of label changes, and undo and redo by action.

Every save of the Review tab writes its events under one ``save_id``: the save is one action, and
one undo reverts it whole (however many labels it touched), as one redo brings it back. An undo
or a redo is itself a save whose events name the save they revert (``reverts``). Walking the
photo's saves newest first:

- undo reverts the newest save (or redo) not already undone; undos met on the way mark the save
  they reverted as undone, and a model's or an import's labels and conditions are never undone;
- redo reverts the newest undo not already redone, as long as no new save came after it (a new
  action ends what there is to redo, as in any editor).

An undo or redo is refused, writing nothing, when a label it would revert changed since (its
state is no longer the one that save left): another reviewer's work is not overwritten.
Events from before save groups existed are each their own save (and their undos the old
per-label kind, which is not redone).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.statuses import LabelStatus
from storage import models as m
from storage.db import Database
from storage.errors import ConflictError
from storage.labels import NEVER_UNDONE, snapshot, write_versioned
from storage.review import box_numbers

UNDO, REDO = "undo", "redo"


@dataclass(frozen=True)
class PhotoEvent:
    event_id: int
    label_id: int
    box_number: int  # the label's number on the photo (``storage.review.box_numbers``)
    actor: str
    action: str
    at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    save_id: str | None = None
    reverts: str | None = None

    @property
    def save(self) -> str:
        """The action it belongs to: its save, or the event alone."""
        return self.save_id or f"event-{self.event_id}"


@dataclass(frozen=True)
class SaveAction:
    """One action on a photo, as undo and redo see it."""

    key: str
    actor: str
    events: tuple[PhotoEvent, ...]  # newest first

    @property
    def kind(self) -> str:
        return self.events[0].action if self.events[0].action in (UNDO, REDO) else "save"

    @property
    def reverts(self) -> str | None:
        return self.events[0].reverts

    @property
    def boxes(self) -> list[int]:
        return sorted({e.box_number for e in self.events})


def photo_history(db: Database, image_id: int, limit: int = 100) -> list[PhotoEvent]:
    """The photo's label events, newest first."""
    with db.read() as session:
        return _history(session, image_id, limit)


def _history(session: Session, image_id: int, limit: int) -> list[PhotoEvent]:
    query = (
        select(m.LabelEvent)
        .join(m.Label, m.LabelEvent.label_id == m.Label.id)
        .where(m.Label.image_id == image_id)
        .order_by(m.LabelEvent.id.desc())
        .limit(limit)
    )
    events = list(session.scalars(query))
    # Numbered after the events are read, so a label made meanwhile by another reviewer is
    # numbered too (labels are never removed from the table).
    numbers = box_numbers(session, image_id)
    return [
        PhotoEvent(
            e.id, e.label_id, numbers[e.label_id], e.actor, e.action, e.at, e.before, e.after, e.save_id, e.reverts
        )
        for e in events
    ]


def _actions(events: list[PhotoEvent]) -> list[SaveAction]:
    """The events grouped into actions, newest first."""
    grouped: dict[str, list[PhotoEvent]] = {}
    for event in events:
        grouped.setdefault(event.save, []).append(event)
    return [SaveAction(key, group[0].actor, tuple(group)) for key, group in grouped.items()]


def next_undo(events: list[PhotoEvent]) -> SaveAction | None:
    """The action one undo would revert, from the photo's events newest first."""
    undone: set[str] = set()
    old_undos: dict[int, int] = {}  # label id -> per-label undos of before 0004 still to match
    for action in _actions(events):
        if action.key in undone:
            continue
        if action.kind == UNDO and action.reverts is None:  # an old per-label undo
            label = action.events[0].label_id
            old_undos[label] = old_undos.get(label, 0) + 1
            continue
        if action.kind == UNDO:
            undone.add(action.reverts)
            continue
        if action.events[0].save_id is None and old_undos.get(action.events[0].label_id):
            old_undos[action.events[0].label_id] -= 1
            continue
        if all(e.action in NEVER_UNDONE for e in action.events):
            continue
        return action
    return None


def next_redo(events: list[PhotoEvent]) -> SaveAction | None:
    """The undo one redo would revert: the newest undo not yet redone, if no save came after it."""
    redone: set[str] = set()
    for action in _actions(events):
        if action.key in redone:
            continue
        if action.kind == REDO:
            redone.add(action.reverts)
            continue
        if action.kind == UNDO and action.reverts is not None:
            return action
        return None
    return None


def undo_last(db: Database, image_id: int, actor: str) -> SaveAction | None:
    """Revert the photo's newest action not yet undone; returns it (None: nothing to undo)."""
    return _revert(db, image_id, actor, next_undo, UNDO)


def redo_last(db: Database, image_id: int, actor: str) -> SaveAction | None:
    """Revert the photo's newest undo not yet redone; returns it (None: nothing to redo)."""
    return _revert(db, image_id, actor, next_redo, REDO)


def _revert(db: Database, image_id: int, actor: str, choose, action: str) -> SaveAction | None:
    with db.write() as session:
        target = choose(_history(session, image_id, 10_000))
        if target is None:
            return None
        save_id = uuid.uuid4().hex
        for event in target.events:
            label = session.get(m.Label, event.label_id, with_for_update=True)
            if snapshot(label) != event.after:
                raise ConflictError(f"label {label.id} changed since; reload and try again")
            restored = event.before if event.before is not None else {"status": LabelStatus.DELETED}  # an add
            if not write_versioned(session, label, label.version, dict(restored), actor, action, save_id, target.key):
                raise ConflictError(f"label {label.id} changed while saving; reload and try again")
        return target
