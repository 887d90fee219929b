"""When a queued survey last queued a chunk while its photos were taken in (revision 0013, after
0012): an upload cut off (the app died mid-way) left the survey 'Taking in the photos' for ever,
its staged photos kept; this tells such a survey from one still being taken in."""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0013", "0012"


def upgrade() -> None:
    with op.batch_alter_table("queued_surveys") as batch:
        batch.add_column(sa.Column("taking_in_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("queued_surveys") as batch:
        batch.drop_column("taking_in_at")
