"""Where inspected photos go: the store, drawings, the report (CSV and HTML), JSON entries, collected results.

Each sink takes every ``PhotoOutcome`` of a batch in order and ignores what it has no use for
(a CSV has no row for an unreadable file; the JSON list has an ``{image, error}`` entry).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

from PIL import Image

from core.images import capture_time, gps_position
from core.render import render
from core.types import Inspection
from services.inspection import PhotoOutcome
from services.survey_report import ReportWriter
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
        drawing = render(image, outcome.inspection)
        _last_drawn.pair = (outcome, drawing)
        self.drawings.append((drawing, caption))


# The last outcome a RenderSink drew on this thread (batches run on several), and its drawing: a
# ReportSink after it in the same batch shows that drawing rather than drawing the photo again.
_last_drawn = threading.local()


def _drawn_already(outcome: PhotoOutcome) -> Image.Image | None:
    pair = getattr(_last_drawn, "pair", None)
    return pair[1] if pair is not None and pair[0] is outcome else None


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


class ReportSink:
    """Every photo into the report's CSV and HTML page (``services.survey_report.ReportWriter``,
    the writer ``slope report`` uses too); failed photos are listed in the page with their error."""

    purpose = "writing the report"

    def __init__(self, writer: ReportWriter) -> None:
        self.writer = writer

    def add(self, outcome: PhotoOutcome) -> None:
        position = gps_position(outcome.data) if outcome.data is not None else None
        meta = None
        if outcome.inspection is not None and outcome.inspection.inspected_at:  # made now, or read from the store
            meta = replace(self.writer.meta, inspected_at=outcome.inspection.inspected_at)
        self.writer.add(
            outcome.name,
            outcome.inspection,
            outcome.image,
            error=outcome.error,
            position=position,
            meta=meta,
            drawing=_drawn_already(outcome),
        )
