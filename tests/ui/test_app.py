"""The Gradio app launched for real and called through gradio_client."""

import csv

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import ValidationError
from sqlalchemy import select

from app import build_app
from core.model_card import read_card
from core.report.rows import short_name
from core.settings import Settings
from lifecycle.server import ModelServer, register_configured_models
from storage import models as m
from storage import registry
from storage import review as review_store
from storage.db import Database
from ui.dashboard_tab import analysis_view


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("app-data")
    settings = Settings(data_dir=str(data_dir))
    return settings, Database.from_settings(settings)


@pytest.fixture(scope="module")
def client(store, inspector):
    settings, db = store
    demo = build_app(settings, ModelServer(settings, db, inspector), db)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=None, quiet=True)
    try:
        yield Client(demo.local_url, verbose=False)
    finally:
        demo.close()


def test_inspect_photos_returns_drawings_table_summary_and_report(client, store, val_images, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(val_images[0].read_bytes()[:300])
    gallery, summary, table, report, html = client.predict(
        [handle_file(str(val_images[0])), handle_file(str(val_images[4])), handle_file(str(broken))],
        0.25,
        "north slope",
        "Route 9, km 12 <east>",
        "2026-11-20",
        api_name="/inspect",
    )
    assert len(gallery) == 2
    assert summary.startswith("2 photos inspected")
    assert "broken.jpg: the image data is truncated or corrupt" in summary
    rows = table["data"]
    assert rows  # the shipped detector finds objects on these val photos
    assert table["headers"][:4] == ["Photo", "Box", "Object", "Condition"]
    assert {row[0] for row in rows} <= {short_name(val_images[0].name), short_name(val_images[4].name)}
    with open(report) as f:
        lines = list(csv.DictReader(f))
    assert len(lines) == len(rows)  # a photo without detections has a row in both
    assert {line["image"] for line in lines} <= {val_images[0].name, val_images[4].name}  # full names
    assert {(line["survey"], line["site"], line["survey_date"], line["inspector"]) for line in lines} == {
        ("north slope", "Route 9, km 12 <east>", "2026-11-20", "anonymous")  # no accounts: open
    }
    assert all(line["inspected_at"] and line["detector_model"] and line["condition_model"] for line in lines)
    page = open(html).read()  # the HTML report: both photos embedded, the broken one listed
    assert page.count("data:image/jpeg;base64") >= 2 and "broken.jpg" in page and "north slope" in page
    assert "Route 9, km 12 &lt;east&gt;" in page and "Survey date: <b>2026-11-20</b>" in page
    # both photos were stored with their predictions, as pending labels for review
    pending = review_store.review_counts(store[1], survey="north slope")["to_review"]
    assert pending == sum(1 for row in rows if row[1] != "")  # "no objects" rows are not findings
    with store[1].read() as session:
        survey = session.scalar(select(m.Survey).where(m.Survey.name == "north slope"))
        assert (survey.site, survey.date) == ("Route 9, km 12 <east>", "2026-11-20")


def test_a_photo_inspected_before_is_shown_from_the_store_and_the_summary_says_so(client, val_images):
    first = client.predict([handle_file(str(val_images[7]))], 0.25, "", "", "", api_name="/inspect")
    again = client.predict([handle_file(str(val_images[7]))], 0.25, "", "", "", api_name="/inspect")
    assert "inspected by these models before" not in first[1]
    assert "1 photo had been inspected by these models before: their stored findings are shown" in again[1]
    assert again[2]["data"] == first[2]["data"]  # the same findings


def test_a_survey_date_that_is_not_a_date_is_refused(client, val_images):
    # By the event's validator, before the handler: on the page the refusal marks the date field,
    # not the gallery, the table and the reports.
    with pytest.raises(ValidationError, match="not a date like 2026-11-23"):
        client.predict([handle_file(str(val_images[0]))], 0.25, "s", "", "20/11/2026", api_name="/inspect")
    with pytest.raises(ValidationError, match="The site holds a control character"):
        client.predict([handle_file(str(val_images[0]))], 0.25, "s", "a\tb", "", api_name="/inspect")


def test_a_zip_of_a_survey_is_inspected_photo_by_photo(client, val_images, tmp_path):
    import zipfile

    archive = tmp_path / "survey.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in val_images[:3]:
            z.write(path, f"flight1/{path.name}")
        z.writestr("flight1/readme.txt", "notes")
    gallery, summary, _, _, _ = client.predict([handle_file(str(archive))], 0.25, "", "", "", api_name="/inspect")
    assert len(gallery) == 3
    assert "survey.zip/flight1/readme.txt: not a recognised image" in summary


def test_a_batch_answers_photo_by_photo_and_the_reports_come_last(client, inspector, val_images, tmp_path):
    """Streamed: every answer shows the photos inspected so far (in order, with their rows), the
    reports come with the last, for one photo too."""
    from ui.inspect_tab import inspect_uploads_live

    settings = Settings(data_dir=str(tmp_path / "data"))
    paths = [str(p) for p in val_images[12:16]]
    answers = list(inspect_uploads_live(inspector, settings, paths, 0.25, every_s=0.0))
    assert len(answers) >= 2 and [len(a.gallery) for a in answers] == sorted(len(a.gallery) for a in answers)
    assert all(a.report_path is None for a in answers[:-1]) and answers[-1].report_path
    assert len(answers[-1].gallery) == 4 and "Working" not in answers[-1].summary
    for answer in answers[:-1]:
        assert "*Working: " in answer.summary and set(answer.row_photos) <= set(answer.photos)
    # one photo shows as soon as it is drawn, its reports come after (storing it and the report)
    single = list(inspect_uploads_live(inspector, settings, [str(val_images[20])], 0.25, every_s=0.0))
    assert 1 <= len(single) <= 2 and len(single[0].gallery) == 1 and single[-1].report_path

    # through the API: the answers as they stream, the last one whole
    job = client.submit([handle_file(p) for p in paths], 0.25, "", "", "", api_name="/inspect")
    streamed = list(job)
    assert len(streamed[-1][0]) == 4 and streamed[-1][3]


def test_a_survey_zip_may_be_larger_than_a_photo(store, inspector, val_images, tmp_path):
    """The web server's cap is the zip's (a drone survey is GBs), while each photo, alone or in the
    zip, is held to the photo cap with a message naming it; a zip over its own cap is refused."""
    import zipfile

    from PIL import Image

    settings = Settings(data_dir=store[0].data_dir, max_upload_bytes=30_000, max_archive_bytes=600_000)
    demo = build_app(settings, ModelServer(settings, store[1], inspector), store[1])
    demo.launch(max_file_size=settings.largest_upload, prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        small = [p for p in val_images if p.stat().st_size < 30_000][:12]
        archive = tmp_path / "survey.zip"
        with zipfile.ZipFile(archive, "w") as z:
            for path in small:
                z.write(path, path.name)
        big = tmp_path / "big.jpg"
        Image.effect_noise((400, 400), 60).convert("RGB").save(big, quality=95)
        assert 30_000 < big.stat().st_size and archive.stat().st_size > 30_000 * 3
        gallery, summary, *_ = client.predict(
            [handle_file(str(archive)), handle_file(str(big))], 0.25, "", "", "", api_name="/inspect"
        )
        assert len(gallery) == len(small) == 12
        assert f"big.jpg: {big.stat().st_size / 1e6:.1f} MB is over the 0.03 MB limit" in summary
        huge = tmp_path / "huge.zip"
        huge.write_bytes(b"PK" + bytes(700_000))
        with pytest.raises(ValueError, match="exceeds the maximum file size of 600000 bytes"):
            client.predict([handle_file(str(huge))], 0.25, "", "", "", api_name="/inspect")
    finally:
        demo.close()


def test_the_app_has_gradio_delete_uploads_and_results_within_a_day(store, inspector):
    settings, db = store
    assert build_app(settings, ModelServer(settings, db, inspector), db).delete_cache == (2 * 3600, 18 * 3600)


def test_nothing_uploaded_gets_a_hint(client):
    gallery, summary, table, report, html = client.predict([], 0.25, "", "", "", api_name="/inspect")
    assert gallery == [] and report is None and html is None
    assert summary.startswith("Upload one or more slope photos")


def test_dashboard_analysis_and_served_models(client, store):
    settings, db = store
    register_configured_models(db, settings)
    versions = registry.versions(db)
    assert sorted(v.kind for v in versions) == ["condition", "detector"]
    assert all(v.status == "served" for v in versions)

    summary, plots = client.predict("Shipped example data (slopes)", api_name="/analyze")
    assert "350 photos, 1476 objects" in summary
    assert "{" not in summary and "Dataset analysis" not in summary  # counts as text; heading once
    assert len(plots) == 4
    models, training, rows, events = client.predict(api_name="/dashboard_refresh")
    assert "### Served models" in models
    # "@" as an entity: a bare one would be rendered as a mail link
    assert "mAP&#64;0.5" in models and "mAP@" not in models
    assert "Measured on: COCO 101-point, supervision on the 45 real val photos" in models
    recipe = read_card(settings.detector_model).training["recipe"]  # "...; optimizer=AdamW, lr0=0.001, ..."
    assert f"Training: {recipe.split(';')[0]}; `optimizer=AdamW`, `lr0=0.001`" in models  # settings as code
    # The condition model's cross-validation stands beside the type prior a user gets for free.
    assert "Cross-validation of the recipe that built it" in models and "| type prior |" in models
    examples = read_card(settings.condition_model).metrics["examples"]
    assert [item["caption"] for item in training] == [
        "Condition model: held-out accuracy by step",
        f"Condition model: confusion matrix on {examples} held-out objects",
        "Detector: val mAP by epoch",
    ]
    assert {row[0] for row in rows["data"]} == {"detector", "condition"}
    # The shipped models were put into service at the first start: the first changes on record.
    assert {(row[1], row[2]) for row in events["data"]} == {("detector", "configured"), ("condition", "configured")}
    # Only the names the server offers are analysed: a path from a client is refused.
    with pytest.raises(Exception, match="not in the list of choices"):
        client.predict("/etc", api_name="/analyze")
    summary, plots = analysis_view("/etc", settings)  # and the handler itself maps names only
    assert summary.startswith("Cannot analyse '/etc': choose one of") and plots == []


def test_two_photos_with_the_same_name_are_both_kept(client, val_images, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    (tmp_path / "a" / "photo.jpg").write_bytes(val_images[0].read_bytes())
    (tmp_path / "b" / "photo.jpg").write_bytes(val_images[1].read_bytes())
    gallery, summary, _, _, _ = client.predict(
        [handle_file(str(tmp_path / "a" / "photo.jpg")), handle_file(str(tmp_path / "b" / "photo.jpg"))],
        0.25,
        "",
        "",
        "",
        api_name="/inspect",
    )
    assert len(gallery) == 2
    assert summary.startswith("2 photos inspected")
