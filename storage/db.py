"""Engine, sessions and migrations.

SQLite (a file in the data directory) by default: WAL so readers never wait for the writer,
foreign keys on, a busy timeout, ``synchronous=FULL`` so a committed label survives a power cut,
and write transactions that take the write lock up front (``BEGIN IMMEDIATE``) so two writers
queue instead of failing half-way. A writer that finds the lock held retries for up to
``WRITE_WAIT_S`` with growing pauses (another process may hold it for a while: a backup, a
migration, a long import), then gives up with ``StoreBusy`` having written nothing. Files a
transaction wrote for new rows (``undo_on_rollback``) are removed when it rolls back, so a failed
transaction leaves no photo without its row. ``DATABASE_URL`` selects PostgreSQL with no code change.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from storage.errors import StoreBusy


def as_utc(moment: datetime) -> datetime:
    """A time read back from the store, in UTC: SQLite hands datetimes back without their zone
    (they were written in UTC), PostgreSQL in its session's zone."""
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 2_000  # SQLite's own wait for the lock, per attempt
WRITE_WAIT_S = 30.0  # a writer's whole wait for the lock, attempts and pauses together
UNDO = "slope.undo"  # session.info key: what removes the files this transaction wrote for new rows


def undo_on_rollback(session: Session, undo: Callable[[], object]) -> None:
    """``undo`` (removing a file written for a row of this transaction) runs if it fails."""
    session.info.setdefault(UNDO, []).append(undo)


def _is_busy(exc: OperationalError) -> bool:
    return "database is locked" in str(exc.orig).lower()


def database_url(settings: Settings) -> str:
    if settings.database_url:
        url = settings.database_url
        # Hosting platforms hand out postgres:// URLs; SQLAlchemy needs a driver name.
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{Path(settings.data_dir) / 'inspections.sqlite3'}"


def start_up_problem(settings: Settings) -> str | None:
    """Why the app cannot keep what it is given, in a sentence (None: it can), beyond a data
    folder it may not write (``app.writable_settings``): a data "folder" that is a file, or a
    SQLite store that is read-only (it would open, then refuse every label)."""
    import os

    folder = Path(settings.data_dir)
    if folder.exists() and not folder.is_dir():
        return f"The data folder {folder} is a file, not a folder: set SLOPE_DATA_DIR to a folder."
    store = folder / "inspections.sqlite3"
    if not settings.database_url and store.exists() and not os.access(store, os.W_OK):
        return f"The store {store} is read-only for this user: make it writable (labels could not be saved)."
    return None


def make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite would defer it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


class Database:
    """An engine plus the two kinds of session the repository uses."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._reads = sessionmaker(self.engine, expire_on_commit=False)
        writer = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self._writes = sessionmaker(writer, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings, upgrade: bool = True) -> Database:
        db = cls(database_url(settings))
        if upgrade:
            db.upgrade()
        return db

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reads() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One short transaction holding the write lock; committed on success, else rolled back
        (and the files it wrote for new rows removed, before the rollback lets another writer in)."""
        session = self._locked()
        try:
            yield session
            session.commit()
        except BaseException:
            for undo in session.info.pop(UNDO, []):
                undo()
            session.rollback()
            raise
        finally:
            session.close()

    def _locked(self) -> Session:
        """A session whose transaction has begun: on SQLite it holds the write lock (BEGIN
        IMMEDIATE), asked for again with growing, jittered pauses while another process holds it."""
        deadline, pause = time.monotonic() + WRITE_WAIT_S, 0.05
        while True:
            session = self._writes()
            session.begin()
            try:
                session.connection()  # emits BEGIN now, not at the first statement
                return session
            except OperationalError as exc:
                session.close()
                if not _is_busy(exc):
                    raise
                if time.monotonic() + pause > deadline:
                    raise StoreBusy(
                        f"the store stayed busy for {WRITE_WAIT_S:g} s (another program is writing to it): "
                        "nothing was saved, try again in a moment"
                    ) from exc
                time.sleep(pause * random.uniform(0.5, 1.5))
                pause = min(pause * 2, 2.0)

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (a no-op when it is already there)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            if not self.is_sqlite:
                # Replicas and workers starting together: one migrates, the others wait, then find
                # the schema current (two at once collide on Alembic's own table).
                connection.execute(text("SELECT pg_advisory_xact_lock(772201)"))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def dispose(self) -> None:
        self.engine.dispose()
