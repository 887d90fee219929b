"""The migrations build exactly the schema the models declare, on both backends."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage.models import Base


def test_migrated_schema_matches_the_models(db):
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
