"""``slope import`` of a YOLO folder holding a file too big to be a photo or a label file, or a
label line outside the photo: that photo is skipped by name with the reason, the rest imported."""

import shutil
import tracemalloc
from pathlib import Path

import pytest

from storage.formats.yolo_import import import_yolo_folder


@pytest.fixture
def folder(tmp_path, val_images) -> Path:
    """Two real photos, 0.jpg and 1.jpg, with a box each, and a 4-type data.yaml."""
    folder = tmp_path / "export"
    (folder / "train" / "images").mkdir(parents=True)
    (folder / "train" / "labels").mkdir(parents=True)
    (folder / "data.yaml").write_text("names: [rock_toe, slope_drain, toe_drain, vegetation]\n")
    for k, source in enumerate(val_images[:2]):
        shutil.copyfile(source, folder / "train" / "images" / f"{k}.jpg")
        (folder / "train" / "labels" / f"{k}.txt").write_text("0 0.5 0.5 0.3 0.3\n")
    return folder


@pytest.mark.parametrize(
    "relative, size, skipped",
    [
        ("train/images/huge.jpg", 300_000_000, ("train/images/huge.jpg", "300.0 MB is over the 100 MB limit")),
        ("train/labels/1.txt", 60_000_000, ("train/images/1.jpg", "the label file is 60.0 MB, over the 10 MB limit")),
    ],
    ids=["photo", "label file"],
)
def test_a_huge_file_is_refused_before_it_is_read(db, data_dir, folder, relative, size, skipped):
    """The photo was read whole and only then compared with the 100 MB limit (a 5 GB file took
    5.4 GB of memory), the label file read whole with no limit at all (a 1 GB one took 12.7 GB)."""
    with open(folder / relative, "wb") as file:
        file.truncate(size)  # sparse: no disk, yet reading it would load it all
    tracemalloc.start()
    try:
        report = import_yolo_folder(db, data_dir, folder)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.skipped == [skipped]
    assert report.images_added == (2 if "images" in relative else 1)
    assert peak < 30_000_000  # the photos kept, the store's work: far under the file's size


@pytest.mark.parametrize(
    "line, reason",
    [
        (
            "0 320 240 64 48",
            "line 2 has a coordinate outside 0 to 1 (they are fractions of the photo's width and height)",
        ),
        ("0 0.9 0.5 0.6 0.3", "line 2 has a box that reaches past the photo's edge"),
        ("0 0.5 0.5 -0.3 0.3", "line 2 has a coordinate outside 0 to 1"),
        ("0 0.1 0.1 0.3 0.1 1.7 0.4", "line 2 has a coordinate outside 0 to 1"),
    ],
    ids=["pixels", "past the edge", "negative width", "polygon point out"],
)
def test_a_label_line_outside_the_photo_skips_the_photo_instead_of_being_clipped_into_a_box(
    db, data_dir, folder, line, reason
):
    """Clipped to the photo, such a line became a box of something else, silently."""
    (folder / "train" / "labels" / "1.txt").write_text(f"0 0.5 0.5 0.2 0.2\n{line}\n")
    report = import_yolo_folder(db, data_dir, folder)
    (name, why), *others = report.skipped
    assert (name, others) == ("train/images/1.jpg", [])
    assert why.startswith(reason)
    assert (report.images_added, report.labels_added) == (1, 1)


def test_a_box_a_rounding_past_the_edge_is_imported_clipped(db, data_dir, folder):
    """Exporters round: a box drawn to the edge may end a hair past it. That is not a bad line."""
    (folder / "train" / "labels" / "1.txt").write_text("0 0.9 0.5 0.2005 0.3\n")
    report = import_yolo_folder(db, data_dir, folder)
    assert (report.skipped, report.labels_added) == ([], 2)
