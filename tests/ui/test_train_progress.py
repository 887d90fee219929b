"""The Train tab's job progress, read from real runs in a SQLite store."""

import pytest

from core.settings import Settings
from storage import models as m
from storage.db import Database
from ui.train_tab import progress_html, run_rows


@pytest.fixture
def db(tmp_path):
    db = Database.from_settings(Settings(data_dir=str(tmp_path)))
    yield db
    db.dispose()


def add_run(db, kind, status, progress):
    with db.write() as session:
        session.add(m.TrainingRun(kind=kind, status=status, settings={}, log="", progress=progress))


def test_a_stepped_job_shows_its_step_and_figures(db):
    add_run(db, "condition", "running", {"step": 3, "total": 10, "loss": 0.52})
    html = progress_html(db)
    assert "<b>running</b>, step 3 of 10 · loss 0.520" in html and "value='3' max='10'" in html
    assert run_rows(db)[0][3] == "3 / 10"


def test_a_job_without_steps_shows_no_step_count(db):
    add_run(db, "quantize", "succeeded", {})
    html = progress_html(db)
    assert "step" not in html and "value='1' max='1'" in html  # ended: a full bar, not "step 0 of 1"
    assert run_rows(db)[0][3] == "–"


def test_version_figures_read_as_words(db):
    from core.model_card import read_card
    from core.settings import PROJECT_ROOT
    from storage.registry import record_version
    from ui.train_tab import version_rows

    folder = PROJECT_ROOT / "models" / "condition"
    record_version(db, read_card(folder), folder)
    [row] = version_rows(db)
    assert "macro-F1 0." in row[4] and "calibration error (ECE) 0." in row[4]
    assert "macro f1" not in row[4] and "ece " not in row[4] and "ECE before calibration 0." in row[4]


@pytest.mark.parametrize(
    "photos, outlook",
    [
        (14, "too few for the gate even with every photo ("),
        (217, "held out for the gate: 196 objects on 48 photos (split by photo, fixed): enough for the gate to judge"),
    ],
)
def test_the_reviewed_data_says_whether_the_gate_could_judge(tmp_path, photos, outlook):
    """On the real condition photos: 14 are too few even together; all of them are enough."""
    from core.settings import PROJECT_ROOT
    from storage.formats.yolo_import import import_yolo_folder
    from ui.train_tab import dataset_markdown

    source = PROJECT_ROOT.parent / "shared" / "data" / "slope-conditions"
    folder = tmp_path / "conditions"
    images = sorted((source / "train" / "images").iterdir())[:photos] + sorted((source / "val" / "images").iterdir())
    for image in images[:photos]:
        split = image.parent.parent.name
        for sub in ("images", "labels"):
            (folder / split / sub).mkdir(parents=True, exist_ok=True)
        (folder / split / "images" / image.name).write_bytes(image.read_bytes())
        label = source / split / "labels" / f"{image.stem}.txt"
        (folder / split / "labels" / label.name).write_text(label.read_text())
    (folder / "data.yaml").write_text((source / "data.yaml").read_text())
    settings = Settings(data_dir=str(tmp_path / "data"))
    db = Database.from_settings(settings)
    import_yolo_folder(db, settings.data_dir, folder)
    text = dataset_markdown(db, settings)
    assert "held out for the gate:" in text and outlook in text
