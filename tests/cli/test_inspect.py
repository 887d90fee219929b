"""``slope inspect``: in-process with the session's models, and once as a real subprocess."""

import json
import subprocess
import sys
import zipfile

import pytest

from cli.main import main
from core.settings import PROJECT_ROOT
from tests.cli.conftest import record_condition_copy
from tests.conftest import FINDING_KEYS


def run(capsys, inspector, *args: str) -> tuple[int, str, str]:
    code = main(["inspect", *args], inspector=inspector)
    out, err = capsys.readouterr()
    return code, out, err


def test_json_output_for_images_folders_zips_and_bad_files(val_images, tmp_path, capsys, inspector):
    folder = tmp_path / "survey"
    folder.mkdir()
    for path in val_images[:2]:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "notes.txt").write_text("not a photo")
    (tmp_path / "broken.jpg").write_bytes(val_images[0].read_bytes()[:400])
    with zipfile.ZipFile(tmp_path / "flight.zip", "w") as archive:
        archive.write(val_images[5], f"flight/{val_images[5].name}")

    code, out, err = run(
        capsys,
        inspector,
        str(val_images[2]),
        str(folder),
        str(tmp_path / "broken.jpg"),
        str(tmp_path / "flight.zip"),
        "--json",
        "--conf",
        "0.2",
    )
    assert code == 0, err
    entries = json.loads(out)
    assert len(entries) == 6
    ok = [e for e in entries if "error" not in e]
    errors = {e["image"].split("/")[-1]: e["error"] for e in entries if "error" in e}
    assert len(ok) == 4
    assert entries[0]["image"] == str(val_images[2])  # in the order given, named as given
    assert entries[-1]["image"] == f"{tmp_path / 'flight.zip'}/flight/{val_images[5].name}"
    assert "not a recognised image" in errors["notes.txt"]
    assert "truncated or corrupt" in errors["broken.jpg"]
    for entry in ok:
        assert set(entry) == {"image", "width", "height", "findings", "timings_ms", "models", "inspected_at"}
        assert set(entry["models"]) == {"detector", "condition"}
        for finding in entry["findings"]:
            assert finding["confidence"] >= 0.2
            assert set(finding) == FINDING_KEYS
            assert abs(sum(finding["condition_probs"].values()) - 1) < 1e-3


def test_exit_code_is_nonzero_only_when_nothing_could_be_inspected(tmp_path, capsys, inspector):
    (tmp_path / "a.txt").write_text("no")
    code, out, err = run(capsys, inspector, str(tmp_path / "a.txt"), str(tmp_path / "missing.jpg"), "--json")
    assert code == 1
    entries = json.loads(out)
    assert [e["error"].split(": ", 1)[1] for e in entries] == [
        "not a recognised image (expected JPEG, PNG, WebP, BMP or TIFF)",
        "no such file",
    ]
    assert "no image could be inspected" in err


def test_human_output_lists_objects(val_images, capsys, inspector):
    code, out, _ = run(capsys, inspector, str(val_images[3]))
    assert code == 0
    assert out.startswith(str(val_images[3]))
    assert "objects" in out.splitlines()[0]


@pytest.mark.slow  # a subprocess loads the models
def test_a_real_subprocess_loads_the_shipped_models(val_images, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cli", "inspect", str(val_images[0]), "--json"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "SLOPE_DATA_DIR": str(tmp_path)},  # no store there: configured models
    )
    assert result.returncode == 0, result.stderr
    [entry] = json.loads(result.stdout)
    assert entry["models"]["detector"].startswith("detector-")
    assert not (tmp_path / "inspections.sqlite3").exists()  # inspecting does not create a store


def test_the_cli_serves_what_the_store_records_as_served(val_images, tmp_path, store, capsys, settings):
    """A promotion made in the app reaches ``slope inspect`` on the same store."""
    from storage import registry

    record_condition_copy(store, settings, tmp_path / "promoted", "condition-tiny-promoted")
    registry.serve(store, "condition", "condition-tiny-promoted", "test", "a test")

    assert main(["inspect", str(val_images[0]), "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert entry["models"]["condition"] == "condition-tiny-promoted"


@pytest.mark.parametrize("conf", ["nan", "-1", "1.5", "inf", "high"])
def test_a_threshold_that_is_not_a_number_from_0_to_1_is_refused_by_name(val_images, capsys, conf):
    """NaN passed every range check and failed each photo with a vague server error."""
    with pytest.raises(SystemExit) as refused:
        main(["inspect", str(val_images[3]), "--conf", conf])
    assert refused.value.code == 2 and f"'{conf}' is not a number from 0 to 1" in capsys.readouterr().err


def test_the_use_cases_refuse_such_a_threshold_before_any_photo(val_images, inspector):
    from core.sources import expand_sources
    from services.inspection import BadThreshold, inspect_batch

    sources, _ = expand_sources([val_images[3]], max_bytes=50_000_000)
    with pytest.raises(BadThreshold, match="must be a number from 0 to 1, not nan"):
        inspect_batch(sources, inspector, [], conf=float("nan"))
