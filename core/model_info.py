"""What a model folder says about itself (its ``metadata.json``)."""

from __future__ import annotations

import json
from pathlib import Path


def read_metadata(source: str | Path) -> dict:
    """The folder's metadata, or ``{}`` for a bare weights file or a hub id."""
    path = Path(source)
    folder = path if path.is_dir() else path.parent
    metadata = folder / "metadata.json"
    return json.loads(metadata.read_text()) if metadata.is_file() else {}


def model_version(source: str | Path) -> str:
    """A name for the model that reports and stored inspections can cite."""
    metadata = read_metadata(source)
    if "version" in metadata:
        return str(metadata["version"])
    path = Path(source)
    return path.name if path.exists() else str(source)
