"""Label events grouped by the save that wrote them, so one undo reverts a reviewer's whole save
and a redo brings it back (revision 0004, after 0003). Events written before carry no group: each
is its own."""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0004", "0003"


def upgrade() -> None:
    with op.batch_alter_table("label_events") as batch:
        batch.add_column(sa.Column("save_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("reverts", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("label_events") as batch:
        batch.drop_column("reverts")
        batch.drop_column("save_id")
