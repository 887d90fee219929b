"""A survey's report from the store: a self-contained HTML page (annotated photos, findings,
narratives, model versions and their data, credit) and the CSV of findings.

    slope report SURVEY --out DIR
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from core.images import DEFAULT_MAX_BYTES, ImageLoadError, gps_position, load_image, read_image_bytes
from core.report.html import MAX_WIDTH, ReportPhoto, model_info, write_html_report
from core.report.rows import REPORT_COLUMNS, ReportMeta, report_rows
from storage import registry
from storage.db import Database, as_utc
from storage.errors import NotFoundError
from storage.inspections import survey_details, survey_photos

REPORT_SIDE = MAX_WIDTH  # the report embeds photos at most this wide


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    csv: Path
    photos: int
    findings: int


def write_survey_report(db: Database, data_dir: str | Path, survey: str, out: str | Path) -> ReportFiles:
    """``report.html`` and ``findings.csv`` for the survey into ``out``."""
    stored = survey_photos(db, data_dir, survey)
    if not stored:
        raise NotFoundError(f"survey {survey!r} has no photos")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    photos, versions = [], {}
    for photo in stored:
        try:
            # Kept at report size: a survey of full-resolution photos must fit in memory whole.
            data = read_image_bytes(photo.path, Path(photo.path).name, DEFAULT_MAX_BYTES)  # once: pixels and GPS
            image = load_image(data, name=Path(photo.path).name)
            image.thumbnail((REPORT_SIDE, REPORT_SIDE))
        except ImageLoadError as exc:  # a stored file gone missing: say so, keep the rest
            photos.append(ReportPhoto(photo.name, None, photo.inspection, error=str(exc)))
            continue
        error = None if photo.inspection is not None else "stored but never inspected"
        position = gps_position(data)
        photos.append(ReportPhoto(photo.name, image, photo.inspection, error=error, position=position))
        if photo.inspection is not None:
            versions.update({kind: name for kind, name in photo.inspection.models.items()})
    inspectors = sorted({p.uploaded_by for p in stored})
    latest = max((p.inspected_at for p in stored if p.inspected_at), default=None)
    site, date = survey_details(db, survey)
    whole = ReportMeta(", ".join(inspectors), _iso(latest), survey, site, date)
    html = write_html_report(
        out / "report.html",
        photos,
        title=f"Slope drainage inspection: {survey}",
        meta=whole,
        models=model_info({kind: _folder(db, name) for kind, name in versions.items()}),
    )
    findings = 0
    csv_path = out / "findings.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(REPORT_COLUMNS)
        for photo in stored:
            if photo.inspection is None:
                continue
            findings += len(photo.inspection.findings)
            meta = replace(whole, inspector=photo.uploaded_by, inspected_at=_iso(photo.inspected_at))
            writer.writerows(report_rows(photo.name, photo.inspection, meta))
    return ReportFiles(html, csv_path, len(stored), findings)


def _iso(moment: datetime | None) -> str:
    return as_utc(moment).isoformat(timespec="seconds") if moment is not None else ""


def _folder(db: Database, version: str) -> str:
    """The folder of a version on record, or its name (a hub id, or a version not recorded)."""
    try:
        return registry.find_version(db, version).folder
    except NotFoundError:
        return version
