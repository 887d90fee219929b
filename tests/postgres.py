"""A fresh database on the test PostgreSQL server (``TEST_POSTGRES_URL``, started by
``.ci/services.sh``), dropped after: for the storage tests and the distributed ones. Skips when
no server is reachable, unless ``REQUIRE_POSTGRES`` is set (CI sets it): then it fails."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text

POSTGRES_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:54329/postgres")


def _postgres_reachable() -> str | None:
    try:
        engine = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        with engine.connect():
            pass
        engine.dispose()
        return None
    except Exception as exc:  # any failure to connect means "no server here"
        return str(exc).splitlines()[0]


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    problem = _postgres_reachable()
    if problem:
        if os.environ.get("REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL required but unreachable: {problem}")
        pytest.skip(f"no PostgreSQL server: {problem}")
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
