"""Importing the 9-class folder (real condition labels) over photos the store already holds.

The photos are a few of ``shared/data/slope-conditions`` and their byte-identical copies in
``shared/data/slopes`` (4 classes), copied into tmp folders so each test imports ~20 objects.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from core.images import load_image
from core.statuses import LabelStatus
from core.taxonomy import ALLOWED_CONDITIONS
from core.types import LabelledBox
from core.yolo_labels import parse_label_file, read_class_map
from storage import images as images_store
from storage import labels as labels_store
from storage import models as m
from storage import review as review_store
from storage.formats.yolo_import import IMPORT_AUTHOR, import_yolo_folder
from storage.review import LabelChange
from tests.conftest import DATA_DIR
from tests.storage.helpers import label_events, stored_label

CONDITIONS_DIR = DATA_DIR.parent / "slope-conditions"
# 20 objects; R5_0116's slope drain is drawn at IoU 0.30 in the two folders (a weak match).
STEMS = (
    "Lagoon2and3_B1_15_V_jpg.rf.fb34c86eae5434981cc7a9cbd389b8d9",
    "Lagoon2and3_B1_59_V_jpg.rf.be255790a3774f87c73eccc7d6947347",
    "Lagoon2and3_R5_0116_V_JPG.rf.937d4d626504c53a1d4a2ada81676ca0",
)


def copy_folder(source: Path, target: Path) -> Path:
    """The STEMS photos and label files of ``source``'s val split, with its data.yaml."""
    for sub in ("images", "labels"):
        (target / "val" / sub).mkdir(parents=True)
    shutil.copyfile(source / "data.yaml", target / "data.yaml")
    for stem in STEMS:
        shutil.copyfile(source / "val" / "images" / f"{stem}.jpg", target / "val" / "images" / f"{stem}.jpg")
        shutil.copyfile(source / "val" / "labels" / f"{stem}.txt", target / "val" / "labels" / f"{stem}.txt")
    return target


@pytest.fixture
def four(tmp_path):
    return copy_folder(DATA_DIR, tmp_path / "four")


@pytest.fixture
def nine(tmp_path):
    return copy_folder(CONDITIONS_DIR, tmp_path / "nine")


def nine_objects(nine: Path) -> list[tuple[str, str]]:
    """(object_type, condition) of every object in the 9-class copy."""
    classes = read_class_map(nine)
    return [
        classes[cls]
        for stem in STEMS
        for cls, _ in parse_label_file((nine / "val" / "labels" / f"{stem}.txt").read_text(), len(classes))
    ]


def judged(objects) -> int:
    """How many of ``objects`` ((object_type, ...)) have a condition to judge: vegetation has one
    allowed condition (normal), which a 4-class folder gives it already."""
    return sum(len(ALLOWED_CONDITIONS[t]) > 1 for t, *_ in objects)


def live_labels(db) -> list[m.Label]:
    with db.read() as s:
        return list(s.scalars(select(m.Label).where(m.Label.status != LabelStatus.DELETED).order_by(m.Label.id)))


def count_events(db, action: str) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(m.LabelEvent).where(m.LabelEvent.action == action))


def test_nine_class_import_sets_conditions_on_four_class_labels_once(db, data_dir, four, nine):
    objects = nine_objects(nine)
    assert (len(objects), judged(objects)) == (20, 12)  # 8 vegetation: normal already
    import_yolo_folder(db, data_dir, four, by="ada")

    report = import_yolo_folder(db, data_dir, nine, by="rita")
    assert (report.images_added, report.images_already_present) == (0, 3)
    assert (report.matched, report.conditions_set, report.labels_added, report.conflicts) == (20, 12, 0, [])
    assert report.unchanged == 8
    assert min(report.match_ious) < 0.5  # the weakly overlapping drain matched, not doubled
    labels = live_labels(db)
    assert len(labels) == 20  # no duplicates
    assert sorted((x.object_type, x.condition) for x in labels) == sorted(objects)
    versions = {(x.author, x.status, x.version) for x in labels if x.object_type != "vegetation"}
    assert versions == {(IMPORT_AUTHOR, "accepted", 2)}
    assert count_events(db, "import-condition") == 12
    # The history names who ran each import; the labels' author stays the import (their source).
    drain = next(x for x in labels if x.object_type != "vegetation")
    first, event = label_events(db, drain.id)
    assert (first.actor, first.action) == ("ada", "import")
    assert (event.actor, event.before["condition"], event.after["condition"]) == ("rita", None, drain.condition)

    again = import_yolo_folder(db, data_dir, nine, by="rita")
    assert (again.conditions_set, again.labels_added, again.unchanged) == (0, 0, 20)
    assert "already imported: nothing changed" in again.summary()
    assert count_events(db, "import-condition") == 12
    assert [(x.id, x.version) for x in live_labels(db)] == [(x.id, x.version) for x in labels]


def folder_condition(db, nine: Path, label: m.Label) -> str:
    """The condition the 9-class folder gives the object drawn closest to ``label``."""
    classes = read_class_map(nine)
    with db.read() as s:
        image = s.get(m.Image, label.image_id)
    rows = parse_label_file((nine / "val" / "labels" / f"{Path(image.original_name).stem}.txt").read_text(), 9)
    scale = np.array([image.width, image.height] * 2)
    box = np.array([label.x1, label.y1, label.x2, label.y2])

    def overlap(row: np.ndarray) -> float:
        other = row * scale
        inter = np.prod(np.clip(np.minimum(box[2:], other[2:]) - np.maximum(box[:2], other[:2]), 0, None))
        return inter / (np.prod(box[2:] - box[:2]) + np.prod(other[2:] - other[:2]) - inter)

    same_type = [(overlap(row), classes[cls][1]) for cls, row in rows if classes[cls][0] == label.object_type]
    return max(same_type)[1]


def test_a_reviewers_different_condition_is_a_conflict_and_is_kept(db, data_dir, four, nine):
    import_yolo_folder(db, data_dir, four)
    drain = next(x for x in live_labels(db) if x.object_type == "slope_drain")
    imported = folder_condition(db, nine, drain)
    other = next(c for c in ALLOWED_CONDITIONS["slope_drain"] if c != imported)
    change = LabelChange(drain.id, drain.version, condition=other)
    assert review_store.save_photo(db, drain.image_id, "reviewer-ann", [change]).changed == [drain.id]

    report = import_yolo_folder(db, data_dir, nine)
    [conflict] = report.conflicts
    assert (conflict.label_id, conflict.author) == (drain.id, "reviewer-ann")
    assert (conflict.existing, conflict.imported) == (("slope_drain", other), ("slope_drain", imported))
    assert f"label {drain.id} is slope_drain/{other} (by reviewer-ann)" in report.summary()
    assert (report.conditions_set, report.labels_added) == (judged(nine_objects(nine)) - 1, 0)
    kept = stored_label(db, drain.id)
    assert (kept.condition, kept.status, kept.author, kept.version) == (other, "corrected", "reviewer-ann", 2)
    assert len(live_labels(db)) == 20

    again = import_yolo_folder(db, data_dir, nine)  # still a conflict, still nothing changed
    assert (len(again.conflicts), again.conditions_set, again.labels_added) == (1, 0, 0)


def test_object_with_no_counterpart_is_added_on_first_import(db, data_dir, four, nine):
    first = four / "val" / "labels" / f"{STEMS[0]}.txt"
    rows = first.read_text().splitlines()
    first.write_text("\n".join(rows[1:]) + "\n")
    import_yolo_folder(db, data_dir, four)
    report = import_yolo_folder(db, data_dir, nine)
    added = nine_objects(nine)[0]  # the object the 4-class copy lost (no vegetation: it had a condition to set)
    assert judged([added]) == 1
    assert (report.matched, report.conditions_set, report.labels_added, report.added_unmatched) == (19, 11, 1, 1)
    labels = live_labels(db)
    assert len(labels) == 20 and all(x.condition is not None for x in labels)
    assert count_events(db, "import") == 20  # 19 from the 4-class import, 1 added now


def _model_labels(db, data_dir, folder, model_box, model_condition):
    """The first STEMS photo of ``folder`` as an inspection left it: one pending label (author
    model) per object of the folder, at ``model_box(box in pixels)`` with ``model_condition``."""
    classes = read_class_map(folder)
    photo = folder / "val" / "images" / f"{STEMS[0]}.jpg"
    rows = parse_label_file((folder / "val" / "labels" / f"{STEMS[0]}.txt").read_text(), len(classes))
    size = load_image(photo.read_bytes()).size
    people = []
    with db.write() as s:
        image, _ = images_store.add_image(s, data_dir, photo.read_bytes(), photo.name, size, "inspector")
        for cls, box in rows:
            object_type, condition = classes[cls]
            people.append((object_type, condition, tuple(box * np.array(size * 2))))
            model = LabelledBox(model_box(box * np.array(size * 2), size), object_type, model_condition(object_type))
            labels_store.new_label(s, image.id, model, LabelStatus.PENDING, "model", "ann", "create", 0.3)
    return image.id, people


def test_pending_model_labels_take_the_imported_box_and_condition(db, data_dir, nine):
    """Labels an inspection opened (author model, pending) were never seen by a person: they take
    the folder's box and condition, and say they were corrected (the model's box was a few pixels
    off, or its condition wrong); only the folder's box was drawn by a person."""

    def shifted(box, size):
        return tuple(np.clip(box + 2, 0, size * 2))

    image_id, people = _model_labels(
        db, data_dir, nine, shifted, lambda t: "damaged" if t != "vegetation" else "normal"
    )
    report = import_yolo_folder(db, data_dir, nine)
    # 5 pending labels matched (vegetation had its condition already); the two other photos are new.
    assert (report.conditions_set, report.pending_reviewed, report.added_unmatched, report.labels_added) == (
        5, 5, 0, 15
    )  # fmt: skip
    assert report.conflicts == []
    labels = [x for x in live_labels(db) if x.image_id == image_id]
    assert_objects(labels, people)
    assert {(x.status, x.author, x.version) for x in labels} == {("corrected", IMPORT_AUTHOR, 2)}
    assert import_yolo_folder(db, data_dir, nine).changed_nothing


def test_a_pending_label_the_folder_agrees_with_is_accepted(db, data_dir, nine):
    conditions = iter(condition for _, condition, _ in sorted_rows(nine))
    image_id, _ = _model_labels(db, data_dir, nine, lambda box, size: tuple(box), lambda t: next(conditions))
    assert import_yolo_folder(db, data_dir, nine).pending_reviewed == 5
    assert {x.status for x in live_labels(db) if x.image_id == image_id} == {"accepted"}  # kept as the model had it


def test_a_box_only_folder_gives_pending_labels_its_boxes_and_leaves_their_condition_unjudged(db, data_dir, four):
    """A 4-class folder says where the objects are, nothing of their condition: the model's
    condition is not accepted along with the person's box."""
    image_id, people = _model_labels(
        db, data_dir, four, lambda box, size: tuple(np.clip(box + 3, 0, size * 2)), lambda t: "normal"
    )
    report = import_yolo_folder(db, data_dir, four)
    vegetation = sum(t == "vegetation" for t, _, _ in people)  # normal: its only condition
    assert (report.pending_reviewed, report.conditions_set) == (len(people), vegetation)
    labels = [x for x in live_labels(db) if x.image_id == image_id]
    assert_objects(labels, [(t, "normal" if t == "vegetation" else None, box) for t, _, box in people])
    assert {x.status for x in labels} == {"corrected"}


def assert_objects(labels, objects):
    """``labels`` are ``objects`` ((object_type, condition, box in pixels)), in some order."""
    stored = sorted((x.object_type, x.condition or "", x.x1, x.y1, x.x2, x.y2) for x in labels)
    wanted = sorted((t, c or "", *box) for t, c, box in objects)
    assert [row[:2] for row in stored] == [row[:2] for row in wanted]
    assert np.allclose([row[2:] for row in stored], [row[2:] for row in wanted])


def sorted_rows(folder):
    """(object_type, condition, box) of the first STEMS photo's objects, in file order."""
    classes = read_class_map(folder)
    rows = parse_label_file((folder / "val" / "labels" / f"{STEMS[0]}.txt").read_text(), len(classes))
    return [(*classes[cls], box) for cls, box in rows]


def test_nine_class_import_into_an_empty_store(db, data_dir, nine):
    report = import_yolo_folder(db, data_dir, nine)
    assert (report.images_added, report.labels_added, report.matched, report.added_unmatched) == (3, 20, 0, 0)
    assert sorted((x.object_type, x.condition) for x in live_labels(db)) == sorted(nine_objects(nine))


def test_a_deleted_label_is_not_brought_back_by_a_second_import(db, data_dir, four):
    import_yolo_folder(db, data_dir, four)
    label = live_labels(db)[0]
    review_store.save_photo(db, label.image_id, "reviewer-ann", [LabelChange(label.id, label.version, delete=True)])
    report = import_yolo_folder(db, data_dir, four)
    assert (report.labels_added, report.left_deleted, report.unchanged) == (0, 1, 19)
    assert len(live_labels(db)) == 19


def test_ambiguous_weak_overlap_is_added_and_another_type_on_the_same_box_is_a_conflict(db, data_dir, four, nine):
    for folder in (four, nine):  # one photo, synthetic boxes
        for stem in STEMS[1:]:
            (folder / "val" / "images" / f"{stem}.jpg").unlink()
    # Two 4-class drains side by side; the 9-class drain between them overlaps each at IoU 1/3,
    # so which one it is cannot be told. A 4-class vegetation box is a damaged rock toe in the 9.
    (four / "val" / "labels" / f"{STEMS[0]}.txt").write_text(
        "1 0.3 0.5 0.2 0.2\n1 0.5 0.5 0.2 0.2\n3 0.8 0.2 0.2 0.2\n"
    )
    (nine / "val" / "labels" / f"{STEMS[0]}.txt").write_text("2 0.4 0.5 0.2 0.2\n1 0.8 0.2 0.2 0.2\n")
    import_yolo_folder(db, data_dir, four)
    report = import_yolo_folder(db, data_dir, nine)
    assert (report.matched, report.labels_added) == (0, 1)
    [conflict] = report.conflicts
    assert (conflict.existing, conflict.imported) == (("vegetation", "normal"), ("rock_toe", "damaged"))
    assert conflict.reason == "object type differs"
    assert sorted((x.object_type, x.condition or "") for x in live_labels(db)) == [
        ("slope_drain", ""),
        ("slope_drain", ""),
        ("slope_drain", "normal"),
        ("vegetation", "normal"),
    ]
