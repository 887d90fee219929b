"""The public demo (Hugging Face Spaces): visitors cannot see or change each other's work.

In demo mode
- photos a visitor inspects are never stored: their results live in that visitor's page only;
- the review store holds only the example gallery's photos, inspected by the served models, and
  is wiped and seeded again at start and every ``demo_reset_minutes``: a correction lasts until
  the next reset and never outlives it;
- training is off (no Train tab, and the job service refuses to start one);
- the store is a private temporary one, made at every start (``private_store``): a reset deletes
  every photo, so a demo pointed at a real store (``SLOPE_DATA_DIR``, ``DATABASE_URL``) would
  delete its photos, and its anonymous "demo" reviews would count as ground truth there.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from core.images import DEFAULT_MAX_BYTES
from core.pipeline import Inspector
from core.settings import PROJECT_ROOT, Settings
from core.sources import expand_sources
from services.inspection import inspect_batch
from services.sinks import StoreSink
from storage.db import Database
from storage.images import delete_all_photos

EXAMPLES_DIR = PROJECT_ROOT / "examples"
DEMO_UPLOADER = "demo"
log = logging.getLogger(__name__)


def private_store(settings: Settings) -> tuple[Settings, str]:
    """``settings`` with a new temporary store of their own (SQLite and photo files in a temporary
    folder, deleted when the process exits), and a sentence saying so. The configured store is not
    named in it: a database URL may carry a password."""
    folder = tempfile.mkdtemp(prefix="slope-demo-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    private = dataclasses.replace(settings, data_dir=folder, database_url="", object_store="")
    return private, (
        f"Demo mode: the review store is a temporary one in {folder}, deleted at exit; the configured "
        "data directory, database and object store are not used."
    )


def reset_demo_store(db: Database, data_dir: str | Path, inspector: Inspector, examples: Path = EXAMPLES_DIR) -> int:
    """Delete every photo, label and history entry, then store the example photos as the served
    models see them (pending review). Returns the number of photos stored."""
    delete_all_photos(db, data_dir)
    sources, _ = expand_sources(sorted(examples.glob("*.jpg")), max_bytes=DEFAULT_MAX_BYTES)
    result = inspect_batch(sources, inspector, [StoreSink(db, data_dir, DEMO_UPLOADER)])
    return result.inspected


def keep_resetting(
    db: Database, data_dir: str | Path, get_inspector: Callable[[], Inspector], minutes: float
) -> threading.Thread:
    """A daemon thread that resets the demo store every ``minutes``. A failed reset is logged and
    tried again at the next period: the app goes on serving."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(minutes * 60):
            try:
                reset_demo_store(db, data_dir, get_inspector())
            except Exception:  # noqa: BLE001 - any failure: keep serving, try again later
                log.exception("demo store reset failed")

    thread = threading.Thread(target=loop, name="demo-reset", daemon=True)
    thread.stop = stop  # type: ignore[attr-defined]  # lets tests end it
    thread.start()
    return thread
