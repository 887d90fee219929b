"""Fixtures for the trainer tests."""

import pytest

from tests.conftest import DATA_DIR


@pytest.fixture
def tiny_data(tmp_path):
    """Two train and one val photo of the real data, so a run takes seconds."""
    folder = tmp_path / "data"
    for split, count in (("train", 2), ("val", 1)):
        (folder / split / "images").mkdir(parents=True)
        (folder / split / "labels").mkdir(parents=True)
        for image in sorted((DATA_DIR / split / "images").glob("Lagoon*.jpg"))[:count]:
            (folder / split / "images" / image.name).write_bytes(image.read_bytes())
            label = DATA_DIR / split / "labels" / f"{image.stem}.txt"
            (folder / split / "labels" / label.name).write_text(label.read_text())
    (folder / "data.yaml").write_text((DATA_DIR / "data.yaml").read_text())
    return folder
