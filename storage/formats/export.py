"""Export reviewed labels: YOLO (4 object types or the 9 classes), COCO JSON, Hugging Face dataset.

Only reviewed labels (accepted, corrected, added) are exported, of the photos with no label left
pending (a person finished them: see ``reviewed_images``), and the photos a person left with
nothing on them (every label deleted, or imported with an empty label file): a detector learns
from those what is not an object. An image keeps the split it was
imported with; other images get one from their content hash, so splits are stable across
exports. Output folders are written beside the target and renamed into place.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from pathlib import Path

import yaml
from PIL import ImageOps
from sqlalchemy import and_, func, or_, select

from core.images import EXIF_ORIENTATION, NO_LIMIT, ImageLoadError, open_image
from core.statuses import REVIEWED, LabelStatus
from core.taxonomy import CLASS_NAMES, OBJECT_TYPES, class_name
from core.types import LabelledBox, LabelledPhoto
from storage import models as m
from storage.blobs import blobs_for
from storage.db import Database
from storage.images import survey_members
from storage.labels import IMPORT_AUTHOR

FORMATS = ("yolo", "yolo9", "coco", "hf")
VAL_FRACTION = 0.15


def stable_split(sha256: str) -> str:
    return "val" if int(sha256[:8], 16) / 0xFFFFFFFF < VAL_FRACTION else "train"


def reviewed_images(
    db: Database, data_dir: str | Path, survey: str | None = None, *, whole_photos: bool
) -> list[LabelledPhoto]:
    """Every image (of ``survey``, if named) with at least one reviewed label, and its reviewed
    labels, in id order. Each photo's name is unique: its sha256 prefix and original suffix (the
    export's file name).

    ``whole_photos``: only photos with no label still pending. Boxes are ground truth for a whole
    photo (an object left out is background to a detector, and a detection of it a false
    positive), so box data takes only photos a person finished; a condition is judged per object,
    so condition crops may come from a photo half reviewed."""
    query = (
        select(m.Image, m.Label)
        .join(m.Label, m.Label.image_id == m.Image.id)
        .where(m.Label.status.in_(REVIEWED))
        .order_by(m.Image.id, m.Label.id)
    )
    if whole_photos:
        query = query.where(m.Image.id.not_in(_in_review()))
    if survey is not None:
        query = query.where(m.Image.id.in_(survey_members(survey)))
    with db.read() as session:
        rows = session.execute(query).all()
        empty = session.scalars(_emptied(survey)).all() if whole_photos else []
    images: dict[int, tuple[m.Image, list[LabelledBox]]] = {}
    for image, label in rows:
        objects = images.setdefault(image.id, (image, []))[1]
        # Labels stored before boxes were checked against their photo may reach past its edge:
        # clipped to it here; one left empty by that is dropped rather than failing the export.
        box = (min(max(label.x1, 0), image.width), min(max(label.y1, 0), image.height))
        box += (min(max(label.x2, 0), image.width), min(max(label.y2, 0), image.height))
        try:
            objects.append(LabelledBox(box, label.object_type, label.condition))
        except ValueError:
            continue
    kept = [(image, objects) for image, objects in images.values() if objects]
    return [
        LabelledPhoto(
            name=f"{image.sha256[:16]}{Path(image.path).suffix}",
            path=blobs_for(data_dir).path(image.path),
            split=image.split or stable_split(image.sha256),
            width=image.width,
            height=image.height,
            objects=tuple(objects),
        )
        for image, objects in sorted(kept + [(image, []) for image in empty], key=lambda pair: pair[0].id)
    ]


def _emptied(survey: str | None):
    """The photos a person left with no object: every label deleted, or imported with none (an
    empty label file). A photo the model found nothing on and nobody opened is not among them."""
    live = select(m.Label.image_id).where(m.Label.status != LabelStatus.DELETED)
    deleted = select(m.Label.image_id).where(m.Label.status == LabelStatus.DELETED)
    query = select(m.Image).where(
        m.Image.id.not_in(live),
        or_(m.Image.id.in_(deleted), and_(m.Image.uploaded_by == IMPORT_AUTHOR, m.Image.id.not_in(deleted))),
    )
    if survey is not None:
        query = query.where(m.Image.id.in_(survey_members(survey)))
    return query


def _in_review():
    """The ids of the photos with a label no person has looked at yet."""
    return select(m.Label.image_id).where(m.Label.status == LabelStatus.PENDING)


def photos_in_review(db: Database, survey: str | None = None) -> int:
    """Photos (of ``survey``, if named) with a reviewed label and a pending one: left out of box
    exports until a person finishes them."""
    query = select(func.count(func.distinct(m.Label.image_id))).where(
        m.Label.status.in_(REVIEWED), m.Label.image_id.in_(_in_review())
    )
    if survey is not None:
        query = query.where(m.Label.image_id.in_(survey_members(survey)))
    with db.read() as session:
        return session.scalar(query)


def export(db: Database, data_dir: str | Path, fmt: str, out: str | Path, survey: str | None = None) -> dict:
    """Write the export (of ``survey``'s finished photos, if named) to ``out`` (replaced if
    present); returns counts."""
    return write_export(reviewed_images(db, data_dir, survey, whole_photos=True), fmt, out)


MARKER = ".slope-export"  # in every export folder: only such a folder (or an empty one) is replaced


def write_export(images: list[LabelledPhoto], fmt: str, out: str | Path) -> dict:
    """Write photos already read (``reviewed_images``) as an export to ``out``; returns counts.
    ``out`` is replaced only if it is an earlier export or empty: any other folder (a data folder,
    the store's own) is refused, never deleted. A photo whose stored file is gone is left out
    and counted; the rest are exported."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out)
    if out.exists() and not (out.is_dir() and ((out / MARKER).is_file() or not any(out.iterdir()))):
        raise ValueError(f"{out.name} exists and is not an earlier export: choose a new folder for the export")
    present = [image for image in images if Path(image.path).is_file()]
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        counts = {"yolo": _yolo, "yolo9": _yolo9, "coco": _coco, "hf": _hf}[fmt](present, staging)
        (staging / MARKER).write_text("written by slope export; the next export to this folder replaces it\n")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return {**counts, "left_out_file_missing": len(images) - len(present)}


def _upright_bytes(path: Path) -> bytes:
    """The photo's file, or, for one stored sideways (EXIF orientation 2-8), its pixels turned
    upright with no orientation tag: boxes are kept in the upright frame (as the app shows the
    photo), and a reader of the raw pixels (COCO tools, torchvision) would put them on the
    wrong spot of the file as stored."""
    data = Path(path).read_bytes()
    try:
        image = open_image(data, max_pixels=NO_LIMIT, max_bytes=NO_LIMIT)  # stored: it passed the limits once
    except ImageLoadError:
        return data  # not for this export to judge: written as stored
    with image:
        if image.getexif().get(EXIF_ORIENTATION, 1) == 1:
            return data
        upright, kind = ImageOps.exif_transpose(image), image.format
    out = io.BytesIO()
    upright.save(out, format=kind, **({"quality": 95} if kind == "JPEG" else {}))
    return out.getvalue()


def _copy_upright(path: Path, target: Path) -> None:
    target.write_bytes(_upright_bytes(path))


def _yolo_rows(image: LabelledPhoto, class_of) -> tuple[list[str], int]:
    lines, left_out = [], 0
    for o in image.objects:
        cls = class_of(o)
        if cls is None:
            left_out += 1
            continue
        x1, y1, x2, y2 = o.box
        cx, cy = (x1 + x2) / 2 / image.width, (y1 + y2) / 2 / image.height
        w, h = (x2 - x1) / image.width, (y2 - y1) / image.height
        lines.append(f"{cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return lines, left_out


def _write_yolo(images: list[LabelledPhoto], out: Path, names: tuple[str, ...], class_of) -> dict:
    counts = {"images": 0, "objects": 0, "left_out_no_condition": 0}
    for image in images:
        lines, left_out = _yolo_rows(image, class_of)
        (out / image.split / "images").mkdir(parents=True, exist_ok=True)
        (out / image.split / "labels").mkdir(parents=True, exist_ok=True)
        _copy_upright(image.path, out / image.split / "images" / image.name)
        (out / image.split / "labels" / f"{Path(image.name).stem}.txt").write_text(
            "\n".join(lines) + "\n" * bool(lines)
        )
        counts["images"] += 1
        counts["objects"] += len(lines)
        counts["left_out_no_condition"] += left_out
    splits = sorted({i.split for i in images}) or ["train"]
    # No "path": ultralytics reads a relative one against its working directory, not this file's
    # folder (a run from elsewhere refused the export, or trained on another folder's photos).
    spec = {
        **{s: f"{s}/images" for s in splits},
        "nc": len(names),
        "names": dict(enumerate(names)),
    }
    (out / "data.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return counts


def _yolo(images: list[LabelledPhoto], out: Path) -> dict:
    return _write_yolo(images, out, OBJECT_TYPES, lambda o: OBJECT_TYPES.index(o.object_type))


def _yolo9(images: list[LabelledPhoto], out: Path) -> dict:
    # An object whose condition nobody has reviewed cannot be put in a 9-class file, and its photo
    # without it would teach that the object is background: such photos are left out, counted.
    judged = [image for image in images if all(o.condition is not None for o in image.objects)]
    counts = _write_yolo(judged, out, CLASS_NAMES, lambda o: CLASS_NAMES.index(class_name(o.object_type, o.condition)))
    unjudged = sum(o.condition is None for image in images for o in image.objects)
    return {**counts, "left_out_no_condition": unjudged, "photos_left_out_no_condition": len(images) - len(judged)}


def _coco(images: list[LabelledPhoto], out: Path) -> dict:
    counts = {}
    for split in sorted({i.split for i in images}):
        chosen = [i for i in images if i.split == split]
        (out / split).mkdir(parents=True, exist_ok=True)
        document = {
            "info": {"description": "reviewed slope-inspection labels"},
            "categories": [{"id": k + 1, "name": t, "supercategory": "slope"} for k, t in enumerate(OBJECT_TYPES)],
            "images": [],
            "annotations": [],
        }
        for image_id, image in enumerate(chosen, 1):
            _copy_upright(image.path, out / split / image.name)
            document["images"].append(
                {"id": image_id, "file_name": image.name, "width": image.width, "height": image.height}
            )
            for o in image.objects:
                x1, y1, x2, y2 = o.box
                document["annotations"].append(
                    {
                        "id": len(document["annotations"]) + 1,
                        "image_id": image_id,
                        "category_id": OBJECT_TYPES.index(o.object_type) + 1,
                        "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                        "area": round((x2 - x1) * (y2 - y1), 2),
                        "iscrowd": 0,
                        "attributes": {"condition": o.condition},
                    }
                )
        (out / split / "_annotations.coco.json").write_text(json.dumps(document, indent=1))
        counts[split] = {"images": len(chosen), "objects": len(document["annotations"])}
    return counts


def _hf(images: list[LabelledPhoto], out: Path) -> dict:
    import datasets

    features = datasets.Features(
        {
            "image": datasets.Image(),
            "image_id": datasets.Value("string"),
            "width": datasets.Value("int32"),
            "height": datasets.Value("int32"),
            "objects": datasets.Sequence(
                {
                    # [x, y, width, height] in pixels from the top-left, as the COCO export and the
                    # Hugging Face object-detection guides have them
                    "bbox": datasets.Sequence(datasets.Value("float32"), length=4),
                    "area": datasets.Value("float32"),
                    "object_type": datasets.ClassLabel(names=list(OBJECT_TYPES)),
                    "condition": datasets.Value("string"),
                }
            ),
        }
    )
    splits = {}
    for split in sorted({i.split for i in images}):
        chosen = [i for i in images if i.split == split]
        splits[split] = datasets.Dataset.from_dict(
            {
                "image": [{"bytes": _upright_bytes(i.path), "path": i.name} for i in chosen],
                "image_id": [Path(i.name).stem for i in chosen],
                "width": [i.width for i in chosen],
                "height": [i.height for i in chosen],
                "objects": [
                    {
                        "bbox": [[x1, y1, x2 - x1, y2 - y1] for x1, y1, x2, y2 in (o.box for o in i.objects)],
                        "area": [(o.box[2] - o.box[0]) * (o.box[3] - o.box[1]) for o in i.objects],
                        "object_type": [OBJECT_TYPES.index(o.object_type) for o in i.objects],
                        "condition": [o.condition for o in i.objects],
                    }
                    for i in chosen
                ],
            },
            features=features,
        )
    datasets.DatasetDict(splits).save_to_disk(str(out))
    return {split: {"images": len(d)} for split, d in splits.items()}
