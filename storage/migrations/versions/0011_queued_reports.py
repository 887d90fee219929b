"""A queued survey's report (revision 0011, after 0010): made by a worker and kept in the object
store, so any replica hands it out."""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0011", "0010"


def upgrade() -> None:
    with op.batch_alter_table("queued_surveys") as batch:
        batch.add_column(sa.Column("report", sa.String(500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("queued_surveys") as batch:
        batch.drop_column("report")
