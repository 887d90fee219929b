"""Where inspected photos go: the store, drawings, a CSV file, JSON entries, collected results.

Each sink takes every ``PhotoOutcome`` of a batch in order and ignores what it has no use for
(a CSV has no row for an unreadable file; the JSON list has an ``{image, error}`` entry).
"""

from __future__ import annotations

import csv
from pathlib import Path

from PIL import Image

from core.images import capture_time, gps_position
from core.render import render
from core.report.html import MAX_WIDTH, ReportPhoto
from core.report.rows import REPORT_COLUMNS, ReportMeta, report_rows
from core.types import Inspection
from services.inspection import PhotoOutcome
from storage.db import Database
from storage.images import file_under_survey
from storage.inspections import save_inspection


class StoreSink:
    """Stores each inspected photo (bytes, inspection, predictions, pending labels for review)."""

    purpose = "saving to the store"

    def __init__(self, db: Database, data_dir: str | Path, user: str, survey: str | None = None) -> None:
        self.db, self.data_dir, self.user, self.survey = db, data_dir, user, survey

    def add(self, outcome: PhotoOutcome) -> None:
        if outcome.inspection is None or outcome.data is None:
            return
        if outcome.reused:  # stored already; named under a survey now, it joins it
            if self.survey:
                file_under_survey(self.db, outcome.data, self.survey)
            return
        save_inspection(
            self.db,
            self.data_dir,
            outcome.data,
            outcome.name,
            outcome.inspection,
            self.user,
            survey=self.survey,
            captured_at=capture_time(outcome.data),
        )


class CollectSink:
    """Keeps each inspection by photo name, in order (for summaries and tables)."""

    purpose = "collecting the results"

    def __init__(self) -> None:
        self.inspections: dict[str, Inspection] = {}

    def add(self, outcome: PhotoOutcome) -> None:
        if outcome.inspection is not None:
            self.inspections[outcome.name] = outcome.inspection


# Longest side of a gallery drawing: sharp on a screen, and a batch of 200 photos of 20 MP keeps
# about 1 GB of drawings (drawn at full size, 30 such photos peaked at 3.9 GB, now 1.8 GB).
DRAWING_SIDE = 1600


class RenderSink:
    """A drawing of each inspected photo with its caption, for a gallery; at most
    ``DRAWING_SIDE`` px on its longest side."""

    purpose = "drawing the findings"

    def __init__(self) -> None:
        self.drawings: list[tuple[Image.Image, str]] = []

    def add(self, outcome: PhotoOutcome) -> None:
        if outcome.inspection is None or outcome.image is None:
            return
        image = outcome.image
        if max(image.size) > DRAWING_SIDE:
            image = image.copy()
            image.thumbnail((DRAWING_SIDE, DRAWING_SIDE), Image.LANCZOS)  # render() scales the boxes
        caption = f"{outcome.name}: {len(outcome.inspection.findings)} objects"
        self.drawings.append((render(image, outcome.inspection), caption))


class CsvSink:
    """The downloadable CSV report: every finding with survey, inspector, time and model
    versions, and one row for each photo where nothing was detected. Written as each photo
    finishes (a long survey's file grows as it runs)."""

    purpose = "writing the CSV report"

    def __init__(self, path: str | Path, meta: ReportMeta) -> None:
        self.path, self.meta = Path(path), meta
        with self.path.open("w", newline="") as f:
            csv.writer(f).writerow(REPORT_COLUMNS)

    def add(self, outcome: PhotoOutcome) -> None:
        if outcome.inspection is None:
            return
        with self.path.open("a", newline="") as f:
            csv.writer(f).writerows(report_rows(outcome.name, outcome.inspection, self.meta))


class JsonSink:
    """The JSON contract of ``slope inspect --json``: per source ``{image, width, height,
    findings, timings_ms, models}``, or ``{image, error}``; ``image`` is where it came from."""

    purpose = "writing JSON"

    def __init__(self) -> None:
        self.entries: list[dict] = []

    def add(self, outcome: PhotoOutcome) -> None:
        if outcome.inspection is None:
            self.entries.append({"image": outcome.source.origin, "error": outcome.error})
        else:
            self.entries.append({"image": outcome.source.origin, **outcome.inspection.as_dict()})


class HtmlReportSink:
    """Every photo for the HTML report (``core.report.html``), kept at report size so a batch of
    full-resolution photos fits in memory; failed photos are listed with their error."""

    purpose = "preparing the HTML report"

    def __init__(self) -> None:
        self.photos: list[ReportPhoto] = []

    def add(self, outcome: PhotoOutcome) -> None:
        image = None
        if outcome.image is not None:
            image = outcome.image.copy()
            image.thumbnail((MAX_WIDTH, MAX_WIDTH))  # the report embeds at most this wide
        position = gps_position(outcome.data) if outcome.data is not None else None
        self.photos.append(ReportPhoto(outcome.name, image, outcome.inspection, outcome.error, position))
