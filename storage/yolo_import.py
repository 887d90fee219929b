"""Import an ultralytics / Roboflow YOLO export folder as images + reviewed labels.

The folder has ``data.yaml`` (class names: the 4 object types or the 9 conditional names, any of
the spellings ``core.taxonomy`` knows) and split folders with ``images/`` and ``labels/``. Label
rows may be boxes (``cls cx cy w h``) or polygons (``cls x1 y1 x2 y2 ...``), mixed in one file.

Each image is imported in its own transaction (file, image row and labels together), so a run
killed half-way leaves only whole images behind, and running the import again completes it:
an image whose bytes are already stored with imported labels is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from core.images import IMAGE_SUFFIXES, ImageLoadError, load_image
from core.yolo_labels import parse_label_file, read_class_map
from storage import models as m
from storage.db import Database
from storage.repository import add_image, new_label

IMPORT_AUTHOR = "import"


@dataclass
class ImportReport:
    images_added: int = 0
    images_already_present: int = 0
    labels_added: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (file, the stored copy's name)
    per_split: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [
            f"images added: {self.images_added}, already present: {self.images_already_present}, "
            f"labels added: {self.labels_added}, skipped files: {len(self.skipped)}",
            "per split: " + ", ".join(f"{k} {v}" for k, v in sorted(self.per_split.items())),
        ]
        lines += [f"  skipped {name}: {reason}" for name, reason in self.skipped]
        lines += [
            f"  same bytes as {first}: {name} (its labels were not added twice)" for name, first in self.duplicates
        ]
        return "\n".join(lines)


def import_yolo_folder(
    db: Database, data_dir: str | Path, folder: str | Path, survey: str | None = None
) -> ImportReport:
    folder = Path(folder)
    if not (folder / "data.yaml").is_file():
        raise FileNotFoundError(f"{folder} has no data.yaml: not a YOLO export folder")
    classes = read_class_map(folder)
    report = ImportReport()
    for split_dir in sorted(p for p in folder.iterdir() if (p / "images").is_dir()):
        split = split_dir.name
        for image_path in sorted((split_dir / "images").iterdir()):
            if image_path.name.startswith(".") or image_path.suffix.lower() not in IMAGE_SUFFIXES:
                if image_path.is_file() and not image_path.name.startswith("."):
                    report.skipped.append((str(image_path.relative_to(folder)), "not an image file name"))
                continue
            _import_one(db, data_dir, folder, split, image_path, classes, survey, report)
    return report


def _import_one(db, data_dir, folder, split, image_path, classes, survey, report) -> None:
    name = str(image_path.relative_to(folder))
    label_path = image_path.parent.parent / "labels" / f"{image_path.stem}.txt"
    try:
        data = image_path.read_bytes()
        image = load_image(data, name=name)
        rows = parse_label_file(label_path.read_text(), len(classes)) if label_path.is_file() else []
    except (ImageLoadError, ValueError, OSError) as exc:
        report.skipped.append((name, str(exc).removeprefix(f"{name}: ")))
        return
    with db.write() as session:
        row, created = add_image(
            session, data_dir, data, image_path.name, image.size, IMPORT_AUTHOR, survey=survey, split=split
        )
        imported = session.scalar(
            select(func.count()).where(m.Label.image_id == row.id, m.Label.author == IMPORT_AUTHOR)
        )
        if imported or (not created and not rows):
            report.images_already_present += 1
            if row.original_name != image_path.name:
                report.duplicates.append((name, row.original_name))
            return
        report.images_added += created
        report.images_already_present += not created
        report.per_split[split] = report.per_split.get(split, 0) + 1
        scale = np.array([image.width, image.height, image.width, image.height], dtype=np.float64)
        for cls, box in rows:
            x1, y1, x2, y2 = (box * scale).tolist()
            if x2 - x1 < 1 or y2 - y1 < 1:
                report.skipped.append((f"{label_path.name}", f"a box under 1 px was left out: {box.round(4).tolist()}"))
                continue
            object_type, condition = classes[cls]
            new_label(
                session,
                row.id,
                (x1, y1, x2, y2),
                object_type,
                condition,
                "accepted",
                IMPORT_AUTHOR,
                IMPORT_AUTHOR,
                "import",
            )
            report.labels_added += 1
