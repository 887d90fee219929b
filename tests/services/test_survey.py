"""Surveys: named, stored for review, resumable (what is done is not inspected again)."""

import numpy as np
import pytest
from sqlalchemy import func, select

from cli.main import main
from core.settings import Settings
from services.survey import record_survey
from storage import models as m
from storage.db import Database


def test_a_survey_of_20_photos_is_stored_and_a_second_run_inspects_nothing(
    val_images, tmp_path, monkeypatch, capsys, inspector
):
    monkeypatch.setenv("SLOPE_DATA_DIR", str(tmp_path / "data"))
    folder = tmp_path / "flight"
    folder.mkdir()
    for path in val_images[:20]:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "notes.txt").write_text("not a photo")

    calls = {"n": 0}
    real_inspect = inspector.inspect

    def counted(image, conf=None):
        calls["n"] += 1
        return real_inspect(image, conf=conf)

    monkeypatch.setattr(inspector, "inspect", counted)
    args = ["survey", str(folder), "--name", "north slope", "--site", "A3 km 12", "--date", "2026-11-20"]
    assert main(args, inspector=inspector) == 0
    out, err = capsys.readouterr()
    assert "photo 21 of 21" in err and "notes.txt: not a recognised image" in err
    assert out.startswith("survey north slope: 21 photos, 20 inspected, 0 already done, 1 failed;")
    assert calls["n"] == 20
    objects_first_run = out.split(";")[1]

    db = Database.from_settings(Settings.from_env())
    with db.read() as session:
        survey = session.scalar(select(m.Survey).where(m.Survey.name == "north slope"))
        assert (survey.site, survey.date) == ("A3 km 12", "2026-11-20")
        stored = session.scalar(select(func.count()).select_from(m.Inspection))
        predictions = session.scalar(select(func.count()).select_from(m.Prediction))
    assert stored == 20

    assert main(args, inspector=inspector) == 0
    out, _ = capsys.readouterr()
    assert out.startswith("survey north slope: 21 photos, 0 inspected, 20 already done, 1 failed;")
    assert calls["n"] == 20  # nothing inspected again
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(m.Inspection)) == 20
        assert session.scalar(select(func.count()).select_from(m.Prediction)) == predictions
    assert out.split(";")[1] == objects_first_run  # the same objects, read back from the store


def test_a_survey_date_not_written_yyyy_mm_dd_is_refused_by_the_service_and_the_command(
    tmp_path, monkeypatch, capsys, inspector
):
    db = Database(f"sqlite:///{tmp_path / 'store.db'}")
    db.upgrade()
    with pytest.raises(ValueError, match="'20/11/2026' is not a date like 2026-11-23"):
        record_survey(db, "north slope", "ana", None, "20/11/2026")
    record_survey(db, "north slope", "ana", None, " 2026-11-20 ")
    with db.read() as session:
        assert session.scalar(select(m.Survey.date)) == "2026-11-20"

    monkeypatch.setenv("SLOPE_DATA_DIR", str(tmp_path / "data"))
    args = ["survey", str(tmp_path), "--name", "south", "--date", "2026-13-01"]
    assert main(args, inspector=inspector) == 2
    assert "error: The date '2026-13-01' is not a date like 2026-11-23." in capsys.readouterr().err
    assert not (tmp_path / "data").exists()  # refused before anything was opened or stored


def test_the_survey_report_matches_the_store_and_narrates_every_finding(
    val_images, tmp_path, monkeypatch, capsys, inspector
):
    import csv
    import re

    monkeypatch.setenv("SLOPE_DATA_DIR", str(tmp_path / "data"))
    folder = tmp_path / "flight"
    folder.mkdir()
    for path in val_images[:6]:
        (folder / path.name).write_bytes(path.read_bytes())
    survey = ["survey", str(folder), "--name", "Site <A> & B", "--site", "A3 km 12", "--date", "2026-11-20"]
    assert main(survey, inspector=inspector) == 0
    capsys.readouterr()
    assert main(["report", "Site <A> & B", "--out", str(tmp_path / "report")]) == 0
    assert "6 photos" in capsys.readouterr().out

    db = Database.from_settings(Settings.from_env())
    with db.read() as session:
        stored = session.scalar(select(func.count()).select_from(m.Prediction))
    rows = list(csv.DictReader((tmp_path / "report" / "findings.csv").open()))
    assert sum(row["object"] != "" for row in rows) == stored  # one row per stored finding
    assert {(row["site"], row["survey_date"]) for row in rows} == {("A3 km 12", "2026-11-20")}
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", row["inspected_at"]) for row in rows)
    page = (tmp_path / "report" / "report.html").read_text()
    assert "Site <A> & B" not in page and "Site &lt;A&gt; &amp; B" in page  # escaped
    assert page.count("data:image/jpeg;base64") >= 6
    assert "Site: <b>A3 km 12</b>" in page and "Survey date: <b>2026-11-20</b>" in page
    assert re.search(r"Inspected: <b>\d{4}-\d\d-\d\d \d\d:\d\d UTC</b>", page)
    from core.report.narrative import narrative
    from storage.inspections import survey_photos

    for photo in survey_photos(db, Settings.from_env().data_dir, "Site <A> & B"):
        text = narrative(photo.inspection)
        for number, finding in enumerate(photo.inspection.findings, 1):
            assert re.search(rf"{finding.object_type.replace('_', ' ')} {number}\b", text, re.IGNORECASE)
    assert main(["report", "nope", "--out", str(tmp_path / "x")]) == 1
    assert "no survey named 'nope'" in capsys.readouterr().err


def test_uploads_under_no_survey_and_without_a_store_get_the_report_files_from_the_same_writer(
    val_images, tmp_path, inspector
):
    """The Inspect tab's path through the survey use case: no name (stored under none), here no
    store either; the CSV and HTML come from the writer ``slope report`` uses."""
    import csv

    from services.survey import run_survey

    settings = Settings(data_dir=str(tmp_path / "data"))
    run = run_survey(None, settings, inspector, val_images[:2], None, "ines", conf=0.4, report_to=tmp_path / "r")
    assert (run.batch.inspected, run.problems) == (2, []) and not (tmp_path / "data").exists()
    rows = list(csv.DictReader(run.report.csv.open()))
    assert {(row["survey"], row["inspector"]) for row in rows} == {("", "ines")}
    assert (
        run.report.findings
        == sum(len(i.findings) for i in run.inspections.values())
        == sum(r["object"] != "" for r in rows)
    )
    assert "<title>Slope drainage inspection</title>" in run.report.html.read_text()
    (tmp_path / "notes.txt").write_text("not a photo")
    nothing = run_survey(None, settings, inspector, [tmp_path / "notes.txt"], None, "ines", report_to=tmp_path / "r2")
    assert nothing.report is None and nothing.problems  # nothing inspected: no report to download


def test_the_writer_escapes_a_survey_and_photo_named_like_a_script(tmp_path):
    """Names come from people: through the one writer they show as text in the page and the CSV
    keeps them as given."""
    import csv

    from PIL import Image

    from core.report.rows import ReportMeta
    from core.types import Inspection
    from services.survey_report import ReportWriter

    evil = "<script>alert(1)</script>"
    writer = ReportWriter(tmp_path, ReportMeta("ines", "2026-11-23T10:00:00+00:00", evil, "Km 12 <b>", None))
    nothing = Inspection(width=64, height=48, findings=(), models={})
    writer.add(f"{evil}.jpg", nothing, Image.new("RGB", (64, 48), "grey"))
    writer.add("broken.jpg", None, error=f"cannot read {evil}")
    files = writer.finish({})
    page = files.html.read_text()
    assert "<script" not in page.lower() and page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3
    assert "<title>Slope drainage inspection: &lt;script&gt;" in page and "Km 12 &lt;b&gt;" in page
    rows = list(csv.DictReader(files.csv.open()))
    assert [(r["survey"], r["image"]) for r in rows] == [(evil, f"{evil}.jpg")]
    assert (files.photos, files.findings) == (2, 0)


def test_only_the_surveys_owner_or_an_admin_changes_its_site_and_date(tmp_path):
    from services.survey import SurveyOwned, record_survey
    from storage.db import Database
    from storage.users import add_user

    db = Database(f"sqlite:///{tmp_path / 'owners.sqlite3'}")
    db.upgrade()
    add_user(db, "ada", "admin", "admin-pass-1")
    assert record_survey(db, "Km 12", "ines", "north cut", "2026-11-23") == ("north cut", "2026-11-23")
    assert record_survey(db, "Km 12", "otto", None, None) == ("north cut", "2026-11-23")  # adds photos: fine
    assert record_survey(db, "Km 12", "otto", "north cut", None) == ("north cut", "2026-11-23")  # the same: fine
    with pytest.raises(SurveyOwned, match="Survey 'Km 12' is ines's .* only ines or an admin may change"):
        record_survey(db, "Km 12", "otto", "south cut", None)
    assert record_survey(db, "Km 12", "ines", None, "2026-11-24") == ("north cut", "2026-11-24")  # the owner
    assert record_survey(db, "Km 12", "ada", "south cut", None) == ("south cut", "2026-11-24")  # an admin
    db.dispose()


def test_my_uploads_open_as_the_stored_drawing_and_report_for_their_uploader_only(val_images, tmp_path, inspector):
    import csv

    from services.survey import run_survey
    from services.survey_report import open_upload
    from storage.errors import NotFoundError
    from storage.inspections import uploads_of

    settings = Settings(data_dir=str(tmp_path / "data"))
    db = Database.from_settings(settings)
    run = run_survey(db, settings, inspector, val_images[:1], None, "ines", conf=0.4)
    (upload,) = uploads_of(db, "ines")
    drawing, files, stored = open_upload(db, settings.data_dir, upload.image_id, "ines", tmp_path / "mine")
    (inspection,) = run.inspections.values()
    assert np.allclose([f.box_xyxy for f in stored.findings], [f.box_xyxy for f in inspection.findings], atol=0.01)
    assert drawing is not None and min(drawing.size) >= min(inspection.width, inspection.height)
    rows = [row for row in csv.DictReader(files.csv.open()) if row["object"]]
    assert len(rows) == len(inspection.findings) and {row["inspector"] for row in rows} == {"ines"}
    assert upload.name in files.html.read_text()
    with pytest.raises(NotFoundError, match="uploaded by otto"):
        open_upload(db, settings.data_dir, upload.image_id, "otto", tmp_path / "theirs")
    db.dispose()


def test_a_stored_photo_is_read_back_for_reports_under_no_size_limit(tmp_path, monkeypatch):
    """A photo accepted under a raised SLOPE_MAX_IMAGE_PIXELS (a 132 MP camera) was left out of its
    survey's report and My uploads: they read it under the default limits."""
    import io

    from PIL import Image

    from core import images
    from core.types import Inspection
    from services.survey_report import open_upload, write_survey_report
    from storage.inspections import save_inspection, uploads_of

    settings = Settings(data_dir=str(tmp_path / "data"))
    db = Database.from_settings(settings)
    photo = io.BytesIO()
    Image.new("RGB", (64, 48), "grey").save(photo, "JPEG")
    inspection = Inspection(64, 48, (), {"detector": "d", "condition": "c"})
    save_inspection(db, settings.data_dir, photo.getvalue(), "big.jpg", inspection, "ines", survey="north")
    # Default limits below this photo stand in for a 132 MP photo over the 120 MP default: one
    # built for real would take half a GB decoded, twice over (report and drawing).
    monkeypatch.setitem(images.load_image.__kwdefaults__, "max_pixels", 64 * 48 - 1)
    page = write_survey_report(db, settings.data_dir, "north", tmp_path / "report").html.read_text()
    assert "MP limit" not in page and "<img" in page
    (upload,) = uploads_of(db, "ines")
    drawing, _, _ = open_upload(db, settings.data_dir, upload.image_id, "ines", tmp_path / "mine")
    assert drawing is not None
    db.dispose()
