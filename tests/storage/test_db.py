"""The store's write transactions: a lock held by another program is waited for with retries
(and given up on in words), and a transaction that fails leaves no photo file behind."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import func, select

from storage import db as db_module
from storage import models as m
from storage.db import Database
from storage.errors import StoreBusy
from storage.images import add_image


def jpeg_bytes(shade: int = 0) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (shade, shade, shade)).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture
def sqlite_db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    database.upgrade()
    yield database
    database.dispose()


def _hold_write_lock(path, seconds: float) -> threading.Thread:
    """Another connection (as another process would) takes the write lock for ``seconds``."""
    taken = threading.Event()

    def hold() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        taken.set()
        time.sleep(seconds)
        other.execute("COMMIT")
        other.close()

    thread = threading.Thread(target=hold)
    thread.start()
    taken.wait(5)
    return thread


def test_a_writer_waits_out_a_lock_held_longer_than_one_attempt(sqlite_db, tmp_path, monkeypatch):
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 100)  # each attempt gives up after 0.1 s
    sqlite_db.dispose()
    database = Database(sqlite_db.url)
    holder = _hold_write_lock(tmp_path / "store.sqlite3", 1.0)
    started = time.monotonic()
    with database.write() as session:
        add_image(session, tmp_path, jpeg_bytes(), "a.jpg", (8, 8), "ana")
    holder.join()
    assert time.monotonic() - started >= 0.5  # it waited for the other writer, then wrote
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(m.Image)) == 1
    database.dispose()


def test_a_lock_held_past_the_wait_is_refused_in_words_and_nothing_is_written(sqlite_db, tmp_path, monkeypatch):
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 50)
    monkeypatch.setattr(db_module, "WRITE_WAIT_S", 0.5)
    sqlite_db.dispose()
    database = Database(sqlite_db.url)
    holder = _hold_write_lock(tmp_path / "store.sqlite3", 2.0)
    with pytest.raises(StoreBusy, match="stayed busy for 0.5 s") as refused:
        with database.write() as session:
            add_image(session, tmp_path, jpeg_bytes(), "a.jpg", (8, 8), "ana")
    holder.join()
    assert "SQL" not in str(refused.value) and "sqlite" not in str(refused.value).lower()
    assert not (tmp_path / "images").exists()
    database.dispose()


def test_a_failed_transaction_removes_the_photo_files_it_wrote(db_url, tmp_path):
    database = Database(db_url)
    database.upgrade()
    with database.write() as session:
        kept, _ = add_image(session, tmp_path, jpeg_bytes(10), "kept.jpg", (8, 8), "ana")
        kept_path = tmp_path / kept.path
    with pytest.raises(RuntimeError, match="after the photo"):
        with database.write() as session:
            image, created = add_image(session, tmp_path, jpeg_bytes(200), "new.jpg", (8, 8), "ana")
            again, _ = add_image(session, tmp_path, jpeg_bytes(10), "kept.jpg", (8, 8), "ana")
            assert created and (tmp_path / image.path).is_file()
            written = tmp_path / image.path
            raise RuntimeError("a failure after the photo was written")
    assert not written.exists() and kept_path.is_file()  # the stored photo's file stays
    assert not list((tmp_path / "images").rglob(".part-*"))
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(m.Image)) == 1
    database.dispose()
