"""The storage tests' photo (four findings, stored by ``save``) and what they read back after the
per-photo review wrote: a label as stored (deleted ones too, which the photo view leaves out) and
its events through the photo history the Review tab shows."""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select

from core.spatial import ObjectContext
from core.types import Finding, Inspection
from storage import history as history_store
from storage import inspections as inspections_store
from storage import models as m
from storage.db import Database


def finding(box, object_type, confidence, probs):
    return Finding(
        tuple(box),
        object_type,
        confidence,
        max(probs, key=probs.get),
        probs,
        ObjectContext("middle-center", (0.5, 0.5)),
    )


def make_inspection(findings, condition="cond-v1"):
    return Inspection(
        640,
        480,
        tuple(findings),
        {"detector": "det-v1", "condition": condition},
        {"detect": 10.0, "total": 12.0},
    )


# Review certainty = condition margin x confidence: 0.045, 0.68, 0.12, 0.95.
FINDINGS = [
    finding([10, 10, 100, 100], "slope_drain", 0.9, {"normal": 0.5, "blocked": 0.45, "damaged": 0.05}),
    finding([200, 10, 300, 100], "toe_drain", 0.8, {"normal": 0.9, "blocked": 0.05, "damaged": 0.05}),
    finding([10, 200, 100, 300], "rock_toe", 0.3, {"normal": 0.7, "damaged": 0.3}),
    finding([300, 300, 400, 400], "vegetation", 0.95, {"normal": 1.0}),
]


def save(db, data_dir, content=b"photo-1", survey="north", condition="cond-v1") -> int:
    """Store ``content`` inspected with ``FINDINGS`` (by condition model ``condition``); returns the image id."""
    inspection = make_inspection(FINDINGS, condition)
    inspections_store.save_inspection(db, data_dir, content, "p.jpg", inspection, "ines", survey=survey)
    with db.read() as session:
        return session.scalar(select(m.Image.id).where(m.Image.sha256 == hashlib.sha256(content).hexdigest()))


def stored_label(db: Database, label_id: int) -> m.Label:
    with db.read() as session:
        return session.get_one(m.Label, label_id)  # raises when there is no such label


def label_events(db: Database, label_id: int) -> list[history_store.PhotoEvent]:
    """The label's events, oldest first."""
    history = history_store.photo_history(db, stored_label(db, label_id).image_id, limit=10_000)
    return [event for event in reversed(history) if event.label_id == label_id]


def untouched(db: Database) -> bool:
    """No label has an event past its creation: nothing a reviewer did was written."""
    with db.read() as session:
        labels = session.scalar(select(func.count()).select_from(m.Label))
        events = session.scalar(select(func.count()).select_from(m.LabelEvent))
    return events == labels
