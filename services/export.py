"""Reviewed labels as a download: the store's export (``storage.formats.export``) of one survey or
of everything, zipped (the photos a person finished: none with a label still pending), for
reviewers and admins in the app (``slope export`` writes the folder)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from core.taxonomy import counted
from services.errors import ServiceError
from storage.db import Database
from storage.formats.export import photos_in_review, reviewed_images, write_export

# What a person picks -> the export format and the words for it.
FORMATS = {
    "YOLO (4 object types)": "yolo",
    "YOLO (9 classes: type and condition)": "yolo9",
    "COCO JSON (condition as an attribute)": "coco",
    "Hugging Face dataset (save_to_disk)": "hf",
}


def export_zip(
    db: Database, data_dir: str | Path, choice: str, survey: str | None, folder: str | Path
) -> tuple[Path, str]:
    """The reviewed labels of ``survey`` (None: the whole store) in the format ``choice`` names,
    as a zip in ``folder``; returns it and a line of counts. Nothing reviewed: a refusal."""
    fmt = FORMATS.get(choice)
    if fmt is None:
        raise ServiceError(f"Pick a format: {', '.join(FORMATS)}.")
    photos = reviewed_images(db, data_dir, survey, whole_photos=True)
    where = f"survey {survey}" if survey else "the whole store"
    unfinished = photos_in_review(db, survey)
    left_out = f" {counted(unfinished, 'photo')} still in review (a label pending) left out." if unfinished else ""
    if not photos:
        raise ServiceError(f"Nothing to export: no photo in {where} is reviewed to the end yet.{left_out}")
    work = Path(tempfile.mkdtemp(prefix="export-", dir=folder))
    name = f"reviewed-labels-{fmt}" + (f"-{_safe(survey)}" if survey else "")
    try:
        missing = write_export(photos, fmt, work / name)["left_out_file_missing"]  # the photos read above
        archive = Path(shutil.make_archive(str(work / name), "zip", root_dir=work, base_dir=name))
    finally:
        shutil.rmtree(work / name, ignore_errors=True)
    objects = sum(len(photo.objects) for photo in photos if Path(photo.path).is_file())  # as exported
    if missing:
        left_out += f" {counted(missing, 'photo')} left out: their stored files are gone."
    return archive, (
        f"Exported {counted(len(photos) - missing, 'photo')} with {counted(objects, 'reviewed label')} of "
        f"{where}.{left_out}"
    )


def _safe(name: str) -> str:
    """A survey name as part of a file name."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-")[:60] or "survey"
