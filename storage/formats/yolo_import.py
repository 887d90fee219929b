"""Import an ultralytics / Roboflow YOLO export folder as images + reviewed labels.

The folder has ``data.yaml`` (class names: the 4 object types or the 9 conditional names, any of
the spellings ``core.taxonomy`` knows) and split folders with ``images/`` and ``labels/``. Label
rows may be boxes (``cls cx cy w h``) or polygons (``cls x1 y1 x2 y2 ...``), mixed in one file.

Each image is imported in its own transaction (file, image row and labels together), so a run
killed half-way leaves only whole images behind, and running the import again completes it.

An image whose bytes the store already holds keeps its labels: each object of the folder is
matched one-to-one to an existing label of the same object type by box overlap (boxes of the
same object drawn by different people differ, so equality is not required; see
``MATCH_MIN_IOU`` and ``WEAK_MATCH_MIN_IOU``). A matched object gives its condition to the
label (unless a person set a different one: a conflict, listed in the report); a model's pending
label, which no person saw, takes the object's box as well, since only the folder's box was
drawn by a person. An object with no counterpart is added. Importing the same folder twice
therefore changes nothing the second time.

A photo that cannot be read, or whose label file cannot be trusted (see ``read_label_file``), is
skipped whole and listed in the report with the reason; the other photos are imported.

Provenance: the store has no column for where a condition came from. A label whose condition
was set by an import carries author ``import`` (``IMPORT_AUTHOR``), and its history holds a
``LabelEvent`` with action ``import-condition`` (before and after), or action ``import`` for a
label the import created; its actor is the account that ran the import (``by``; ``import`` when
none was named), so the history says who vouched for the folder.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import supervision as sv
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.images import DEFAULT_MAX_BYTES, IMAGE_SUFFIXES, ImageLoadError, load_image, read_image_bytes
from core.statuses import LabelStatus
from core.types import Box, LabelledBox
from core.yolo_labels import read_class_map, read_label_file, split_name
from storage import models as m
from storage.db import Database
from storage.images import add_image
from storage.labels import IMPORT, IMPORT_AUTHOR, IMPORT_CONDITION, new_label, write_versioned

# Authors that are not a person: a condition they set gives way to an imported (human) one.
MACHINE_AUTHORS = (IMPORT_AUTHOR, "model")
# Boxes of one object drawn separately overlap at a median IoU of 0.84 on the real 9-class vs
# 4-class data; 0.5 keeps those together while two neighbouring objects of one type rarely reach it.
MATCH_MIN_IOU = 0.5
# Yet 6% of those objects overlap their other box at only 0.30-0.50 (slender drains, loosely
# drawn vegetation). Such a pair still matches when neither box overlaps anything else of its type
# that much; adding it instead would put the object on the photo twice.
WEAK_MATCH_MIN_IOU = 0.25


@dataclass(frozen=True)
class ImportConflict:
    """An imported object that disagrees with an existing label, which was left as it is."""

    file: str
    box: Box  # the imported box, image pixels
    label_id: int
    author: str  # who last set the existing label
    existing: tuple[str, str | None]  # (object_type, condition) in the store
    imported: tuple[str, str | None]  # (object_type, condition) in the folder
    reason: str

    def describe(self) -> str:
        def pair(value: tuple[str, str | None]) -> str:
            return f"{value[0]}/{value[1] or 'unknown'}"

        box = [round(v, 1) for v in self.box]
        return (
            f"  conflict {self.file} box {box}: label {self.label_id} is {pair(self.existing)} "
            f"(by {self.author}), the folder says {pair(self.imported)}: {self.reason}; left as it is"
        )


@dataclass
class ImportReport:
    images_added: int = 0
    images_already_present: int = 0
    labels_added: int = 0  # all new labels, on new images and on images already stored
    added_unmatched: int = 0  # of labels_added: objects with no counterpart on an image that had labels
    conditions_set: int = 0  # existing labels that got (or had confirmed) the imported condition
    pending_reviewed: int = 0  # of those matched: a model's pending labels, now the folder's box and condition
    unchanged: int = 0  # matched labels that already had everything the folder says
    left_deleted: int = 0  # objects matching a label a person deleted: not brought back
    conflicts: list[ImportConflict] = field(default_factory=list)
    match_ious: list[float] = field(default_factory=list)  # IoU of every same-type match
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (file, the copy imported in this run)
    per_split: dict[str, int] = field(default_factory=dict)

    @property
    def matched(self) -> int:
        return len(self.match_ious)

    @property
    def changed_nothing(self) -> bool:
        return not (self.images_added or self.labels_added or self.conditions_set or self.pending_reviewed)

    def summary(self) -> str:
        median = ""
        if self.match_ious:
            weak = sum(iou < MATCH_MIN_IOU for iou in self.match_ious)
            median = f" (median IoU {statistics.median(self.match_ious):.2f}, {weak} under {MATCH_MIN_IOU})"
        lines = [
            f"images added: {self.images_added}, already present: {self.images_already_present}, "
            f"labels added: {self.labels_added}, skipped files: {len(self.skipped)}",
            f"matched to existing labels: {self.matched}{median}; conditions set: {self.conditions_set}, "
            f"model labels replaced by the folder's: {self.pending_reviewed}, "
            f"unchanged: {self.unchanged}, conflicts: {len(self.conflicts)}, "
            f"added as unmatched: {self.added_unmatched}, left deleted: {self.left_deleted}",
            "per split: " + ", ".join(f"{k} {v}" for k, v in sorted(self.per_split.items())),
        ]
        lines += [f"  skipped {name}: {reason}" for name, reason in self.skipped]
        lines += [
            f"  same bytes as {first}: {name} (its labels were not added twice)" for name, first in self.duplicates
        ]
        lines += [conflict.describe() for conflict in self.conflicts]
        if self.changed_nothing and self.images_already_present:
            lines.append("already imported: nothing changed")
        return "\n".join(lines)


def import_yolo_folder(
    db: Database, data_dir: str | Path, folder: str | Path, survey: str | None = None, by: str = IMPORT_AUTHOR
) -> ImportReport:
    """Import every image of a YOLO folder with its objects, ``by`` an account (the history's
    actor); see the module docstring for how objects merge into labels already stored."""
    folder = Path(folder)
    if not (folder / "data.yaml").is_file():
        raise FileNotFoundError(f"{folder} has no data.yaml: not a YOLO export folder")
    classes = read_class_map(folder)
    report = ImportReport()
    seen: dict[int, str] = {}  # image id -> the file of this folder whose labels it got
    for split_dir in sorted(p for p in folder.iterdir() if (p / "images").is_dir()):
        split = split_name(split_dir.name)
        for image_path in sorted((split_dir / "images").iterdir()):
            if image_path.name.startswith(".") or image_path.suffix.lower() not in IMAGE_SUFFIXES:
                if image_path.is_file() and not image_path.name.startswith("."):
                    report.skipped.append((str(image_path.relative_to(folder)), "not an image file name"))
                continue
            _import_one(db, data_dir, folder, split, image_path, classes, survey, report, seen, by)
        report.skipped += _labels_without_image(folder, split_dir)
    return report


def _labels_without_image(folder: Path, split_dir: Path) -> list[tuple[str, str]]:
    """Label files no image of the split is named for: their objects went nowhere."""
    stems = {p.stem for p in (split_dir / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    labels = split_dir / "labels"
    orphans = sorted(p for p in labels.glob("*.txt") if p.stem not in stems) if labels.is_dir() else []
    return [(str(p.relative_to(folder)), "a label file without its image: not imported") for p in orphans]


def _import_one(
    db: Database,
    data_dir: str | Path,
    folder: Path,
    split: str,
    image_path: Path,
    classes: dict[int, tuple[str, str | None]],
    survey: str | None,
    report: ImportReport,
    seen: dict[int, str],
    by: str,
) -> None:
    name = str(image_path.relative_to(folder))
    label_path = image_path.parent.parent / "labels" / f"{image_path.stem}.txt"
    try:
        data = read_image_bytes(image_path, name, DEFAULT_MAX_BYTES)  # its size is checked before it is read
        image = load_image(data, name=name)
        rows = read_label_file(label_path, classes)
    except OSError as exc:  # its text would name the file's place on this machine
        report.skipped.append((name, f"the file could not be read ({exc.strerror or type(exc).__name__})"))
        return
    except (ImageLoadError, ValueError) as exc:
        report.skipped.append((name, str(exc).removeprefix(f"{name}: ")))
        return
    scale = np.array([image.width, image.height, image.width, image.height], dtype=np.float64)
    objects = []
    for cls, box in rows:
        x1, y1, x2, y2 = (box * scale).tolist()
        if x2 - x1 < 1 or y2 - y1 < 1:
            report.skipped.append((f"{label_path.name}", f"a box under 1 px was left out: {box.round(4).tolist()}"))
            continue
        objects.append(LabelledBox((x1, y1, x2, y2), *classes[cls]))  # parse_label_file kept it in 0..1
    with db.write() as session:
        row, created = add_image(
            session, data_dir, data, image_path.name, image.size, IMPORT_AUTHOR, survey=survey, split=split
        )
        report.images_added += created
        report.images_already_present += not created
        if row.id in seen:
            # A byte-identical copy inside one folder carries the same objects again (possibly
            # redrawn): the first copy's labels stand, so they are not matched against themselves.
            report.duplicates.append((name, seen[row.id]))
            return
        seen[row.id] = name
        report.per_split[split] = report.per_split.get(split, 0) + 1
        existing = list(session.scalars(select(m.Label).where(m.Label.image_id == row.id).order_by(m.Label.id)))
        _merge(session, row.id, name, objects, existing, report, by)


def _merge(
    session: Session,
    image_id: int,
    name: str,
    objects: list[LabelledBox],
    existing: list[m.Label],
    report: ImportReport,
    by: str,
) -> None:
    live = [label for label in existing if label.status != LabelStatus.DELETED]
    deleted = [label for label in existing if label.status == LabelStatus.DELETED]
    left = list(range(len(objects)))

    # 1. Same object type: the object's condition goes to the label. Clear overlaps first, then
    #    the weaker ones that can only be one object.
    strong = _greedy(_overlaps(objects, left, live, same_type=True), MATCH_MIN_IOU)
    left, free = _unpaired(left, live, strong)
    weak = _unambiguous(_overlaps(objects, left, free, same_type=True), WEAK_MATCH_MIN_IOU)
    left, free = _unpaired(left, free, weak)
    for i, label, iou in strong + weak:
        report.match_ious.append(iou)
        _apply_object(session, name, objects[i], label, report, by)

    # 2. Another type on the same spot: adding it would put two labels on one object, and which
    #    type is right is for a person to decide.
    pairs = _greedy(_overlaps(objects, left, free, same_type=False), MATCH_MIN_IOU)
    for i, label, _ in pairs:
        report.conflicts.append(_conflict(name, objects[i], label, "object type differs"))
    left, _ = _unpaired(left, free, pairs)

    # 3. A person deleted this object: importing it again would undo their review.
    pairs = _greedy(_overlaps(objects, left, deleted, same_type=True), MATCH_MIN_IOU)
    report.left_deleted += len(pairs)
    left, _ = _unpaired(left, deleted, pairs)

    for i in left:
        new_label(
            session,
            image_id,
            objects[i],
            LabelStatus.ACCEPTED,
            author=IMPORT_AUTHOR,
            actor=by,
            action=IMPORT,
        )
        report.labels_added += 1
        report.added_unmatched += bool(existing)


@dataclass(frozen=True)
class _Overlaps:
    iou: np.ndarray  # rows: objects, columns: labels; 0 where the types do not qualify
    objects: list[int]  # object index per row
    labels: list[m.Label]  # label per column


_Pair = tuple[int, m.Label, float]  # (object index, label, IoU)


def _overlaps(objects: list[LabelledBox], rows: list[int], labels: list[m.Label], *, same_type: bool) -> _Overlaps:
    """IoU of the objects ``rows`` with ``labels``, kept only for equal object types
    (``same_type``) or only for different ones."""
    if not rows or not labels:
        return _Overlaps(np.zeros((len(rows), len(labels))), rows, labels)
    a = np.array([objects[i].box for i in rows], dtype=np.float64)
    b = np.array([[label.x1, label.y1, label.x2, label.y2] for label in labels], dtype=np.float64)
    iou = sv.box_iou_batch(a, b)
    types_equal = np.array([[objects[i].object_type == label.object_type for label in labels] for i in rows])
    iou[types_equal != same_type] = 0.0
    return _Overlaps(iou, rows, labels)


def _greedy(overlaps: _Overlaps, min_iou: float) -> list[_Pair]:
    """One-to-one pairs at IoU >= ``min_iou``, highest IoU first. Greedy, not optimal
    assignment: at IoU >= 0.5 a box can overlap that much with two others only if they overlap
    each other a lot, so the two agree on real photos."""
    iou = overlaps.iou
    pairs: list[_Pair] = []
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    for flat in np.argsort(-iou, axis=None, kind="stable"):
        r, c = (int(v) for v in np.unravel_index(flat, iou.shape))
        if iou[r, c] < min_iou:
            break
        if r in used_rows or c in used_cols:  # each object and each label is used once
            continue
        used_rows.add(r)
        used_cols.add(c)
        pairs.append((overlaps.objects[r], overlaps.labels[c], float(iou[r, c])))
    return pairs


def _unambiguous(overlaps: _Overlaps, min_iou: float) -> list[_Pair]:
    """Pairs at IoU >= ``min_iou`` where the object overlaps no other label that much and the
    label no other object: the one remaining drain on a photo, drawn twice, is the same drain
    even when the two boxes share only a third of their area."""
    close = overlaps.iou >= min_iou
    rows, cols = np.nonzero(close & (close.sum(axis=1, keepdims=True) == 1) & (close.sum(axis=0, keepdims=True) == 1))
    return [
        (overlaps.objects[r], overlaps.labels[c], float(overlaps.iou[r, c])) for r, c in zip(rows, cols, strict=True)
    ]


def _unpaired(objects: list[int], labels: list[m.Label], pairs: list[_Pair]) -> tuple[list[int], list[m.Label]]:
    """The objects and labels that ``pairs`` left without a partner."""
    paired_objects = {i for i, _, _ in pairs}
    paired_labels = {id(label) for _, label, _ in pairs}
    return [i for i in objects if i not in paired_objects], [x for x in labels if id(x) not in paired_labels]


def _apply_object(session: Session, name: str, obj: LabelledBox, label: m.Label, report: ImportReport, by: str) -> None:
    """Give a matched label what the folder says of its object. A pending label is a model's box
    no person saw: it takes the person's object whole, box and condition (none from a 4-class
    folder: nobody judged one), and is accepted if that is what the model said, else corrected.
    A reviewed label keeps its box (a person's too) and takes the object's condition, unless a
    person set a different one."""
    pending = label.status == LabelStatus.PENDING
    if pending:
        changes = {"box": obj.box, "condition": obj.condition}
        same = label.condition == obj.condition and np.allclose(
            [label.x1, label.y1, label.x2, label.y2], obj.box, atol=0.5
        )
        changes["status"] = LabelStatus.ACCEPTED if same else LabelStatus.CORRECTED
    elif obj.condition is None or label.condition == obj.condition:
        report.unchanged += 1  # nothing to add: a 4-class object, or the condition is already there
        return
    elif label.condition is not None and label.author not in MACHINE_AUTHORS:
        report.conflicts.append(_conflict(name, obj, label, "condition set by a person"))
        return
    else:  # an imported condition is a person's review; the label's status says what happened to its box
        changes = {"condition": obj.condition}
    # A reviewer's concurrent edit wins (the versioned update then writes nothing).
    if not write_versioned(session, label, label.version, changes, by, IMPORT_CONDITION, author=IMPORT_AUTHOR):
        report.conflicts.append(_conflict(name, obj, label, "changed by someone during the import"))
        return
    report.conditions_set += obj.condition is not None
    report.pending_reviewed += pending


def _conflict(name: str, obj: LabelledBox, label: m.Label, reason: str) -> ImportConflict:
    return ImportConflict(
        file=name,
        box=obj.box,
        label_id=label.id,
        author=label.author,
        existing=(label.object_type, label.condition),
        imported=(obj.object_type, obj.condition),
        reason=reason,
    )
