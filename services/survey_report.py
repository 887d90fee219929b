"""The one writer of reports: a self-contained HTML page (annotated photos, findings, narratives,
model versions and their data, credit) and the CSV of findings, for the Inspect tab's downloads
(fed photo by photo as a batch runs, through ``services.sinks.ReportSink``) and for a stored
survey (``slope report SURVEY --out DIR``, read back from the store).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image

from core.images import NO_LIMIT, ImageLoadError, gps_position, load_stored_image, read_image_bytes
from core.render import render
from core.report.html import MAX_WIDTH, ReportPhoto, model_info, write_html_report
from core.report.rows import REPORT_COLUMNS, ReportMeta, report_rows
from core.types import Inspection
from storage import registry
from storage.db import Database, as_utc
from storage.errors import NotFoundError
from storage.inspections import SurveyPhoto, survey_details, survey_photos, uploaded_photo

REPORT_SIDE = MAX_WIDTH  # the report embeds photos at most this wide


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    csv: Path
    photos: int
    findings: int


class ReportWriter:
    """``findings.csv`` and ``report.html`` in ``out``. The CSV has every finding with survey,
    inspector, time and model versions, and one row for each photo where nothing was detected; it
    grows as each photo is added (a long survey's file can be read while it runs). The page needs
    every photo, so ``finish`` writes it; photos are kept at report size until then, so a batch of
    full-resolution photos fits in memory."""

    def __init__(self, out: str | Path, meta: ReportMeta) -> None:
        self.out, self.meta = Path(out), meta
        self.out.mkdir(parents=True, exist_ok=True)
        self.csv = self.out / "findings.csv"
        with self.csv.open("w", newline="") as f:
            csv.writer(f).writerow(REPORT_COLUMNS)
        self.photos: list[ReportPhoto] = []
        self.findings = 0
        self.inspected: list[str] = []  # when each photo was inspected (ISO), as its rows say

    def add(
        self,
        name: str,
        inspection: Inspection | None,
        image: Image.Image | None = None,
        *,
        error: str | None = None,
        position: tuple[float, float] | None = None,
        meta: ReportMeta | None = None,
        drawing: Image.Image | None = None,
    ) -> None:
        """One photo: its rows (under ``meta``, else the report's) when inspected, and its place
        in the page; a photo without ``inspection`` is listed with its ``error``. ``drawing``: the
        photo drawn already (for a gallery, which keeps it too), shown instead of drawing it again."""
        if image is not None and max(image.size) > REPORT_SIDE:
            image = image.copy()  # the caller's photo stays whole (it is drawn for the gallery too)
            image.thumbnail((REPORT_SIDE, REPORT_SIDE))
        self.photos.append(ReportPhoto(name, image, inspection, error, position, drawing))
        if inspection is None:
            return
        self.findings += len(inspection.findings)
        if (meta or self.meta).inspected_at:
            self.inspected.append((meta or self.meta).inspected_at)
        with self.csv.open("a", newline="") as f:
            csv.writer(f).writerows(report_rows(name, inspection, meta or self.meta))

    def finish(self, models: dict[str, dict[str, Any]]) -> ReportFiles:
        """The page, titled after the survey (if any); ``models`` as ``model_info`` gives them."""
        title = "Slope drainage inspection" + (f": {self.meta.survey}" if self.meta.survey else "")
        # The page's "Inspected" agrees with the rows: the last photo's time (a photo shown from
        # the store keeps the time it was inspected, not the time of this report).
        meta = replace(self.meta, inspected_at=max(self.inspected, key=_moment)) if self.inspected else self.meta
        html = write_html_report(self.out / "report.html", self.photos, title=title, meta=meta, models=models)
        return ReportFiles(html, self.csv, len(self.photos), self.findings)


def write_survey_report(db: Database, data_dir: str | Path, survey: str, out: str | Path) -> ReportFiles:
    """``report.html`` and ``findings.csv`` for the stored survey into ``out``."""
    stored = survey_photos(db, data_dir, survey)
    if not stored:
        raise NotFoundError(f"survey {survey!r} has no photos")
    inspectors = sorted({p.uploaded_by for p in stored})
    latest = max((p.inspected_at for p in stored if p.inspected_at), default=None)
    site, date = survey_details(db, survey)
    return _write(db, stored, ReportMeta(", ".join(inspectors), _iso(latest), survey, site, date), out)


def open_upload(
    db: Database, data_dir: str | Path, image_id: int, user: str, out: str | Path
) -> tuple[Image.Image | None, ReportFiles, Inspection | None]:
    """One photo ``user`` uploaded, from its stored inspection ("My uploads"): the photo drawn
    with its findings (None when never inspected or unreadable), its report files in ``out``,
    and the inspection (None when never inspected). ``NotFoundError`` for a photo that is not theirs."""
    photo = uploaded_photo(db, data_dir, image_id, user)
    files = _write(db, [photo], ReportMeta(user, _iso(photo.inspected_at), None, None, None), out)
    drawing = None
    if photo.inspection is not None:
        try:
            drawing = render(load_stored_image(photo.path, name=photo.name), photo.inspection)
        except ImageLoadError:
            pass  # the report says the stored file is gone
    return drawing, files, photo.inspection


def _write(db: Database, stored: list[SurveyPhoto], whole: ReportMeta, out: str | Path) -> ReportFiles:
    writer, versions = ReportWriter(out, whole), {}
    for photo in stored:
        # Each row says who inspected that photo and when; the page's header, the whole survey.
        meta = replace(whole, inspector=photo.uploaded_by, inspected_at=_iso(photo.inspected_at))
        try:
            data = read_image_bytes(photo.path, Path(photo.path).name, NO_LIMIT)  # once: pixels and GPS
            image = load_stored_image(data, name=Path(photo.path).name)
        except ImageLoadError as exc:  # a stored file gone missing: say so, keep the rest
            writer.add(photo.name, photo.inspection, error=str(exc), meta=meta)
            continue
        image.thumbnail((REPORT_SIDE, REPORT_SIDE))  # at report size at once: only one full photo in memory
        error = None if photo.inspection is not None else "stored but never inspected"
        writer.add(photo.name, photo.inspection, image, error=error, position=gps_position(data), meta=meta)
        if photo.inspection is not None:
            versions.update(photo.inspection.models)
    return writer.finish(model_info({kind: _folder(db, name) for kind, name in versions.items()}))


def _moment(iso: str) -> datetime:
    return as_utc(datetime.fromisoformat(iso))


def _iso(moment: datetime | None) -> str:
    return as_utc(moment).isoformat(timespec="seconds") if moment is not None else ""


def _folder(db: Database, version: str) -> str:
    """The folder of a version on record, or its name (a hub id, or a version not recorded)."""
    try:
        return registry.find_version(db, version).folder
    except NotFoundError:
        return version
