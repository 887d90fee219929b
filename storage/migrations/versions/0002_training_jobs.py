"""training runs as jobs: pid, progress, cancellation, who and when; status 'cancelled';
when each model version was last put into service (for rollback)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 02:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OLD_STATUSES = "status IN ('queued', 'running', 'succeeded', 'failed')"
NEW_STATUSES = "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')"


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("served_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("training_runs") as batch:
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("progress", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("created_by", sa.String(length=80), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
        )
        batch.drop_constraint("ck_training_runs_status", type_="check")
        batch.create_check_constraint("ck_training_runs_status", NEW_STATUSES)


def downgrade() -> None:
    with op.batch_alter_table("training_runs") as batch:
        batch.drop_constraint("ck_training_runs_status", type_="check")
        batch.create_check_constraint("ck_training_runs_status", OLD_STATUSES)
        for column in ("created_at", "created_by", "cancel_requested", "progress", "pid"):
            batch.drop_column(column)
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("served_at")
