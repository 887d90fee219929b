import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from core.settings import PROJECT_ROOT
from core.yolo_labels import parse_label_file
from storage import models as m
from storage.db import Database
from storage.formats.export import export, reviewed_images
from storage.formats.yolo_import import import_yolo_folder
from storage.users import add_user
from tests.conftest import DATA_DIR

pytestmark = pytest.mark.slow  # real training, subprocesses or a browser: `pytest -m "not slow"` skips them


def label_set(db):
    """Reviewed labels as comparable tuples: (image sha, type, condition, rounded box)."""
    with db.read() as s:
        rows = s.execute(
            select(m.Image.sha256, m.Label)
            .join(m.Label, m.Label.image_id == m.Image.id)
            .where(m.Label.status.in_(("accepted", "corrected", "added")))
        ).all()
    return sorted(
        (sha, lab.object_type, lab.condition, tuple(round(v, 1) for v in (lab.x1, lab.y1, lab.x2, lab.y2)))
        for sha, lab in rows
    )


def test_slopes_import_export_reimport_gives_the_same_labels(db, data_dir, tmp_path):
    report = import_yolo_folder(db, data_dir, DATA_DIR, survey="roboflow")
    assert report.images_added + report.images_already_present == 350
    assert report.per_split == {"train": 295, "val": 42}  # 13 files are byte-identical copies
    assert len(report.duplicates) == 13
    assert report.labels_added == 1441
    assert [reason for _, reason in report.skipped] == [
        "a box under 1 px was left out: [0.6117, 0.4235, 0.6144, 0.4261]"
    ]
    original = label_set(db)
    # 4-class data: no condition, but vegetation's only one (normal)
    assert len(original) == 1441
    assert {(t == "vegetation", c) for _, t, c, _ in original} == {(False, None), (True, "normal")}

    again = import_yolo_folder(db, data_dir, DATA_DIR)
    assert (again.images_added, again.labels_added) == (0, 0)
    assert label_set(db) == original

    counts = export(db, data_dir, "yolo", tmp_path / "yolo")
    assert counts["objects"] == 1441
    spec = yaml.safe_load((tmp_path / "yolo" / "data.yaml").read_text())
    assert list(spec["names"].values()) == ["rock_toe", "slope_drain", "toe_drain", "vegetation"]

    fresh = Database(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    fresh.upgrade()
    import_yolo_folder(fresh, tmp_path / "fresh-data", tmp_path / "yolo")
    # box coordinates went through normalized text with 6 decimals: equal to 0.1 px
    assert label_set(fresh) == original


def test_nine_class_names_polygons_and_mixed_files(db, data_dir, tmp_path):
    folder = tmp_path / "nine"
    (folder / "train" / "images").mkdir(parents=True)
    (folder / "train" / "labels").mkdir(parents=True)
    names = [
        "rock toe",
        "rock toe damaged",
        "slope drain",
        "slope drain blocked",
        "slope drain damaged",
        "Toe drain",
        "Toe drain- Blocked",
        "Toe drain- Damaged",
        "vegetation",
    ]
    (folder / "data.yaml").write_text(yaml.safe_dump({"nc": 9, "names": names}))
    photos = sorted((DATA_DIR / "val" / "images").glob("*.jpg"))[:3]
    for photo in photos:
        shutil.copyfile(photo, folder / "train" / "images" / photo.name)
    stem = [p.stem for p in photos]
    (folder / "train" / "labels" / f"{stem[0]}.txt").write_text(
        "6 0.5 0.5 0.2 0.1\n"  # a box: toe drain, blocked
        "1 0.1 0.1 0.3 0.1 0.3 0.4 0.1 0.4\n"  # a polygon in the same file: rock toe, damaged
    )
    (folder / "train" / "labels" / f"{stem[1]}.txt").write_text("2 0.5 0.5 0.2 0.2\n")  # bare name = normal
    (folder / "train" / "labels" / f"{stem[2]}.txt").write_text("12 0.5 0.5 0.2 0.2\n")  # bad class
    (folder / "train" / "images" / "notes.txt").write_text("x")
    report = import_yolo_folder(db, data_dir, folder)
    assert report.labels_added == 3
    skipped = dict(report.skipped)
    assert "class 12 is not one of data.yaml's class numbers" in skipped[f"train/images/{photos[2].name}"]
    assert skipped["train/images/notes.txt"] == "not an image file name"
    found = {(t, c) for _, t, c, _ in label_set(db)}
    assert found == {("toe_drain", "blocked"), ("rock_toe", "damaged"), ("slope_drain", "normal")}
    polygon = [box for _, t, _, box in label_set(db) if t == "rock_toe"][0]
    width = 224 if polygon[2] < 224 else 312
    assert polygon[0] == pytest.approx(0.1 * width, abs=0.2) and polygon[2] == pytest.approx(0.3 * width, abs=0.2)

    counts = export(db, data_dir, "yolo9", tmp_path / "y9")
    assert counts == {
        "images": 2,
        "objects": 3,
        "left_out_no_condition": 0,
        "photos_left_out_no_condition": 0,
        "left_out_file_missing": 0,
    }
    coco_counts = export(db, data_dir, "coco", tmp_path / "coco")
    split = next(iter(coco_counts))
    document = json.loads((tmp_path / "coco" / split / "_annotations.coco.json").read_text())
    assert {a["attributes"]["condition"] for a in document["annotations"]} == {"blocked", "damaged", "normal"}


@pytest.mark.parametrize("line, error", [("0 0.5 0.5", "neither a box nor a polygon"), ("a b c d e", "not numbers")])
def test_bad_label_rows(line, error):
    with pytest.raises(ValueError, match=error):
        parse_label_file(line, 4)


def test_hf_export_loads_back(db, data_dir, tmp_path):
    import datasets

    import_yolo_folder(db, data_dir, DATA_DIR)
    export(db, data_dir, "hf", tmp_path / "hf")
    loaded = datasets.load_from_disk(str(tmp_path / "hf"))
    assert set(loaded) == {"train", "val"}
    # every photo with a label, and the 3 whose label file is empty (background to a detector)
    assert len(loaded["train"]) + len(loaded["val"]) == 334 + 3
    row = next(r for r in loaded["val"] if r["objects"]["bbox"])
    assert row["image"].size == (row["width"], row["height"])
    for (x, y, w, h), area in zip(row["objects"]["bbox"], row["objects"]["area"], strict=True):  # COCO's [x, y, w, h]
        assert w > 0 and h > 0 and x + w <= row["width"] + 0.01 and y + h <= row["height"] + 0.01
        assert area == pytest.approx(w * h, rel=1e-4)
    assert sum(len(d["objects"]["bbox"]) for d in (loaded["train"], loaded["val"]) for d in d) == 1441


def test_a_killed_import_leaves_a_consistent_database_that_a_second_import_completes(tmp_path):
    data_dir = tmp_path / "data"
    url = f"sqlite:///{tmp_path / 'kill.sqlite3'}"
    env = {**os.environ, "SLOPE_DATA_DIR": str(data_dir), "DATABASE_URL": url}
    command = [sys.executable, "-m", "cli", "import", str(DATA_DIR), "--by", "rita"]
    db = Database(url)
    db.upgrade()
    add_user(db, "rita", "reviewer", "a long password")
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:  # kill it once some images, but not all, are in
        time.sleep(0.2)
        try:
            with db.read() as s:
                if s.scalar(select(func.count()).select_from(m.Image)) >= 40:
                    break
        except Exception:
            continue  # the schema is not there yet
    process.send_signal(signal.SIGKILL)
    process.wait()
    with db.read() as s:
        images = s.scalar(select(func.count()).select_from(m.Image))
        orphans = s.scalar(select(func.count()).select_from(m.Image).where(~m.Image.id.in_(select(m.Label.image_id))))
        events = s.scalar(select(func.count()).select_from(m.LabelEvent))
        labels = s.scalar(select(func.count()).select_from(m.Label))
    assert 40 <= images < 337, "the import was not interrupted half-way"
    assert labels == events  # each label came with its event, in the same transaction
    assert orphans <= 3  # only the images that have no boxes at all
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(m.Image)) == 337
        assert s.scalar(select(func.count()).select_from(m.Label)) == 1441
    db.dispose()


def test_an_export_replaces_only_an_earlier_export_and_leaves_out_what_it_cannot_export(db, data_dir, tmp_path):
    """`slope export --format yolo data` once deleted the store it was pointed at; a photo whose
    file is gone failed the whole export; a 9-class export kept photos whose objects had no
    condition, with those objects left out (background to a detector)."""
    import_yolo_folder(db, data_dir, DATA_DIR)  # 4 classes: no conditions
    mine = tmp_path / "documents"
    mine.mkdir()
    (mine / "thesis.docx").write_text("years of work")
    for taken in (mine, Path(data_dir)):
        with pytest.raises(ValueError, match="exists and is not an earlier export"):
            export(db, data_dir, "yolo", taken)
    assert (mine / "thesis.docx").is_file() and any(Path(data_dir).rglob("*.jpg"))
    first = export(db, data_dir, "yolo", tmp_path / "out")
    (next(Path(data_dir).rglob("*.jpg"))).unlink()  # a stored photo lost
    again = export(db, data_dir, "yolo", tmp_path / "out")  # an earlier export: replaced
    assert (again["images"], again["left_out_file_missing"]) == (first["images"] - 1, 1)
    nine = export(db, data_dir, "yolo9", tmp_path / "nine")
    # Kept: photos with nothing to judge (only vegetation, or nothing on them); the rest left out.
    exported = [p for p in reviewed_images(db, data_dir, whole_photos=True) if Path(p.path).is_file()]
    nothing_to_judge = [p for p in exported if all(o.condition is not None for o in p.objects)]
    assert 0 < nine["images"] == len(nothing_to_judge) < len(exported)
    assert nine["photos_left_out_no_condition"] == len(exported) - len(nothing_to_judge)
    assert len(exported) == again["images"]
