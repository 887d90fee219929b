"""The typed card every model folder carries (``card.json``): what the model is, what it learned
from, how it was trained, and how good it is on what data.

Serving reads what it must match from the card (the condition model's ``crop_margin``, the
detector's ``image_size``), so training and serving cannot drift apart. A bare weights file or
a hub id has no card: ``read_card`` returns None and callers use their defaults.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CARD_FILE = "card.json"
README_FILE = "README.md"
MODEL_KINDS = ("detector", "condition")
_PURPOSE = {
    "detector": (
        "A YOLO object detector for slope-drainage inspection photos: it finds `rock_toe`, "
        "`slope_drain`, `toe_drain` and `vegetation` boxes. It does not judge condition; the "
        "condition model does that for each box."
    ),
    "condition": (
        "A Qwen2-VL condition model for slope-drainage inspection: given a photo, a detected "
        "object's box and its position text, it gives a probability for each condition allowed "
        "for the object type (`normal`, `blocked`, `damaged`)."
    ),
}
_USE = (
    "Intended use: a first pass over inspection photos in this app, with every finding "
    "reviewed by a person (the Review tab) before it is acted on. Not for unattended decisions "
    "on slope safety."
)


@dataclass(frozen=True)
class ModelCard:
    kind: str  # one of MODEL_KINDS
    version: str  # unique per kind: the name stored inspections and the registry cite
    architecture: str = ""
    parent: str | None = None  # the version it was trained from, if any
    created: str = ""  # ISO 8601, UTC
    data: str = ""  # what it learned from (folder, split, store)
    data_hash: str | None = None  # content hash of that data (see lifecycle.folders.data_hash)
    data_provenance: str = ""  # real or synthesized, who labelled it
    data_credit: str = ""  # source and licence of the data
    crop_margin: float | None = None  # condition models: context margin around each crop
    # Condition models: crops are cut as if the photo were squashed to a square of this side, as
    # its training photos were (core.conditions.squashed); None: as cut.
    photo_side: int | None = None
    image_size: int | None = None  # detectors: input size in pixels
    # Condition models: the answer logits are divided by this before the softmax (temperature
    # scaling, fitted on held-out objects: training/condition/calibrate.py); None: 1, as trained.
    temperature: float | None = None
    train_settings: dict[str, str] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)  # e.g. epochs_run, steps, train_seconds
    history: list[dict[str, Any]] = field(default_factory=list)  # per epoch or step: {"epoch"|"step": n, ...}
    metrics: dict[str, Any] = field(default_factory=dict)  # headline figures and per class
    metrics_data: str = ""  # what the metrics were measured on: never leave it to be guessed
    # Cross-validation of the recipe that built it (a Markdown table with what it measured): a
    # steadier measure than one held-out split when labelled photos are few.
    crossval: str = ""

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

    def readme(self, limitations: tuple[str, ...] = ()) -> str:
        """The folder's README.md, from the card alone: what the model is, intended use and
        limitations, data and credit, metrics with the data they were measured on, training
        recipe and history, parent. ``limitations`` adds what the card cannot know (e.g. a
        comparison made later on other data)."""
        # mAP figures are written "mAP&#64;0.5": a bare "@" is turned into a mailto link.
        lines = [f"# {self.kind.capitalize()} model `{self.version}`", "", _PURPOSE[self.kind], ""]
        lines += [f"- Architecture: {self.architecture or 'not recorded'}"]
        lines += [f"- Parent: `{self.parent}`" if self.parent else "- Parent: none (trained from the start)"]
        if self.created:
            lines.append(f"- Created: {self.created}")
        if self.image_size:
            lines.append(f"- Input size: {self.image_size} px")
        if self.crop_margin is not None:
            lines.append(f"- Crop margin around each box: {self.crop_margin}")
        if self.photo_side:
            side = self.photo_side
            lines.append(f"- Crops cut as if the photo were squashed to {side}x{side} px, as its training photos were")
        lines += ["", "## Intended use and limitations", "", _USE, ""]
        synthesized = "synthesized" in f"{self.data_provenance} {self.metrics_data}".lower()
        notes = list(limitations)
        if synthesized:
            notes.insert(
                0,
                "Part of its training or test data is *synthesized* (conditions painted onto real "
                "object crops): figures measured on synthesized data say little about real conditions.",
            )
        weak = {c: v["recall"] for c, v in (self.metrics.get("per_class") or {}).items() if v.get("recall", 1) < 0.5}
        if self.kind == "detector" and weak:
            notes.append(
                "Low recall on "
                + ", ".join(f"{c} ({r:.2f})" for c, r in weak.items())
                + ": many of these objects are missed; a photo with no finding is not proof of none."
            )
        notes += [] if notes else ["No known limitation recorded beyond the figures below."]
        lines += [f"- {n}" for n in notes]
        lines += ["", "## Data", ""]
        lines.append(f"- Trained on: {self.data or 'not recorded'}")
        if self.data_provenance:
            lines.append(f"- Provenance: {self.data_provenance}")
        if self.data_hash:
            lines.append(f"- Data hash: `{self.data_hash}`")
        lines.append(f"- Source and licence: {self.data_credit or 'not recorded'}")
        lines += ["", "## Metrics", ""]
        lines += self._metric_lines()
        if self.crossval:
            lines += ["", "## Cross-validation", "", self.crossval.strip()]
        lines += ["", "## Training", ""]
        recipe = self.training.get("recipe") or self.training.get("method")
        lines.append(f"- Recipe: {recipe or 'not recorded'}")
        lines += [
            f"- {k.replace('_', ' ')}: {v}"
            for k, v in self.training.items()
            if k not in ("recipe", "method") and isinstance(v, str | int | float)
        ]
        if self.history:
            lines.append(f"- History: {_history_summary(self.history)}")
        lines += ["", f"The full record is `{CARD_FILE}` in this folder; this file is written from it.", ""]
        return "\n".join(lines)

    def _metric_lines(self) -> list[str]:
        m = self.metrics
        if not m:
            return ["No metrics recorded."]
        measured = f"Measured on: {self.metrics_data or 'not recorded'}."
        if self.kind == "detector" and "map50" in m:
            lines = [f"mAP&#64;0.5 **{m['map50']:.3f}**, mAP&#64;0.5:0.95 **{m.get('map50_95', 0):.3f}**. {measured}"]
            per_class = m.get("per_class") or {}
            if per_class:
                lines += ["", "| class | precision | recall | mAP&#64;0.5 | mAP&#64;0.5:0.95 |", "|-|-|-|-|-|"]
                lines += [
                    f"| {c} | {v.get('precision', 0):.3f} | {v.get('recall', 0):.3f} | "
                    f"{v.get('map50', 0):.3f} | {v.get('map50_95', 0):.3f} |"
                    for c, v in per_class.items()
                ]
            return lines
        # Headline figures only: per-class tables, confusion matrices and byte counts stay in card.json.
        figures = {k: v for k, v in m.items() if isinstance(v, float) and not k.endswith("bytes")}
        headline = ", ".join(f"{k.replace('_', ' ')} **{v:.3f}**" for k, v in figures.items())
        examples = f" on {m['examples']} examples" if "examples" in m else ""
        return [f"{headline or 'No headline figures'}{examples}. {measured}"]

    def write_readme(self, folder: str | Path, limitations: tuple[str, ...] = ()) -> Path:
        """``README.md`` into ``folder`` (written where the trainers publish, beside card.json)."""
        path = Path(folder) / README_FILE
        path.write_text(self.readme(limitations))
        return path


def _history_summary(history: list[dict[str, Any]]) -> str:
    """'48 epochs; map50 0.270 -> 0.583 (best 0.590)': first, last and best of the main figure."""
    unit = "epoch" if "epoch" in history[0] else "step"
    last = history[-1].get(unit, len(history))
    keys = [k for k in ("map50", "held_out_accuracy", "val_accuracy", "loss") if any(k in h for h in history)]
    if not keys:
        return f"{len(history)} entries, last at {unit} {last}"
    key = keys[0]
    values = [h[key] for h in history if key in h]
    best = min(values) if key == "loss" else max(values)
    return f"{len(history)} records up to {unit} {last}; {key} {values[0]:.3f} -> {values[-1]:.3f} (best {best:.3f})"


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


# "imported YOLO folder ../shared/data/slopes" and "../shared/data/slopes" alike.
_DATA_FOLDER = re.compile(r"(?:(?:imported )?YOLO folder )?(?:\.\./)+shared/data/([\w-]+)")


def readable_data(text: str) -> str:
    """A card's words with the project's data folders (``../shared/data/slopes``, kept in the card
    for provenance) named as datasets ("the slopes dataset"): a page shows no server path."""
    return _DATA_FOLDER.sub(lambda found: f"the {found.group(1)} dataset", text)
