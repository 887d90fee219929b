"""The database schema as SQLAlchemy 2 typed models.

Predictions are what a model proposed and are never modified after insert. Labels are the
reviewed truth beside them, each with a version number for optimistic concurrency, and every
change to a label appends a ``LabelEvent`` (who, what, before, after, when).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from core.statuses import ChunkStatus, LabelStatus, ModelStatus, RunStatus
from storage.db import as_utc  # noqa: F401  (rows' times are read through it: m.as_utc)

LABEL_STATUSES = tuple(LabelStatus)
ROLES = ("inspector", "reviewer", "admin")
MODEL_KINDS = ("detector", "condition")
MODEL_STATUSES = tuple(ModelStatus)
RUN_STATUSES = tuple(RunStatus)
CHUNK_STATUSES = tuple(ChunkStatus)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="ck_users_role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class LoginFailure(Base):
    """A wrong password (or an unknown name): what login throttling counts."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(200), index=True)  # as typed: it may name no account
    address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class Survey(Base):
    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    site: Mapped[str | None] = mapped_column(String(200))
    date: Mapped[str | None] = mapped_column(String(32))
    inspector: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ImageSurvey(Base):
    """A photo's membership of a survey (a photo inspected under two surveys is in both)."""

    __tablename__ = "image_surveys"

    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"), primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), primary_key=True, index=True)


class Image(Base):
    __tablename__ = "images"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(String(500))  # relative to the data directory
    original_name: Mapped[str] = mapped_column(String(500))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    survey_id: Mapped[int | None] = mapped_column(ForeignKey("surveys.id"), index=True)
    split: Mapped[str | None] = mapped_column(String(32))
    captured_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    uploaded_by: Mapped[str] = mapped_column(String(80))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    survey: Mapped[Survey | None] = relationship()


class Inspection(Base):
    __tablename__ = "inspections"

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"), index=True)
    detector_version: Mapped[str] = mapped_column(String(200))
    condition_version: Mapped[str] = mapped_column(String(200))
    timings_ms: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Prediction(Base):
    __tablename__ = "predictions"
    __table_args__ = (CheckConstraint("x2 > x1 AND y2 > y1", name="ck_predictions_box"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspections.id"), index=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"), index=True)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    object_type: Mapped[str] = mapped_column(String(32))
    confidence: Mapped[float] = mapped_column(Float)
    condition: Mapped[str] = mapped_column(String(16))
    condition_probs: Mapped[dict[str, Any]] = mapped_column()
    # top-1 minus top-2 condition probability (1 for a single allowed condition): small = unsure
    condition_margin: Mapped[float] = mapped_column(Float)
    relations: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Label(Base):
    __tablename__ = "labels"
    __table_args__ = (
        CheckConstraint(_in("status", LABEL_STATUSES), name="ck_labels_status"),
        CheckConstraint("x2 > x1 AND y2 > y1", name="ck_labels_box"),
        CheckConstraint("version >= 1", name="ck_labels_version"),
        Index("ix_labels_queue", "status", "certainty", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"), index=True)
    prediction_id: Mapped[int | None] = mapped_column(ForeignKey("predictions.id"), unique=True)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    object_type: Mapped[str] = mapped_column(String(32), index=True)
    condition: Mapped[str | None] = mapped_column(String(16), index=True)  # None: not known yet
    status: Mapped[str] = mapped_column(String(16))
    # Queue order key from the prediction: condition margin x detector confidence. The review
    # queue shows the lowest first; labels a person made (imported, added) get 1.
    certainty: Mapped[float] = mapped_column(Float, default=1.0)
    author: Mapped[str] = mapped_column(String(80))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    image: Mapped[Image] = relationship()


class LabelEvent(Base):
    __tablename__ = "label_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id"), index=True)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(16))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The save (one reviewer's action on a photo) that wrote the event, and for an undo or a redo
    # the save it reverts; None on events of single changes (the model's, an import's, before 0004).
    save_id: Mapped[str | None] = mapped_column(String(32))
    reverts: Mapped[str | None] = mapped_column(String(32))


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (
        CheckConstraint(_in("kind", MODEL_KINDS), name="ck_model_versions_kind"),
        CheckConstraint(_in("status", MODEL_STATUSES), name="ck_model_versions_status"),
        UniqueConstraint("kind", "name", name="uq_model_versions_kind_name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    folder: Mapped[str] = mapped_column(String(500))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    quantization: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=ModelStatus.CANDIDATE)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    served_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # last put into service
    # Who last put it into service and why (a promotion, a rollback, the configuration at start).
    served_by: Mapped[str | None] = mapped_column(String(80))
    served_reason: Mapped[str | None] = mapped_column(Text)


class ModelEvent(Base):
    """A change of the served version of a kind: promoted, rolled back, or configured at start."""

    __tablename__ = "model_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    from_version: Mapped[str | None] = mapped_column(String(200))  # None: nothing served before
    to_version: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text)
    gate_report: Mapped[str] = mapped_column(Text, default="")  # the verdict the person saw
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class TrainingRun(Base):
    __tablename__ = "training_runs"
    __table_args__ = (CheckConstraint(_in("status", RUN_STATUSES), name="ck_training_runs_status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.QUEUED)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    log: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    produced_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    error: Mapped[str | None] = mapped_column(Text)
    # Jobs run in a process of their own (services.jobs): its pid tells a live job from one that
    # died with the app; progress is the latest {"step", "total", ...} it reported.
    pid: Mapped[int | None] = mapped_column(Integer)
    # The machine that pid is on: another machine's job (app replicas share the store) is its own
    # to judge, this one cannot see its process.
    host: Mapped[str | None] = mapped_column(String(255))
    # When the running job last said it is alive (every few seconds): how any machine tells a job
    # whose machine is gone from a slow one.
    beat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class QueuedSurvey(Base):
    """Photos handed to the task queue as one survey (services.survey_queue): staged in the
    object store and split into chunks, one task each, that any worker may take."""

    __tablename__ = "queued_surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey: Mapped[str | None] = mapped_column(String(200))  # the survey's name (None: under none)
    conf: Mapped[float | None] = mapped_column(Float)  # the detector threshold asked for (None: served)
    photos: Mapped[int] = mapped_column(Integer, default=0)
    problems: Mapped[list[Any]] = mapped_column(default=list)  # sources refused when it was queued
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Chunks are queued as their photos are staged; this is set once the last one is.
    staged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the last chunk was queued while staging: long silent, the upload was cut off.
    taking_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Where its latest report (made by a worker) is kept in the object store: report.html, findings.csv
    report: Mapped[str | None] = mapped_column(String(500))


class SurveyChunk(Base):
    """Some photos of a queued survey: one task. A worker that takes it writes its name and beats
    (``heartbeat_at``) after each photo, so a chunk whose worker died is told from a slow one;
    ``sent_at`` is when it was last handed to the broker (a task the broker lost is sent again)."""

    __tablename__ = "survey_chunks"
    __table_args__ = (
        CheckConstraint(_in("status", CHUNK_STATUSES), name="ck_survey_chunks_status"),
        UniqueConstraint("queued_survey_id", "position", name="uq_survey_chunks_position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    queued_survey_id: Mapped[int] = mapped_column(ForeignKey("queued_surveys.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    photos: Mapped[list[Any]] = mapped_column(default=list)  # [{"name": shown name, "key": staged object}]
    status: Mapped[str] = mapped_column(String(16), default=ChunkStatus.QUEUED)
    worker: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    inspected: Mapped[int] = mapped_column(Integer, default=0)
    reused: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    problems: Mapped[list[Any]] = mapped_column(default=list)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
