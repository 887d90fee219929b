"""The one batch path: every source reaches every sink; one bad photo or sink fails nothing else."""

import csv
from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image

from core.images import load_image
from core.report.rows import ReportMeta
from core.sources import PhotoSource, expand_sources
from services.inspection import PhotoOutcome, inspect_batch
from services.sinks import DRAWING_SIDE, CollectSink, JsonSink, RenderSink, ReportSink, StoreSink
from services.survey_report import ReportWriter
from storage import review as review_store
from storage.db import Database
from storage.errors import StoreBusy


class BrokenSink:
    purpose = "testing a failing sink"

    def add(self, outcome):
        if outcome.inspection is not None:
            raise OSError("disk full")


class FailingOnSecondPhoto:
    """An inspector whose model fails on one photo, as a CUDA out-of-memory would."""

    def __init__(self, inspector):
        self.inner, self.calls = inspector, 0

    def inspect(self, image, conf=None):
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("out of memory")
        return self.inner.inspect(image, conf=conf)


@pytest.fixture
def sources(val_images, tmp_path):
    (tmp_path / "broken.jpg").write_bytes(val_images[0].read_bytes()[:300])
    paths = [val_images[0], tmp_path / "broken.jpg", val_images[1], val_images[2]]
    found, problems = expand_sources(paths, max_bytes=50_000_000)
    assert problems == []
    return found


def test_every_sink_gets_every_photo_in_order(inspector, sources, tmp_path):
    settings_dir = tmp_path / "store"
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    db.upgrade()
    collected, drawings, as_json = CollectSink(), RenderSink(), JsonSink()
    report = ReportSink(ReportWriter(tmp_path / "report", ReportMeta("ines", "2026-11-23T10:00:00+00:00", "north")))
    progress = []
    result = inspect_batch(
        sources,
        inspector,
        [StoreSink(db, settings_dir, "ines", "north"), collected, drawings, report, as_json],
        progress=lambda done, total, name: progress.append((done, total, name)),
    )
    assert (result.inspected, result.failed) == (3, 1)
    assert result.problems == [f"broken.jpg: the image data is truncated or corrupt ({_message(as_json)})"]
    assert [e["image"] for e in as_json.entries] == [s.origin for s in sources]
    assert list(collected.inspections) == [sources[0].name, sources[2].name, sources[3].name]
    assert [caption.split(":")[0] for _, caption in drawings.drawings] == list(collected.inspections)
    rows = list(csv.reader((tmp_path / "report" / "findings.csv").open()))
    assert len(rows) == 1 + sum(max(1, len(i.findings)) for i in collected.inspections.values())  # "none" rows
    assert progress == [(n, 4, s.name) for n, s in enumerate(sources, 1)]
    # the report's page lists every photo, the unreadable one with its error
    assert [p.name for p in report.writer.photos] == [s.name for s in sources]
    assert [p.error is not None for p in report.writer.photos] == [False, True, False, False]
    stored = review_store.review_counts(db, survey="north")["to_review"]
    assert stored == sum(len(i.findings) for i in collected.inspections.values())


def _message(as_json) -> str:
    error = next(e["error"] for e in as_json.entries if "error" in e)
    return error.split("(", 1)[1].rstrip(")")


def test_a_failing_sink_or_model_costs_one_photo_only(inspector, sources, caplog):
    collected = CollectSink()
    result = inspect_batch(sources, FailingOnSecondPhoto(inspector), [BrokenSink(), collected])
    # photo 1 and 4 inspected; the broken file fails to load; the model fails on the 3rd source
    assert (result.inspected, result.failed) == (2, 2)
    failed = next(p for p in result.problems if p.startswith(f"{sources[2].name}: inspection failed: "))
    assert "something went wrong on the server (error " in failed  # its own text may carry paths: logged
    assert sum("testing a failing sink failed: something went wrong" in p for p in result.problems) == 2
    logged = "\n".join(str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    assert "out of memory" in logged and "disk full" in logged  # the details, for an administrator
    assert list(collected.inspections) == [sources[0].name, sources[3].name]


class BusyStoreSink:
    """A store another program holds: the first photo waits and is refused (``StoreBusy``)."""

    purpose = "saving to the store"

    def __init__(self):
        self.calls = 0

    def add(self, outcome):
        self.calls += 1
        raise StoreBusy("the store stayed busy for 30 s")


def test_a_busy_store_is_waited_for_once_per_batch_and_the_results_still_show(inspector, sources):
    busy, collected = BusyStoreSink(), CollectSink()
    result = inspect_batch(sources, inspector, [busy, collected])
    assert busy.calls == 1  # not asked again: each later photo would wait as long
    assert list(collected.inspections) == [sources[0].name, sources[2].name, sources[3].name]
    assert f"{sources[0].name}: inspected, but saving to the store failed: the store is busy" in result.problems[0]
    assert result.problems[-1].startswith("3 later photos: inspected, but saving to the store was not tried")


def test_a_full_resolution_photo_is_drawn_at_screen_size_with_its_boxes_in_place(inspector, val_images):
    """A batch of 20 MP drone photos must not keep 20 MP drawings (the gallery would hold GBs);
    the boxes follow the drawing's size."""
    photo = load_image(val_images[0]).resize((4000, 3000))
    inspection = inspector.inspect(photo)
    assert inspection.findings, "the test needs a photo with a finding"
    drawings = RenderSink()
    drawings.add(PhotoOutcome(PhotoSource("big.jpg", "big.jpg", read=bytes), image=photo, inspection=inspection))
    [(drawing, caption)] = drawings.drawings
    assert drawing.size == (DRAWING_SIDE, DRAWING_SIDE * 3 // 4) and caption.startswith("big.jpg: ")
    plain = photo.resize(drawing.size, Image.LANCZOS)
    changed = np.abs(np.asarray(drawing, dtype=int) - np.asarray(plain, dtype=int)).sum(axis=2) > 60
    x0, y0, x1, y1 = (np.array(inspection.findings[0].box_xyxy) * DRAWING_SIDE / 4000).round().astype(int)
    assert changed[y0 : y1 + 1, x0].mean() > 0.8  # the box's left edge, where it should be drawn


def test_a_photo_shown_from_the_store_joins_each_survey_it_is_handed_in_under(inspector, val_images, tmp_path):
    from storage.inspections import stored_inspection, survey_photos

    db = Database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    db.upgrade()
    sources, _ = expand_sources([val_images[0]], max_bytes=50_000_000)
    previous = lambda data, models: stored_inspection(db, data, models)  # noqa: E731
    inspect_batch(sources, inspector, [StoreSink(db, tmp_path, "ines")], previous=previous)  # no survey yet
    again = inspect_batch(sources, inspector, [StoreSink(db, tmp_path, "ines", "west")], previous=previous)
    assert again.reused == 1
    assert [p.name for p in survey_photos(db, tmp_path, "west")] == [sources[0].name]
    # handed in under another survey, it joins that one too and stays in the first
    inspect_batch(sources, inspector, [StoreSink(db, tmp_path, "ines", "east")], previous=previous)
    assert [p.name for p in survey_photos(db, tmp_path, "east")] == [sources[0].name]
    assert len(survey_photos(db, tmp_path, "west")) == 1


def test_a_result_taken_from_the_store_reports_when_it_was_made(inspector, val_images, tmp_path):
    """The CSV's inspected_at of a photo shown from the store is the stored inspection's time,
    not the time of the run that showed it again, and the HTML page's "Inspected" agrees."""
    from storage.inspections import stored_inspection

    db = Database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    db.upgrade()
    sources, _ = expand_sources([val_images[0]], max_bytes=50_000_000)
    previous = lambda data, models: stored_inspection(db, data, models)  # noqa: E731
    first = ReportWriter(tmp_path / "first", ReportMeta("ines", "2020-01-01T00:00:00+00:00"))  # the batch's start
    inspect_batch(sources, inspector, [StoreSink(db, tmp_path, "ines"), ReportSink(first)], previous=previous)
    first.finish({})
    stored = stored_inspection(db, val_images[0].read_bytes(), inspector.models)
    with (tmp_path / "first" / "findings.csv").open(newline="") as f:
        assert {row["inspected_at"] for row in csv.DictReader(f)} == {stored.inspected_at}  # the store's own time
    meta = ReportMeta("ines", "2030-01-01T00:00:00+00:00")  # the later run
    writer = ReportWriter(tmp_path / "report", meta)
    inspect_batch(sources, inspector, [ReportSink(writer)], previous=previous)
    writer.finish({})
    with (tmp_path / "report" / "findings.csv").open(newline="") as f:
        times = {row["inspected_at"] for row in csv.DictReader(f)}
    assert times == {stored.inspected_at} and stored.inspected_at.startswith("20")
    assert stored.inspected_at != meta.inspected_at
    page = (tmp_path / "report" / "report.html").read_text()
    when = datetime.fromisoformat(stored.inspected_at).astimezone(UTC)
    assert f"{when:%Y-%m-%d %H:%M} UTC" in page and "2030-01-01" not in page


def test_the_report_shows_the_gallery_drawing_instead_of_drawing_again(inspector, sources, tmp_path, monkeypatch):
    import core.render
    import services.sinks

    drawn = []

    def counted(image, inspection):
        drawn.append(inspection)
        return real(image, inspection)

    real = core.render.render
    monkeypatch.setattr(core.render, "render", counted)  # what the report draws with
    monkeypatch.setattr(services.sinks, "render", counted)  # what the gallery draws with
    gallery = RenderSink()
    writer = ReportWriter(tmp_path / "report", ReportMeta("ines", "2026-11-23T10:00:00+00:00"))
    inspect_batch(sources, inspector, [gallery, ReportSink(writer)])
    writer.finish({})
    assert len(drawn) == 3  # the three readable photos, once each
    shown = [p.drawing for p in writer.photos if p.inspection is not None]
    assert shown == [drawing for drawing, _ in gallery.drawings]
    # without a gallery before it, the report draws each photo itself
    drawn.clear()
    alone = ReportWriter(tmp_path / "alone", ReportMeta("ines", "2026-11-23T10:00:00+00:00"))
    inspect_batch(sources, inspector, [ReportSink(alone)])
    alone.finish({})
    assert len(drawn) == 3 and all(p.drawing is None for p in alone.photos)
