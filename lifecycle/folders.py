"""Candidate model folders: weights + config + ``card.json``, published into the model registry.

A training run never writes into a folder that exists: it builds its model in a temporary folder
inside the registry and renames it to ``<registry>/<kind>/<version>`` when complete. Which version
is served is a record in the store (``storage.registry``), never a folder overwrite, so a run that
fails, is killed, or finishes leaves the served model as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from core.model_card import ModelCard
from core.settings import PROJECT_ROOT
from core.types import LabelledPhoto

# progress(step, total, figures) and should_stop() are how a job follows and stops a training run.
Progress = Callable[[int, int, dict[str, float]], object]
ShouldStop = Callable[[], bool]


def shown_path(path: str | Path) -> str:
    """A data folder as a card names it: relative to the project when it lies beside it
    (``../shared/data/slopes``), so a shipped card does not name one machine's layout."""
    resolved = Path(path).resolve()
    if resolved.is_relative_to(PROJECT_ROOT.parent):
        return Path(os.path.relpath(resolved, PROJECT_ROOT)).as_posix()
    return str(path)


def settings_for_card(settings: object) -> dict[str, str]:
    """A trainer's settings dataclass as a card's ``train_settings``: every value as text (a
    folder as ``shown_path`` names it, a tuple comma-separated), unset (None) values left out."""

    def text(value: object) -> str:
        if isinstance(value, Path):
            return shown_path(value)
        return ", ".join(map(str, value)) if isinstance(value, tuple) else str(value)

    return {k: text(v) for k, v in asdict(settings).items() if v is not None}


class TrainingCancelled(Exception):
    """Raised when ``should_stop`` asks a run to stop; the run leaves nothing behind."""


def registry_root(data_dir: str | Path) -> Path:
    """Where candidates live: ``<data_dir>/models`` (one folder per kind, one per version)."""
    return Path(data_dir) / "models"


def default_registry() -> Path:
    """The registry of the configured data directory (``SLOPE_DATA_DIR``), read when called."""
    from core.settings import Settings

    return registry_root(Settings.from_env().data_dir)


def new_version(kind: str, name: str) -> str:
    """A unique version name that sorts by time, e.g. ``condition-lora-20261123021502-9f3a``: the
    random tail keeps two runs finishing in the same second apart."""
    return f"{kind}-{name}-{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(2)}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def staging_folder(registry: str | Path, kind: str) -> Path:
    """A fresh temporary folder in the registry (same filesystem, so publishing is a rename)."""
    parent = Path(registry) / kind
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".staging-", dir=parent))


def publish_candidate(staging: Path, registry: str | Path, card: ModelCard) -> Path:
    """Write the card into ``staging`` and rename it to ``<registry>/<kind>/<version>``.
    Refuses to replace anything: a version folder is written once."""
    target = Path(registry) / card.kind / card.version
    if target.exists():
        raise FileExistsError(f"{target} exists: a model version is never overwritten")
    card.write(staging)
    staging.rename(target)
    return target


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def data_hash(photos: Iterable[LabelledPhoto]) -> str:
    """A content hash of labelled data: every photo's bytes, split and boxes, in name order.
    Two datasets with the same hash taught a model the same thing."""
    digest = hashlib.sha256()
    for photo in sorted(photos, key=lambda p: (p.split, p.name)):
        record = {
            "split": photo.split,
            "image": hashlib.sha256(Path(photo.path).read_bytes()).hexdigest(),
            "objects": [[[round(v, 2) for v in o.box], o.object_type, o.condition] for o in photo.objects],
        }
        digest.update(json.dumps(record, sort_keys=True).encode())
    return "sha256:" + digest.hexdigest()


def discard_half_written(data_dir: str | Path) -> None:
    """Remove every staging folder of the data directory's registry: what a job that died left
    half-written (a finished candidate is renamed out of staging, so none is lost)."""
    for staging in registry_root(data_dir).glob("*/.staging-*"):
        shutil.rmtree(staging, ignore_errors=True)
