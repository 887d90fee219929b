"""Labelled data as one simple shape, from a YOLO folder or from the reviewed labels in the store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from core.images import IMAGE_SUFFIXES
from core.settings import PROJECT_ROOT
from core.types import LabelledBox, LabelledPhoto
from core.yolo_labels import parse_label_file, read_class_map

if TYPE_CHECKING:
    from core.settings import Settings
    from storage.db import Database

# The real photos the default models learn from (object types only, no conditions).
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "slopes"
DATA_CREDIT = (
    "Slope-infrastructure detection images, Roboflow Universe workspace 'conditional-classes', "
    "project 'my-first-project-q51lx' "
    "(https://universe.roboflow.com/conditional-classes/my-first-project-q51lx), CC BY 4.0"
)


ORIENTATION = 0x0112  # the EXIF tag; values 5 to 8 turn the photo a quarter, so it is upright sideways
TURNED = (5, 6, 7, 8)


def from_yolo_folder(folder: str | Path, split: str | None = None) -> list[LabelledPhoto]:
    """Photos of one split (or all) of a YOLO folder, with 4- or 9-class names mapped."""
    folder = Path(folder)
    classes = read_class_map(folder)
    photos = []
    splits = [split] if split else sorted(p.name for p in folder.iterdir() if (p / "images").is_dir())
    for name in splits:
        images = folder / name / "images"
        if not images.is_dir():
            raise FileNotFoundError(f"{folder} has no split {name!r}")
        for path in sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            with Image.open(path) as image:  # header only: size without decoding
                width, height = image.size
                if image.getexif().get(ORIENTATION) in TURNED:  # labels, models and crops see it upright
                    width, height = height, width
            label = folder / name / "labels" / f"{path.stem}.txt"
            rows = parse_label_file(label.read_text(encoding="utf-8-sig"), classes) if label.is_file() else []
            scale = np.array([width, height, width, height], dtype=np.float64)
            objects = tuple(
                LabelledBox(tuple((box * scale).tolist()), *classes[cls])
                for cls, box in rows
                if (box[2] - box[0]) * width >= 1 and (box[3] - box[1]) * height >= 1
            )
            photos.append(LabelledPhoto(path.name, path, name, width, height, objects))
    return photos


def from_database(
    db: Database, data_dir: str | Path, split: str | None = None, *, whole_photos: bool = False
) -> list[LabelledPhoto]:
    """The reviewed labels in the store (accepted, corrected, added), with their splits: of every
    photo, for condition crops, or (``whole_photos``) only of those with no label left pending,
    for anything that scores boxes."""
    from storage.formats.export import reviewed_images

    photos = reviewed_images(db, data_dir, whole_photos=whole_photos)
    return [photo for photo in photos if split is None or photo.split == split]


def load(data: str, split: str | None, settings: Settings | None = None) -> tuple[list[LabelledPhoto], str]:
    """``data`` is a YOLO folder or ``db`` (the configured store). Returns photos and provenance."""
    if data == "db":
        from core.settings import Settings
        from storage.db import Database

        settings = settings or Settings.from_env()
        db = Database.from_settings(settings)
        photos = from_database(db, settings.data_dir, split, whole_photos=True)  # detection is scored too
        return photos, "reviewed photos in the store (real, human-reviewed)"
    return from_yolo_folder(data, split), f"imported YOLO folder {data} (real photos, human boxes)"
