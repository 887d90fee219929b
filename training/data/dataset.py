"""Labelled data as one simple shape, from a YOLO folder or from the reviewed labels in the store."""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from core.images import EXIF_ORIENTATION, IMAGE_SUFFIXES, NO_LIMIT, ImageLoadError, open_image
from core.settings import PROJECT_ROOT
from core.types import LabelledBox, LabelledPhoto
from core.yolo_labels import read_class_map, read_label_file, split_name

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


LOG = logging.getLogger(__name__)
TURNED = (5, 6, 7, 8)  # EXIF orientations that turn the photo a quarter: it is stored sideways


@dataclass(frozen=True)
class FolderPhotos:
    """What a YOLO folder gave: its photos, and the ones left out with the reason why."""

    photos: list[LabelledPhoto]
    left_out: list[tuple[str, str]]  # (the file at fault, named in the folder; why)

    def note(self, shown: int = 5) -> str:
        """'' when nothing was left out, else a sentence for a person: how many and which."""
        if not self.left_out:
            return ""
        named = "; ".join(f"{name}: {why}" for name, why in self.left_out[:shown])
        more = f"; and {len(self.left_out) - shown} more" if len(self.left_out) > shown else ""
        total = len(self.photos) + len(self.left_out)
        return f"{len(self.left_out)} of {total} photos left out ({named}{more})"


def read_yolo_folder(folder: str | Path, split: str | None = None, stored: bool = False) -> FolderPhotos:
    """Photos of one split (or all) of a YOLO folder, with 4- or 9-class names mapped. A photo
    that cannot be read, or whose label file cannot be trusted (``read_label_file``: a bad line
    leaves the whole photo out, as its other objects would be taught as background), is left out
    and listed; ``ValueError`` when that leaves none of the photos. ``stored``: an export of the
    store, whose photos passed the configured limits once (``load_stored_image``), read under none."""
    folder = Path(folder)
    classes = read_class_map(folder)
    photos, left_out = [], []
    folders = sorted(p.name for p in folder.iterdir() if (p / "images").is_dir())
    chosen = [f for f in folders if split is None or split_name(f) == split]
    if split is not None and not chosen:
        raise FileNotFoundError(f"{folder} has no {split} split")
    for directory in chosen:
        name, images = split_name(directory), folder / directory / "images"
        for path in sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            shown, label = str(path.relative_to(folder)), folder / directory / "labels" / f"{path.stem}.txt"
            try:
                width, height = _upright_size(path, shown, stored)
            except ImageLoadError as exc:
                left_out.append((shown, str(exc).removeprefix(f"{shown}: ")))
                continue
            try:
                rows = read_label_file(label, classes)
            except ValueError as exc:
                left_out.append((str(label.relative_to(folder)), str(exc)))
                continue
            except OSError as exc:  # its text would name the file's place on this machine
                why = f"the label file could not be read ({exc.strerror or type(exc).__name__})"
                left_out.append((str(label.relative_to(folder)), why))
                continue
            scale = np.array([width, height, width, height], dtype=np.float64)
            objects = tuple(
                LabelledBox(tuple((box * scale).tolist()), *classes[cls])
                for cls, box in rows
                if (box[2] - box[0]) * width >= 1 and (box[3] - box[1]) * height >= 1
            )
            photos.append(LabelledPhoto(path.name, path, name, width, height, objects))
    read = FolderPhotos(photos, left_out)
    if left_out and not photos:
        raise ValueError(f"none of the photos of {folder.name} could be read: {read.note()}")
    return read


def from_yolo_folder(folder: str | Path, split: str | None = None, stored: bool = False) -> list[LabelledPhoto]:
    """``read_yolo_folder``'s photos; the ones left out are logged as a warning, each file named."""
    return _warn_left_out(folder, read_yolo_folder(folder, split, stored)).photos


def _warn_left_out(folder: str | Path, read: FolderPhotos) -> FolderPhotos:
    # A warning, not an error: a folder of thousands of photos should not fail for one bad file;
    # nor silence: the person who made the folder needs to know which files to fix.
    if read.left_out:
        every = "".join(f"\n  {name}: {why}" for name, why in read.left_out)
        total = len(read.photos) + len(read.left_out)
        LOG.warning("%s: %d of %d photos left out:%s", Path(folder).name, len(read.left_out), total, every)
    return read


def _upright_size(path: Path, name: str, stored: bool) -> tuple[int, int]:
    """(width, height) as labels, models and crops see the photo, its pixels decoded once to
    check them. ``ImageLoadError`` for what ``load_image`` would refuse, so a photo kept here does
    not stop a run later."""
    try:
        unlimited = {"max_pixels": NO_LIMIT, "max_bytes": NO_LIMIT} if stored else {}
        with open_image(path, name=name, **unlimited) as image:
            width, height = image.size
            turned = image.getexif().get(EXIF_ORIENTATION) in TURNED
            _decode(image, name)
    except ImageLoadError:
        raise
    except (OSError, SyntaxError, ValueError, struct.error):  # the EXIF block: cut short or corrupt
        raise ImageLoadError(f"{name}: the image data is truncated or corrupt") from None
    return (height, width) if turned else (width, height)  # labels, models and crops see it upright


def _decode(image: Image.Image, name: str) -> None:
    """The pixels decoded, or ``ImageLoadError`` as ``load_image`` says it. A photo cut short
    reads its header whole: only decoding finds it, and a run that decoded it first (evaluate,
    the gate, the condition crops) failed whole for that one photo. A JPEG is decoded at 1/8 of
    its size (``draft``): the decoder still reads every byte of its data, so a cut one fails
    alike, at less than half the cost (45 MP: 0.15 s and 3 MB against 0.33 s and 170 MB; 350
    photos of 0.1 MP: 0.1 s in all). A PNG was decoded already, by ``getexif``."""
    image.draft(image.mode, (image.width // 8, image.height // 8))  # other formats: no-op, decoded whole
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, struct.error) as exc:
        raise ImageLoadError(f"{name}: the image data is truncated or corrupt ({exc})") from None


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
    read = _warn_left_out(data, read_yolo_folder(data, split))
    note = f"; {read.note()}" if read.left_out else ""  # in the report too: its figures leave those out
    return read.photos, f"imported YOLO folder {data} (real photos, human boxes){note}"
