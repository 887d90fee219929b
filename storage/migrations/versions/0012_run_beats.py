"""When a training job last said it is alive (revision 0012, after 0011): a job on a machine that
is gone (a training worker killed with its container) cannot be judged by its pid from another
machine, and jobs go one at a time, so it blocked every later job until that machine came back."""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0012", "0011"


def upgrade() -> None:
    with op.batch_alter_table("training_runs") as batch:
        batch.add_column(sa.Column("beat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("training_runs") as batch:
        batch.drop_column("beat_at")
