"""A survey: a named set of photos from one site and day, inspected through the one batch path,
stored for review, and resumable: photos already inspected (same bytes, same model versions) are
not inspected again, so a survey interrupted half-way, or run twice, costs only what is new.

``slope survey`` and the Inspect tab both run it; the tab's uploads may have no survey name (then
they are stored under none) and its report files come from ``services.survey_report``'s writer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from core.pipeline import Inspector
from core.report.html import model_info
from core.report.rows import ReportMeta
from core.settings import Settings
from core.sources import expand_sources
from core.types import Inspection
from services.errors import ServiceError
from services.inspection import BatchResult, LoadLimits, Progress, Sink, inspect_batch
from services.sinks import CollectSink, ReportSink, StoreSink
from services.survey_report import ReportFiles, ReportWriter
from storage.db import Database
from storage.images import complete_survey
from storage.inspections import stored_inspection
from storage.users import user_role


@dataclass
class SurveyRun:
    name: str | None
    photos: int
    batch: BatchResult
    problems: list[str] = field(default_factory=list)  # sources refused and photos that failed
    inspections: dict[str, Inspection] = field(default_factory=dict)
    report: ReportFiles | None = None  # when asked for and a photo was inspected

    def summary(self) -> str:
        """One line: what was done and what needs action."""
        findings = [f for inspection in self.inspections.values() for f in inspection.findings]
        action = Counter(f.condition for f in findings if f.condition != "normal")
        needs = ", ".join(f"{n} {c}" for c, n in sorted(action.items())) or "none"
        return (
            f"survey {self.name}: {self.photos} photos, {self.batch.inspected - self.batch.reused} inspected, "
            f"{self.batch.reused} already done, {self.batch.failed} failed; {len(findings)} objects, "
            f"{sum(action.values())} need action ({needs})"
        )


def survey_date(text: str | None) -> str | None:
    """The date as stored (YYYY-MM-DD), None when empty; any other writing is refused, so every
    survey's date sorts and compares alike, whichever screen or command entered it."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise ValueError(f"The date {text!r} is not a date like 2026-11-23.") from None
    return day.strftime("%Y-%m-%d")  # "2026-1-1" is stored as 2026-01-01: dates sort as text


MAX_TEXT = 200  # the store's width for a survey's name and site


def survey_text(value: str | None, what: str) -> str | None:
    """A survey's name or site as stored: trimmed, None when empty; too long, or holding a
    control character (a NUL, a tab: no store keeps one in a name), it is refused by name."""
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > MAX_TEXT:
        raise ValueError(f"The {what} is {len(value)} characters long: at most {MAX_TEXT}.")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"The {what} holds a control character (a tab, a NUL...): type it without.")
    return value


class SurveyOwned(ServiceError, ValueError):
    """Another inspector's survey: its site and date are theirs (or an admin's) to change."""

    title = "Survey"


def record_survey(
    db: Database, name: str, inspector: str, site: str | None, date: str | None
) -> tuple[str | None, str | None]:
    """The survey's row, created or completed (a later run may add the site or date); its site
    and date as stored (with what earlier runs gave)."""
    name, site = survey_text(name, "survey name"), survey_text(site, "site")
    if name is None:
        raise ValueError("a survey needs a name")
    try:
        return complete_survey(db, name, inspector, site, survey_date(date), admin=user_role(db, inspector) == "admin")
    except PermissionError as refused:
        raise SurveyOwned(str(refused)) from None


def checked_survey(
    db: Database | None, name: str | None, user: str, site: str | None, date: str | None
) -> tuple[str | None, str | None, str | None]:
    """A survey's name, site and date as stored: a malformed one is refused (``ValueError``)
    before any photo is stored or inspected; a named survey is recorded, or completed, in ``db``."""
    date = survey_date(date)
    name, site = survey_text(name, "survey name"), survey_text(site, "site")
    if db is not None and name is not None:
        site, date = record_survey(db, name, user, site, date)
    return name, site, date


def run_survey(
    db: Database | None,
    settings: Settings,
    inspector: Inspector,
    paths: Iterable[str | Path],
    name: str | None,
    user: str,
    *,
    site: str | None = None,
    date: str | None = None,
    conf: float | None = None,
    max_photos: int | None = None,
    progress: Progress | None = None,
    sinks: Sequence[Sink] = (),
    report_to: str | Path | None = None,
) -> SurveyRun:
    """Inspect every photo under ``paths`` (files, folders, zips) as survey ``name`` (None: not
    under a survey); with a ``db`` each is stored for review and a photo already inspected by
    these models is read back, not inspected again. Extra ``sinks`` (drawings) see every photo
    first; with ``report_to``, the CSV and HTML report are written into that folder.
    ``progress(done, total, name)`` is called after each photo, and with 0 done before the first."""
    name, site, date = checked_survey(db, name, user, site, date)
    sources, problems = expand_sources(paths, max_bytes=settings.max_upload_bytes, max_photos=max_photos)
    collected = CollectSink()
    # The caller's sinks first: what a page shows of a photo need not wait for it to be stored.
    every = [*sinks, collected]
    if db is not None:
        every.append(StoreSink(db, settings.data_dir, user, name))
    writer = None
    if report_to is not None:
        meta = ReportMeta(user, datetime.now(UTC).isoformat(timespec="seconds"), name, site, date)
        writer = ReportWriter(report_to, meta)
        every.append(ReportSink(writer))
    if progress is not None and sources:
        progress(0, len(sources), "")  # the total, before the first photo takes its time
    batch = inspect_batch(
        sources,
        inspector,
        every,
        conf=conf,
        limits=LoadLimits(settings.max_image_pixels, settings.max_upload_bytes),
        progress=progress,
        previous=(lambda data, models: stored_inspection(db, data, models)) if db is not None else None,
    )
    report = writer.finish(model_info(served_folders(inspector))) if writer and collected.inspections else None
    return SurveyRun(name, len(sources), batch, problems + batch.problems, collected.inspections, report)


def served_folders(inspector: Inspector) -> dict[str, str]:
    """Where the inspector's models come from (folders or hub ids), for the report's model section."""
    return {"detector": str(inspector.detector.weights.parent), "condition": inspector.condition_model.source}
