"""Surveys on the task queue (revision 0009, after 0008): a queued survey and its chunks of
photos, one task each, with the worker that took it and when it last reported."""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0009", "0008"

STATUSES = "status IN ('queued', 'running', 'done', 'failed', 'cancelled')"


def upgrade() -> None:
    op.create_table(
        "queued_surveys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("survey", sa.String(200), nullable=True),
        sa.Column("conf", sa.Float(), nullable=True),
        sa.Column("photos", sa.Integer(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("staged_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "survey_chunks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("queued_survey_id", sa.Integer(), sa.ForeignKey("queued_surveys.id"), nullable=False, index=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("photos", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("worker", sa.String(200), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("inspected", sa.Integer(), nullable=False),
        sa.Column("reused", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(STATUSES, name="ck_survey_chunks_status"),
        sa.UniqueConstraint("queued_survey_id", "position", name="uq_survey_chunks_position"),
    )


def downgrade() -> None:
    op.drop_table("survey_chunks")
    op.drop_table("queued_surveys")
