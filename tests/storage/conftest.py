"""Each storage test runs against a fresh SQLite file and a fresh database on a real
PostgreSQL server (``TEST_POSTGRES_URL``, started by ``.ci/services.sh``). PostgreSQL tests skip
only when no server is reachable and ``REQUIRE_POSTGRES`` is unset; CI sets it."""

from __future__ import annotations

import pytest

from storage.db import Database
from tests.postgres import fresh_postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def data_dir(tmp_path):
    path = tmp_path / "data"
    path.mkdir()
    return path
