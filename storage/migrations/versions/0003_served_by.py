"""Who put a model version into service, and why: promote and rollback record both (revision
0003, after 0002)."""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0003", "0002"


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("served_by", sa.String(length=80), nullable=True))
        batch.add_column(sa.Column("served_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("served_reason")
        batch.drop_column("served_by")
