"""The typed card every model folder carries (``card.json``): what the model is, what it learned
from, how it was trained, and how good it is on what data.

Serving reads what it must match from the card (the condition model's ``crop_margin``, the
detector's ``image_size``), so training and serving cannot drift apart. A bare weights file or
a hub id has no card: ``read_card`` returns None and callers use their defaults.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CARD_FILE = "card.json"
MODEL_KINDS = ("detector", "condition")


@dataclass(frozen=True)
class ModelCard:
    kind: str  # one of MODEL_KINDS
    version: str  # unique per kind: the name stored inspections and the registry cite
    architecture: str = ""
    parent: str | None = None  # the version it was trained from, if any
    created: str = ""  # ISO 8601, UTC
    data: str = ""  # what it learned from (folder, split, store)
    data_hash: str | None = None  # content hash of that data (see training.artifacts.data_hash)
    data_provenance: str = ""  # real or synthesized, who labelled it
    data_credit: str = ""  # source and licence of the data
    crop_margin: float | None = None  # condition models: context margin around each crop
    image_size: int | None = None  # detectors: input size in pixels
    train_settings: dict[str, str] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)  # e.g. epochs_run, steps, train_seconds
    history: list[dict[str, Any]] = field(default_factory=list)  # per epoch or step: {"epoch"|"step": n, ...}
    metrics: dict[str, Any] = field(default_factory=dict)  # headline figures and per class
    metrics_data: str = ""  # what the metrics were measured on: never leave it to be guessed

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"model kind must be one of {MODEL_KINDS}, got {self.kind!r}")
        if not self.version:
            raise ValueError("a model card needs a version")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelCard:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown model card fields: {', '.join(unknown)}")
        return cls(**values)

    def write(self, folder: str | Path) -> Path:
        path = Path(folder) / CARD_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    def replace(self, **changes: Any) -> ModelCard:
        return dataclasses.replace(self, **changes)


def card_folder(source: str | Path) -> Path:
    """The folder a card would be in: the source itself, or a weights file's folder."""
    path = Path(source)
    return path if path.is_dir() else path.parent


def read_card(source: str | Path) -> ModelCard | None:
    """The card of a model folder (or of the folder holding a weights file); None for a bare
    file without one or a hub id."""
    path = card_folder(source) / CARD_FILE
    if not path.is_file():
        return None
    return ModelCard.from_dict(json.loads(path.read_text()))


def model_version(source: str | Path) -> str:
    """The version a model's card gives, else a name for it (folder or file name, or hub id)."""
    card = read_card(source)
    if card is not None:
        return card.version
    path = Path(source)
    return path.name if path.exists() else str(source)
