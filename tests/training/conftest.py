"""Fixtures for the training tests: small copies of the real data, so a run takes seconds."""

from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT
from tests.conftest import DATA_DIR

CONDITIONS_DATA = PROJECT_ROOT.parent / "shared" / "data" / "slope-conditions"

# Three val photos with every object type between them, and relations among their objects.
SMALL_VAL = ("Lagoon1_B0_199_V_jpg", "DJI_0004_W_JPG", "DJI_0020_W_JPG")


def copy_photos(folder: Path, photos: dict[str, list[Path]], source: Path = DATA_DIR) -> Path:
    """A YOLO folder at ``folder`` holding these photos of the real data in ``source``, per
    split, with their labels and the real data.yaml."""
    for split, images in photos.items():
        (folder / split / "images").mkdir(parents=True)
        (folder / split / "labels").mkdir(parents=True)
        for image in images:
            (folder / split / "images" / image.name).write_bytes(image.read_bytes())
            label = source / split / "labels" / f"{image.stem}.txt"
            (folder / split / "labels" / label.name).write_text(label.read_text())
    (folder / "data.yaml").write_text((source / "data.yaml").read_text())
    return folder


def small_val_images() -> list[Path]:
    images = sorted((DATA_DIR / "val" / "images").glob("*.jpg"))
    return [next(p for p in images if p.name.startswith(prefix)) for prefix in SMALL_VAL]


@pytest.fixture
def tiny_data(tmp_path):
    """Two train and one val photo of the real data, so a run takes seconds."""
    return copy_photos(
        tmp_path / "data",
        {
            split: sorted((DATA_DIR / split / "images").glob("Lagoon*.jpg"))[:count]
            for split, count in (("train", 2), ("val", 1))
        },
    )


@pytest.fixture
def small_val(tmp_path):
    """The three ``SMALL_VAL`` photos as the val split of a YOLO folder."""
    return copy_photos(tmp_path / "small", {"val": small_val_images()})


@pytest.fixture
def tiny_conditions(tmp_path):
    """Ten photos of the real condition data (9 classes), and a 4-class folder of two photos
    that are not among them, to distil on: a whole build in seconds."""
    photos = sorted((CONDITIONS_DATA / "train" / "images").iterdir())[:10]
    conditions = copy_photos(tmp_path / "conditions", {"train": photos}, CONDITIONS_DATA)
    taken = {p.name for p in photos}
    others = [p for p in sorted((DATA_DIR / "train" / "images").iterdir()) if p.name not in taken]
    train = DATA_DIR / "train" / "images"
    shared = [train / p.name for p in photos if (train / p.name).is_file()]
    boxes = copy_photos(tmp_path / "boxes", {"train": others[:2] + shared[:1]})  # one to leave out
    return conditions, boxes
