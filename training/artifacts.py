"""Model folders: weights + config + ``metadata.json``, published atomically."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path


def staging_folder(out: Path) -> Path:
    """A fresh temporary folder beside ``out`` (same filesystem, so the final rename is atomic)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))


def publish_folder(staging: Path, out: Path, metadata: dict) -> Path:
    """Write ``metadata.json`` into ``staging`` and move it to ``out``, replacing any old folder.

    The old folder is renamed aside first and removed only after the new one is in place, so a
    crash at any point leaves either the old or the new model where the app looks, never half.
    """
    (staging / "metadata.json").write_text(json.dumps(metadata, indent=2))
    if out.exists():
        retired = out.with_name(f".{out.name}-old-{int(time.time())}")
        out.rename(retired)
        staging.rename(out)
        shutil.rmtree(retired)
    else:
        staging.rename(out)
    return out
