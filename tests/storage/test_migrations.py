"""The migrations build exactly the schema the models declare, on both backends."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage.models import Base


def test_migrated_schema_matches_the_models(db):
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_a_data_folder_that_is_a_file_or_a_read_only_store_is_named_before_start(tmp_path):
    import os

    from core.settings import Settings
    from storage.db import start_up_problem

    (tmp_path / "file").write_text("not a folder")
    assert start_up_problem(Settings(data_dir=str(tmp_path / "file"))) == (
        f"The data folder {tmp_path / 'file'} is a file, not a folder: set SLOPE_DATA_DIR to a folder."
    )
    assert start_up_problem(Settings(data_dir=str(tmp_path / "new"))) is None
    store = tmp_path / "data" / "inspections.sqlite3"
    store.parent.mkdir()
    store.write_bytes(b"")
    store.chmod(0o444)
    if os.geteuid() == 0:  # root writes whatever the mode: nothing to refuse
        assert start_up_problem(Settings(data_dir=str(store.parent))) is None
    else:
        assert "is read-only for this user" in start_up_problem(Settings(data_dir=str(store.parent)))
