"""Demo mode: a review store of the example photos that resets, no training, and an app that
starts from a read-only checkout."""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.settings import PROJECT_ROOT, Settings
from services import jobs
from services.demo import EXAMPLES_DIR, private_store, reset_demo_store
from services.job_spec import JobSpec
from storage import models as m
from storage.db import Database
from storage.inspections import save_inspection
from storage.review import LabelChange, photo_queue, photo_view, review_counts, save_photo


def _count(db: Database, table) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(table))


def test_a_reset_leaves_only_the_example_photos_as_the_served_models_see_them(tmp_path, inspector, val_images):
    db = Database(f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    db.upgrade()
    examples = len(list(EXAMPLES_DIR.glob("*.jpg")))
    assert reset_demo_store(db, tmp_path, inspector) == examples
    first = review_counts(db)["to_review"]
    assert first and _count(db, m.Image) == examples

    # A visitor's correction and another's stored photo...
    [(image_id, _, _)] = photo_queue(db)
    label = photo_view(db, image_id).labels[0]
    result = save_photo(db, image_id, "demo", [LabelChange(label.label_id, label.version, condition=None, accept=True)])
    assert not result.conflicts
    data = val_images[0].read_bytes()
    save_inspection(db, tmp_path, data, "visitor.jpg", inspector.inspect(Image_open(val_images[0])), "demo")
    assert _count(db, m.Image) == examples + 1 and _count(db, m.LabelEvent) > 0

    # ...are gone after the next reset, files included; the example photos are back as predicted.
    assert reset_demo_store(db, tmp_path, inspector) == examples
    assert _count(db, m.Image) == examples
    assert review_counts(db)["to_review"] == first
    assert len(list((tmp_path / "images").rglob("*.*"))) == examples


def Image_open(path: Path):
    from core.images import load_image

    return load_image(path)


def test_training_cannot_start_in_demo_mode(tmp_path):
    settings = Settings(data_dir=str(tmp_path), demo_mode=True)
    db = Database.from_settings(settings)
    with pytest.raises(PermissionError, match="switched off in the public demo"):
        jobs.start_job(db, settings, JobSpec("condition"), "someone")
    assert _count(db, m.TrainingRun) == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_demo_gets_a_private_store_of_its_own(tmp_path):
    configured = Settings(
        data_dir=str(tmp_path / "real"),
        demo_mode=True,
        database_url="postgresql://u:secret@db/x",
        object_store="s3://b",
    )
    private, said = private_store(configured)
    assert Path(private.data_dir).is_dir() and not Path(private.data_dir).is_relative_to(tmp_path)
    assert (private.database_url, private.object_store) == ("", "")
    assert "secret" not in said and str(tmp_path) not in said
    assert private_store(configured)[0].data_dir != private.data_dir  # one per start


@pytest.mark.slow  # a subprocess loads the models
def test_the_app_starts_in_demo_mode_from_a_read_only_checkout(tmp_path):
    """A copy of the checkout that cannot be written (file modes; for root, who ignores them, a
    read-only bind mount in a private mount namespace): the app answers, and nothing is written
    into the copy. A real store named by SLOPE_DATA_DIR keeps its photos: the demo's resets
    delete every photo of the store they run on."""
    real = Settings(data_dir=str(tmp_path / "real"))
    real_db = Database.from_settings(real)
    with real_db.write() as session:
        session.add(m.Survey(name="north-embankment"))
    parent = Path(tempfile.mkdtemp(prefix="readonly-checkout-"))
    checkout = parent / "main"
    ignore = shutil.ignore_patterns(".venv", "data", "runs", ".git", "__pycache__", ".pytest_cache", ".ultralytics")
    shutil.copytree(PROJECT_ROOT, checkout, ignore=ignore)
    before = sorted(str(p.relative_to(checkout)) for p in checkout.rglob("*"))
    for path in [checkout, *checkout.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    parent.chmod(0o755)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLOPE_") and k != "DATABASE_URL"}
    env.update(
        SLOPE_DEMO_MODE="1",
        SLOPE_DATA_DIR=real.data_dir,
        GRADIO_SERVER_PORT=str(port),
        GRADIO_SERVER_NAME="127.0.0.1",
        HOME="/tmp",
        PYTHONDONTWRITEBYTECODE="1",
    )
    command = [sys.executable, "app.py"]
    if os.geteuid() == 0:
        read_only = f'mount --bind {checkout} {checkout} && mount -o remount,bind,ro {checkout} && exec "$@"'
        command = ["unshare", "--mount", "sh", "-c", read_only, "sh", *command]
    process = subprocess.Popen(command, cwd=checkout, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline, answer = time.time() + 240, None
        while time.time() < deadline and process.poll() is None and answer is None:
            try:
                answer = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).status
            except OSError:
                time.sleep(1)
        output = b""
        if answer is None:
            process.kill()
            output = process.communicate(timeout=30)[0]
        assert answer == 200, output.decode(errors="replace")[-3000:]
    finally:
        if process.poll() is None:
            process.terminate()
            output = process.communicate(timeout=30)[0]
        for path in [checkout, *checkout.rglob("*")]:
            path.chmod(0o755)
        after = sorted(str(p.relative_to(checkout)) for p in checkout.rglob("*"))
        shutil.rmtree(parent, ignore_errors=True)
    assert after == before
    assert b"Demo mode: the review store is a temporary one" in output
    assert _count(real_db, m.Survey) == 1
    # Stopped with SIGTERM, as a platform stops it: the temporary store is deleted.
    temporary = re.search(rb"temporary one in (\S+), deleted at exit", output)
    assert temporary and not Path(temporary.group(1).decode()).exists(), output.decode(errors="replace")[-2000:]
