"""Reviewed labels downloaded from the app: one survey or the whole store, each format, zipped."""

import zipfile

import pytest

from services import review
from services.errors import ServiceError
from services.export import FORMATS, export_zip
from services.review import Filters
from tests.services.test_review import PHOTO_A, PHOTO_B, store
from tests.storage import conftest as storage_fixtures

db_url = storage_fixtures.db_url
db = storage_fixtures.db
data_dir = storage_fixtures.data_dir


@pytest.fixture
def reviewed(db, data_dir):
    store(db, data_dir, b"a", PHOTO_A, survey="north")
    store(db, data_dir, b"b", PHOTO_B, survey="south")
    photo = review.start(db, Filters(survey="north")).photo
    review.save(db, "rita", photo, review.as_loaded(photo), accept_rest=True)  # north: 3 labels reviewed
    return db, data_dir


@pytest.mark.parametrize("choice", list(FORMATS))
def test_a_surveys_reviewed_labels_come_as_a_zip_in_each_format(reviewed, tmp_path, choice):
    db, data_dir = reviewed
    archive, line = export_zip(db, data_dir, choice, "north", tmp_path)
    assert line == "Exported 1 photo with 3 reviewed labels of survey north."
    names = zipfile.ZipFile(archive).namelist()
    fmt = FORMATS[choice]
    assert all(name.startswith(f"reviewed-labels-{fmt}-north/") for name in names)
    if fmt.startswith("yolo"):
        assert any(name.endswith("data.yaml") for name in names) and sum(name.endswith(".txt") for name in names) == 1
    if fmt == "coco":
        assert any(name.endswith(".json") for name in names)


def test_nothing_reviewed_is_a_refusal_not_an_empty_zip(reviewed, tmp_path):
    db, data_dir = reviewed
    out = tmp_path / "exports"
    out.mkdir()
    with pytest.raises(ServiceError, match=r"Nothing to export: no photo in survey south is reviewed to the end yet.$"):
        export_zip(db, data_dir, next(iter(FORMATS)), "south", out)
    with pytest.raises(ServiceError, match="Pick a format"):
        export_zip(db, data_dir, "yolo", None, out)
    assert list(out.iterdir()) == []
    _, line = export_zip(db, data_dir, next(iter(FORMATS)), None, out)
    assert line.endswith("of the whole store.")


def test_a_photo_still_in_review_is_left_out_and_said_so(reviewed, tmp_path):
    db, data_dir = reviewed
    store(db, data_dir, b"c", PHOTO_A, survey="south")  # 3 labels
    photo = review.start(db, Filters(survey="south", object_type="slope_drain")).photo
    outcome = review.save(
        db,
        "rita",
        photo,
        review.as_loaded(photo),
        accept_rest=True,
        filters=Filters(survey="south", object_type="slope_drain"),
    )
    assert "left pending" in outcome.message  # Save & next under a type filter: the other types wait
    with pytest.raises(ServiceError, match=r"south is reviewed to the end yet. 1 photo still in review \(a label pe"):
        export_zip(db, data_dir, next(iter(FORMATS)), "south", tmp_path)
    _, line = export_zip(db, data_dir, next(iter(FORMATS)), None, tmp_path)
    assert line == (
        "Exported 1 photo with 3 reviewed labels of the whole store. "
        "1 photo still in review (a label pending) left out."
    )
