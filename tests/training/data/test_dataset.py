"""Reading a YOLO folder for training and evaluation: boxes in the upright frame, as the import,
the models and the crops see the photo."""

import io
import logging
import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import DATA_DIR
from training.data.dataset import from_yolo_folder, load, read_yolo_folder
from training.data.examples import crops_from_photos


def test_a_photo_stored_turned_with_exif_orientation_gives_its_boxes_in_the_upright_frame(tmp_path):
    """Phones and some drones store a photo sideways with orientation 6; labels are drawn on it
    upright (ultralytics' exif_size): its raw size swapped the boxes' axes."""
    folder = tmp_path / "export"
    (folder / "train" / "images").mkdir(parents=True)
    (folder / "train" / "labels").mkdir(parents=True)
    (folder / "data.yaml").write_text("names: [rock_toe, slope_drain, toe_drain, vegetation]\n")
    upright = Image.open(sorted((DATA_DIR / "val" / "images").iterdir())[0]).convert("RGB").resize((400, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    upright.transpose(Image.Transpose.ROTATE_90).save(folder / "train" / "images" / "p.jpg", exif=exif.tobytes())
    (folder / "train" / "labels" / "p.txt").write_text("0 0.25 0.5 0.1 0.2\n")  # upright: x 80-120, y 80-120
    (photo,) = from_yolo_folder(folder)
    assert (photo.width, photo.height) == (400, 200)
    assert [round(v) for v in photo.objects[0].box] == [80, 80, 120, 120]


def _folder(tmp_path: Path, photos: int = 3) -> Path:
    """A 4-class YOLO folder of ``photos`` real photos named 0.jpg, 1.jpg... with one box each."""
    folder = tmp_path / "export"
    (folder / "train" / "images").mkdir(parents=True)
    (folder / "train" / "labels").mkdir(parents=True)
    (folder / "data.yaml").write_text("names: [rock_toe, slope_drain, toe_drain, vegetation]\n")
    for k, source in enumerate(sorted((DATA_DIR / "val" / "images").glob("*.jpg"))[:photos]):
        shutil.copyfile(source, folder / "train" / "images" / f"{k}.jpg")
        (folder / "train" / "labels" / f"{k}.txt").write_text("0 0.5 0.5 0.3 0.3\n")
    return folder


def _label(text: str | bytes):
    def change(folder: Path) -> None:
        path = folder / "train" / "labels" / "1.txt"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())

    return change


def _sparse(relative: str, size: int):
    def change(folder: Path) -> None:
        with open(folder / relative, "wb") as file:
            file.truncate(size)  # sparse: no disk, yet reading it would load it all

    return change


def _cut(relative: str, fmt: str):
    """A real photo as ``fmt`` cut off halfway through its pixel data: its header reads whole
    (size, EXIF), so only decoding the pixels finds it."""

    def change(folder: Path) -> None:
        buffer = io.BytesIO()
        Image.open(folder / "train" / "images" / "0.jpg").save(buffer, format=fmt)
        (folder / relative).write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        with Image.open(folder / relative) as header:
            assert header.size == Image.open(folder / "train" / "images" / "0.jpg").size

    return change


BAD_FILES = [
    ("text named .jpg", lambda f: (f / "train/images/notes.jpg").write_text("notes"), "train/images/notes.jpg"),
    ("JPEG cut short", _cut("train/images/cut.jpg", "JPEG"), "train/images/cut.jpg"),
    ("PNG cut short", _cut("train/images/cut.png", "PNG"), "train/images/cut.png"),
    ("photo over the size limit", _sparse("train/images/huge.jpg", 200_000_000), "train/images/huge.jpg"),
    ("label with nan", _label("0 nan 0.5 0.3 0.3\n"), "train/labels/1.txt"),
    ("label with inf", _label("0 0.5 0.5 0.3 0.3\n1 0.5 inf 0.3 0.3\n"), "train/labels/1.txt"),
    ("label not UTF-8", _label(b"\xff\xfe\x00"), "train/labels/1.txt"),
    ("label class 9 of 4", _label("9 0.5 0.5 0.3 0.3\n"), "train/labels/1.txt"),
    ("label in pixels", _label("0 320 240 64 48\n"), "train/labels/1.txt"),
    ("box past the edge", _label("0 0.9 0.5 0.6 0.3\n"), "train/labels/1.txt"),
    ("negative width", _label("0 0.5 0.5 -0.3 0.3\n"), "train/labels/1.txt"),
    ("polygon point out", _label("0 0.1 0.1 0.3 0.1 1.7 0.4\n"), "train/labels/1.txt"),
    ("label over the size limit", _sparse("train/labels/1.txt", 20_000_000), "train/labels/1.txt"),
]


@pytest.mark.parametrize("change, culprit", [case[1:] for case in BAD_FILES], ids=[case[0] for case in BAD_FILES])
def test_a_bad_photo_or_label_file_leaves_its_photo_out_by_name_and_the_rest_are_read(
    tmp_path, caplog, change, culprit
):
    """One bad file failed the whole folder (train analyze, evaluate, build, the condition jobs).
    A bad label line leaves the whole photo out: its other objects would be taught as background,
    and a line clipped into the photo would be a box of nothing in particular."""
    folder = _folder(tmp_path)
    change(folder)
    with caplog.at_level(logging.WARNING):
        photos = from_yolo_folder(folder)
    left_out = "train/images/1.jpg" if culprit.startswith("train/labels/1") else culprit
    kept = {"train/images/0.jpg", "train/images/1.jpg", "train/images/2.jpg"} - {left_out}
    assert {f"train/images/{p.name}" for p in photos} == kept
    read = read_yolo_folder(folder)
    assert [p.name for p in read.photos] == [p.name for p in photos]
    assert [name for name, _ in read.left_out] == [culprit]
    assert all(len(p.objects) == 1 for p in photos)
    total = 4 if culprit.startswith("train/images/") else 3  # a file added, or one of the 3 spoilt
    assert f"export: 1 of {total} photos left out:\n  {culprit}: " in caplog.text
    assert str(tmp_path) not in caplog.text  # the folder's place on this machine is not a reader's business


def test_the_reasons_say_what_is_wrong_in_plain_words(tmp_path):
    folder = _folder(tmp_path, photos=6)
    (folder / "train" / "images" / "notes.jpg").write_text("notes")
    _sparse("train/images/huge.jpg", 200_000_000)(folder)
    (folder / "train" / "labels" / "1.txt").write_text("0 320 240 64 48\n")
    (folder / "train" / "labels" / "2.txt").write_bytes(b"\xff\xfe\x00")
    (folder / "train" / "labels" / "3.txt").write_text("0 0.5 0.5 0.3 0.3\n9 0.5 0.5 0.3 0.3\n")
    _sparse("train/labels/4.txt", 20_000_000)(folder)
    read = read_yolo_folder(folder)
    assert [p.name for p in read.photos] == ["0.jpg", "5.jpg"]
    assert dict(read.left_out) == {
        "train/images/huge.jpg": "200.0 MB is over the 100 MB limit",
        "train/images/notes.jpg": "not a recognised image (expected JPEG, PNG, WebP, BMP or TIFF)",
        "train/labels/1.txt": "line 1 has a coordinate outside 0 to 1 (they are fractions of the photo's width "
        "and height)",
        "train/labels/2.txt": "the label file is not UTF-8 text",
        "train/labels/3.txt": "line 2: class 9 is not one of data.yaml's class numbers",
        "train/labels/4.txt": "the label file is 20.0 MB, over the 10 MB limit",
    }
    assert read.note().startswith("6 of 8 photos left out (train/labels/1.txt: line 1 has a coordinate outside")
    assert read.note().endswith("; and 1 more)")


def test_a_box_a_rounding_past_the_edge_is_kept_and_clipped(tmp_path):
    """Exporters round: a box drawn to the edge may end a hair past it. That is not a bad line."""
    folder = _folder(tmp_path, photos=1)
    (folder / "train" / "labels" / "0.txt").write_text("0 0.9 0.5 0.2005 0.3\n1 0.5 0.5 0.3 1.004\n")
    (photo,) = from_yolo_folder(folder)
    assert [round(v, 3) for v in photo.objects[0].box][2] == photo.width
    assert photo.objects[1].box[3] == photo.height


def test_a_folder_whose_every_photo_is_bad_is_an_error_naming_them(tmp_path):
    folder = _folder(tmp_path, photos=2)
    (folder / "train" / "labels" / "0.txt").write_text("0 nan 0.5 0.3 0.3\n")
    (folder / "train" / "labels" / "1.txt").write_text("7 0.5 0.5 0.3 0.3\n")
    with pytest.raises(ValueError, match=r"none of the photos of export could be read: 2 of 2 photos left out "):
        from_yolo_folder(folder)


def test_load_says_in_the_provenance_which_photos_its_figures_leave_out(tmp_path, caplog):
    """What `slope train analyze/evaluate --data FOLDER` print and write: the report's data line."""
    folder = _folder(tmp_path)
    (folder / "train" / "images" / "notes.jpg").write_text("notes")
    with caplog.at_level(logging.WARNING):
        photos, provenance = load(str(folder), None)
    assert len(photos) == 3
    assert provenance.endswith(
        "(real photos, human boxes); 1 of 4 photos left out "
        "(train/images/notes.jpg: not a recognised image (expected JPEG, PNG, WebP, BMP or TIFF))"
    )
    assert "train/images/notes.jpg" in caplog.text


@pytest.mark.parametrize("stored", [False, True], ids=["folder", "export of the store"])
def test_a_photo_cut_short_is_left_out_with_its_reason_and_a_run_on_the_rest_goes_through(tmp_path, stored):
    """A photo whose header reads but whose data is cut off was kept, and failed the first run
    that decoded it (evaluate, the gate, the condition crops) for every photo."""
    folder = _folder(tmp_path)
    _cut("train/images/cut.jpg", "JPEG")(folder)
    (folder / "train" / "labels" / "cut.txt").write_text("0 0.5 0.5 0.3 0.3\n")
    read = read_yolo_folder(folder, stored=stored)
    assert [p.name for p in read.photos] == ["0.jpg", "1.jpg", "2.jpg"]
    ((name, why),) = read.left_out
    assert name == "train/images/cut.jpg"
    assert why.startswith("the image data is truncated or corrupt (image file is truncated")
    assert len(crops_from_photos(read.photos, 0.1)) == 3  # the pixels of every photo kept decode
