"""The model registry's rows: every model version on record, and which one of each kind is served.

A version is recorded from its card (``core.model_card``) as a candidate, or as served when it
is put into service. Serving is a record: serving a version retires the one served before it,
in one transaction, and the serving service (``lifecycle.server``) loads whatever is recorded
as served for the next request. The use cases (promote, rollback, status) are
``lifecycle.registry``'s; this module is their SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from core.model_card import ModelCard
from core.statuses import ModelStatus
from storage import models as m
from storage.blobs import blobs_for, model_key
from storage.db import Database
from storage.errors import NotFoundError, ServedChanged


def headline_metrics(card: ModelCard) -> dict:
    """The card's top-level figures (numbers only) and what they were measured on."""
    figures = {k: v for k, v in card.metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    return {**figures, "measured_on": card.metrics_data} if figures else {}


def _built_at(card: ModelCard) -> datetime:
    """When the model was built (its card), not when this store first saw it: the shipped
    defaults are recorded at every fresh start."""
    try:
        built = datetime.fromisoformat(card.created)
    except (TypeError, ValueError):
        return m.utcnow()
    return built if built.tzinfo else built.replace(tzinfo=UTC)


def record_version(
    db: Database,
    card: ModelCard,
    folder: str | Path,
    status: ModelStatus = ModelStatus.CANDIDATE,
    quantization: str | None = None,
    *,
    actor: str | None = None,
    reason: str | None = None,
) -> int:
    """The row for this version (kind + version name are unique: recording it again returns the
    existing id and changes nothing). Recorded as served, it says who served it and why."""
    status = ModelStatus(status)  # ValueError names a misspelt status
    with db.write() as session:
        existing = session.scalar(
            select(m.ModelVersion).where(m.ModelVersion.kind == card.kind, m.ModelVersion.name == card.version)
        )
        if existing is not None:
            return existing.id
        parent = None
        if card.parent:
            parent = session.scalar(
                select(m.ModelVersion.id).where(m.ModelVersion.kind == card.kind, m.ModelVersion.name == card.parent)
            )
        serving = status == ModelStatus.SERVED
        before = _retire_served(session, card.kind) if serving else None
        row = m.ModelVersion(
            kind=card.kind,
            name=card.version,
            folder=str(folder),
            metrics=headline_metrics(card),
            status=status,
            parent_id=parent,
            quantization=quantization,
            served_at=m.utcnow() if serving else None,
            served_by=actor if serving else None,
            served_reason=reason if serving else None,
            created_at=_built_at(card),
        )
        session.add(row)
        if serving:
            _event(session, row, "configured", before, actor or "configuration", reason or "")
        session.flush()
        return row.id


def versions(db: Database, kind: str | None = None) -> list[m.ModelVersion]:
    """Recorded model versions, newest first."""
    query = select(m.ModelVersion).order_by(m.ModelVersion.created_at.desc(), m.ModelVersion.id.desc())
    if kind is not None:
        query = query.where(m.ModelVersion.kind == kind)
    with db.read() as session:
        return list(session.scalars(query))


def served_version(db: Database, kind: str) -> m.ModelVersion | None:
    with db.read() as session:
        return session.scalar(_served(kind))


def _served(kind: str):
    return (
        select(m.ModelVersion)
        .where(m.ModelVersion.kind == kind, m.ModelVersion.status == ModelStatus.SERVED)
        .order_by(m.ModelVersion.id.desc())
    )


def serve(db: Database, kind: str, name: str, actor: str, reason: str, replacing: str | None = None) -> m.ModelVersion:
    """Serve ``name`` from the next request on, recording who and why on its row and as an
    event ("rolled back" to a version that served before, else "promoted"); the version served
    until now is retired (one transaction). With ``replacing``, only if that version is the one
    served still (``ServedChanged`` otherwise): what ``name`` was compared with."""
    with db.write() as session:
        row = session.scalar(select(m.ModelVersion).where(m.ModelVersion.kind == kind, m.ModelVersion.name == name))
        if row is None:
            raise NotFoundError(f"no {kind} version named {name!r} on record")
        if not Path(row.folder).exists() and model_folder(kind, name) is None:
            raise FileNotFoundError(f"{kind} version {name!r}: its folder {row.folder} is gone")
        if replacing is not None:
            current = session.scalar(_served(kind).with_for_update())
            if current is None or current.name != replacing:
                raise ServedChanged(f"{current.name if current else 'nothing'} is served now, not {replacing}")
        action = "rolled back" if row.served_at is not None else "promoted"
        before = _retire_served(session, kind)
        row.status, row.served_at = ModelStatus.SERVED, m.utcnow()
        row.served_by, row.served_reason = actor, reason
        _event(session, row, action, before, actor, reason)
        session.flush()
        return row


def model_folder(kind: str, name: str) -> Path | None:
    """The version's folder fetched from the object store (another machine published it), or None."""
    return blobs_for().folder(model_key(kind, name))


def previously_served(db: Database, kind: str) -> m.ModelVersion | None:
    """The retired version of ``kind`` that served most recently (what a rollback serves again)."""
    with db.read() as session:
        return session.scalar(
            select(m.ModelVersion)
            .where(
                m.ModelVersion.kind == kind,
                m.ModelVersion.status == ModelStatus.RETIRED,
                m.ModelVersion.served_at.is_not(None),
            )
            .order_by(m.ModelVersion.served_at.desc(), m.ModelVersion.id.desc())
        )


def find_version(db: Database, name: str) -> m.ModelVersion:
    """A version by its name, whatever its kind (names carry their kind: ``condition-...``)."""
    with db.read() as session:
        row = session.scalar(select(m.ModelVersion).where(m.ModelVersion.name == name).order_by(m.ModelVersion.id))
    if row is None:
        raise NotFoundError(f"no model version named {name!r} on record")
    return row


def _retire_served(session, kind: str) -> str | None:
    """Retire the served version of ``kind``; its name (None when none served)."""
    name = None
    for row in session.scalars(
        select(m.ModelVersion).where(m.ModelVersion.kind == kind, m.ModelVersion.status == ModelStatus.SERVED)
    ):
        row.status, name = ModelStatus.RETIRED, row.name
    return name


def _event(session, row: m.ModelVersion, action: str, before: str | None, actor: str, reason: str) -> None:
    report = (row.metrics or {}).get("gate_report") or (row.metrics or {}).get("gate") or ""
    session.add(
        m.ModelEvent(
            kind=row.kind,
            action=action,
            from_version=before,
            to_version=row.name,
            actor=actor,
            reason=reason,
            gate_report=report,
            at=m.utcnow(),
        )
    )


def events(db: Database, limit: int = 100) -> list[m.ModelEvent]:
    """Changes of the served models, newest first."""
    with db.read() as session:
        query = select(m.ModelEvent).order_by(m.ModelEvent.at.desc(), m.ModelEvent.id.desc()).limit(limit)
        return list(session.scalars(query))


def update_version(
    db: Database, kind: str, name: str, *, metrics: dict | None = None, status: ModelStatus | None = None
) -> None:
    """Add figures to a version's record (e.g. the gate's) and set its status (``rejected``); a
    served version keeps its status."""
    status = None if status is None else ModelStatus(status)
    with db.write() as session:
        row = session.scalar(select(m.ModelVersion).where(m.ModelVersion.kind == kind, m.ModelVersion.name == name))
        if row is None:
            raise NotFoundError(f"no {kind} version named {name!r} on record")
        if metrics:
            row.metrics = {**row.metrics, **metrics}
        if status is not None and row.status != ModelStatus.SERVED:
            row.status = status
