"""A photo may belong to several surveys (revision 0006, after 0005): inspected again under
another survey, it joins that one too. ``images.survey_id`` stays the survey it was first filed
under; ``image_surveys`` holds every membership, the first ones copied from it."""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0006", "0005"


def upgrade() -> None:
    op.create_table(
        "image_surveys",
        sa.Column("image_id", sa.Integer(), sa.ForeignKey("images.id"), primary_key=True),
        sa.Column("survey_id", sa.Integer(), sa.ForeignKey("surveys.id"), primary_key=True, index=True),
    )
    op.execute(
        "INSERT INTO image_surveys (image_id, survey_id) SELECT id, survey_id FROM images WHERE survey_id IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("image_surveys")
