"""Files the app hands to a browser (reports, plots) and how long the server keeps them.

Each request writes into its own folder under one parent; making a folder deletes those older
than the lifetime, and Gradio's own cache (uploads, and its copies of what handlers return) is
emptied on the same lifetime. Without this, a server that runs for months fills its temporary
folder with every upload and report, and the public demo would keep visitors' photos.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from core.settings import Settings

SCRATCH_DIR = Path(tempfile.gettempdir()) / "slope-inspection-downloads"
LIFETIME_S = 24 * 3600  # a report downloaded the day it was made still works
DEMO_LIFETIME_S = 3600  # a demo visitor's photos and results are gone within the hour


def lifetime_s(settings: Settings) -> int:
    return DEMO_LIFETIME_S if settings.demo_mode else LIFETIME_S


def gradio_cache_policy(settings: Settings) -> tuple[int, int]:
    """``gr.Blocks(delete_cache=...)``: (how often to look, age at which a file goes), seconds."""
    lifetime = lifetime_s(settings)
    return lifetime // 6, lifetime


def scratch_folder(prefix: str, lifetime: int = LIFETIME_S) -> Path:
    """A new folder for one request's files; folders older than ``lifetime`` seconds are deleted
    first (those of every request: the shortest lifetime asked for wins)."""
    SCRATCH_DIR.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - lifetime
    for old in SCRATCH_DIR.iterdir():
        try:
            expired = old.stat().st_mtime < cutoff
        except FileNotFoundError:  # another request deleted it just now
            continue
        if expired:
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=SCRATCH_DIR))
