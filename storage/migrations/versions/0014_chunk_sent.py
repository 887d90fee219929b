"""When a chunk was last handed to the broker (revision 0014, after 0013): a broker that lost
its tasks (Redis restarted without its data) left queued chunks waiting for ever; a chunk queued
long after it was sent, while the broker holds nothing, is sent again."""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0014", "0013"


def upgrade() -> None:
    with op.batch_alter_table("survey_chunks") as batch:
        batch.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("survey_chunks") as batch:
        batch.drop_column("sent_at")
