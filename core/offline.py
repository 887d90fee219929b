"""Make ultralytics work with no network attempts (hub ids for transformers still work when cached).

Must run before ``ultralytics`` is imported: it reads these variables at import time.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from core.settings import PROJECT_ROOT

ULTRALYTICS_CONFIG_DIR = PROJECT_ROOT / ".ultralytics"
_FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")


def _config_dir() -> Path:
    """The checkout's ``.ultralytics``, or a temporary one when the checkout is read-only."""
    writable = ULTRALYTICS_CONFIG_DIR if ULTRALYTICS_CONFIG_DIR.exists() else PROJECT_ROOT
    if os.access(writable, os.W_OK):
        return ULTRALYTICS_CONFIG_DIR
    return Path(tempfile.gettempdir()) / "slope-inspection-ultralytics"


def prepare_offline() -> None:
    """Set the variables that stop hub, DNS and font fetches; place a local font where
    ultralytics looks for Arial (it downloads it otherwise when plotting)."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_VERBOSE", "false")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(_config_dir()))
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    font_dir = Path(os.environ["YOLO_CONFIG_DIR"]) / "Ultralytics"
    if all((font_dir / n).exists() for n in _FONT_NAMES):
        return
    try:
        import matplotlib

        source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    except ImportError:  # plotting is optional; without the font ultralytics only skips labels
        return
    font_dir.mkdir(parents=True, exist_ok=True)
    for name in _FONT_NAMES:
        if not (font_dir / name).exists():
            shutil.copyfile(source, font_dir / name)
