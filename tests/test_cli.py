"""``python -m core inspect`` as a user runs it: a real subprocess, real photos."""

import json
import subprocess
import sys

from core.settings import PROJECT_ROOT
from tests.conftest import FINDING_KEYS


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", "inspect", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_json_output_for_images_folders_and_bad_files(val_images, tmp_path):
    folder = tmp_path / "survey"
    folder.mkdir()
    for path in val_images[:2]:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "notes.txt").write_text("not a photo")
    (tmp_path / "broken.jpg").write_bytes(val_images[0].read_bytes()[:400])

    result = run_cli(str(val_images[2]), str(folder), str(tmp_path / "broken.jpg"), "--json", "--conf", "0.2")
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    assert len(entries) == 5
    ok = [e for e in entries if "error" not in e]
    errors = {e["image"].split("/")[-1]: e["error"] for e in entries if "error" in e}
    assert len(ok) == 3
    assert "not a recognised image" in errors["notes.txt"]
    assert "truncated or corrupt" in errors["broken.jpg"]
    for entry in ok:
        assert set(entry) == {"image", "width", "height", "findings", "timings_ms", "models"}
        assert set(entry["models"]) == {"detector", "condition"}
        for finding in entry["findings"]:
            assert finding["confidence"] >= 0.2
            assert set(finding) == FINDING_KEYS
            assert abs(sum(finding["condition_probs"].values()) - 1) < 1e-3


def test_exit_code_is_nonzero_only_when_nothing_could_be_inspected(tmp_path):
    (tmp_path / "a.txt").write_text("no")
    result = run_cli(str(tmp_path / "a.txt"), str(tmp_path / "missing.jpg"), "--json")
    assert result.returncode == 1
    entries = json.loads(result.stdout)
    assert [e["error"].split(": ", 1)[1] for e in entries] == [
        "not a recognised image (expected JPEG, PNG, WebP, BMP or TIFF)",
        "no such file",
    ]
    assert "no image could be inspected" in result.stderr


def test_human_output_lists_objects(val_images):
    result = run_cli(str(val_images[3]))
    assert result.returncode == 0
    assert result.stdout.startswith(str(val_images[3]))
    assert "objects" in result.stdout.splitlines()[0]
