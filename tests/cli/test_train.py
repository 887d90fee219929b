"""``slope train`` and ``slope models``: the commands in-process through ``main(argv, inspector=...)``,
and real subprocesses to check the command runs as a program."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli.main import main
from core.model_card import ModelCard, read_card
from core.settings import PROJECT_ROOT, Settings
from storage.db import Database
from storage.registry import served_version, versions
from tests.conftest import DATA_DIR
from tests.training.conftest import CONDITIONS_DATA, copy_photos

pytestmark = pytest.mark.slow  # real training, subprocesses or a browser: `pytest -m "not slow"` skips them


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """The store and the default registry in a temporary folder, never in the repository."""
    folder = tmp_path / "store"
    monkeypatch.setenv("SLOPE_DATA_DIR", str(folder))
    return folder


def test_evaluate_writes_the_report_and_prints_json(small_val, inspector, tmp_path, capsys):
    out = tmp_path / "eval"
    argv = ["train", "evaluate", "--data", str(small_val), "--split", "val", "--out", str(out), "--json"]
    argv += ["--generation", "2", "--compare", str(PROJECT_ROOT / "models" / "condition")]
    assert main(argv, inspector=inspector) == 0
    printed = capsys.readouterr()
    report = json.loads(printed.out)
    assert report == json.loads((out / "evaluation.json").read_text())
    assert report["photos"] == 3 and report["split"] == "val"
    assert str(small_val) in report["provenance"] and "SYNTHESIZED" in report["condition_provenance"]
    assert report["generation"]["examples"] == 2
    assert report["compare_conditions"]["accuracy"] == report["conditions"]["accuracy"]  # the same model twice
    assert report["conditions"]["memory_bytes"] > 0
    assert "written:" in printed.err and (out / "compare_conditions_confusion.png").is_file()


def test_compare_quantized_quantizes_the_evaluated_model_not_the_configured_default(
    small_val, inspector, tmp_path, monkeypatch, capsys
):
    # After a promotion the served model is not the configured default; a default that cannot
    # load shows which one the comparison quantized.
    monkeypatch.setenv("SLOPE_CONDITION_MODEL", str(tmp_path / "no-such-model"))
    argv = ["train", "evaluate", "--data", str(small_val), "--out", str(tmp_path), "--json", "--generation", "0"]
    assert main([*argv, "--compare-quantized", "int8"], inspector=inspector) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["compare_conditions"]["model"] == f"{inspector.condition_model.version}+int8"


def test_evaluate_prints_markdown_by_default(small_val, inspector, tmp_path, capsys):
    argv = ["train", "evaluate", "--data", str(small_val), "--out", str(tmp_path), "--generation", "0"]
    assert main(argv, inspector=inspector) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# Evaluation") and "SYNTHESIZED" in printed and "free generation" not in printed
    assert "Compared" not in printed


def test_a_split_without_photos_is_an_error(small_val, inspector, tmp_path, capsys):
    assert main(["train", "evaluate", "--data", str(small_val), "--split", "train", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "has no train split" in err and "Traceback" not in err, err
    empty = small_val / "val" / "images"
    for image in empty.iterdir():
        image.unlink()
    capsys.readouterr()
    assert main(["train", "analyze", "--data", str(small_val), "--split", "val", "--out", str(tmp_path)]) == 1
    assert "no labelled photos" in capsys.readouterr().err


def test_build_condition_writes_and_records_a_candidate(tiny_conditions, data_dir, tmp_path, capsys):
    conditions, boxes = tiny_conditions
    small = ["--data", str(conditions), "--distil-data", str(boxes), "--steps", "1", "--batch-size", "2"]
    kept = tmp_path / "distilled"
    argv = ["train", "build-condition", *small, "--distil-steps", "1", "--seed", "3", "--keep-distilled", str(kept)]
    assert main(argv) == 0
    (folder,) = (data_dir / "models" / "condition").iterdir()  # the default registry
    card = read_card(folder)
    printed = capsys.readouterr().out
    assert card.version in printed and "candidate, not served" in printed
    assert card.train_settings["seed"] == "3" and card.training["steps"] == 1
    assert card.parent == read_card(kept).version
    db = Database.from_settings(Settings.from_env())
    (recorded,) = versions(db, "condition")
    assert (recorded.name, recorded.status, recorded.folder) == (card.version, "candidate", str(folder))
    assert recorded.metrics["accuracy"] == card.metrics["accuracy"]
    assert served_version(db, "condition") is None  # building never serves

    # Into another registry, from the distilled tower kept by the first build.
    registry = tmp_path / "elsewhere"
    assert main(["train", "build-condition", *small, "--distilled", str(kept), "--registry", str(registry)]) == 0
    (other,) = (registry / "condition").iterdir()
    assert [p.name for p in (data_dir / "models" / "condition").iterdir()] == [folder.name]
    assert str(other) in {v.folder for v in versions(db, "condition")}


def test_python_dash_m_cli_runs_analyze(tiny_data, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cli", "train", "analyze", "--data", str(tiny_data), "--out", str(tmp_path / "a")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "a" / "analysis.json").read_text())["photos"] == 3
    assert "# Dataset analysis" in result.stdout
    for plot in ("classes_per_split.png", "boxes.png", "cooccurrence.png", "instances_per_image.png"):
        assert (tmp_path / "a" / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sigterm_stops_build_detector_and_says_how_to_publish_the_run_so_far(tiny_data, tmp_path):
    """`kill` (SIGTERM) after an epoch is Ctrl-C: nothing is published, no staging folder is left,
    the run folder is kept and the message names the command that publishes it."""
    registry, temp = tmp_path / "registry", tmp_path / "tmp"
    temp.mkdir()
    command = [sys.executable, "-m", "cli", "train", "build-detector", "--data", str(tiny_data)]
    command += ["--registry", str(registry), "--imgsz", "64", "--hours", "1", "--epochs", "1000"]
    env = {**os.environ, "TMPDIR": str(temp), "SLOPE_DATA_DIR": str(tmp_path / "store")}
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not list(temp.glob("detector-train-*/run/weights/best.pt")) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert list(temp.glob("detector-train-*/run/weights/best.pt")), "no epoch was saved in 240 s"
        process.send_signal(signal.SIGTERM)
        stderr = process.communicate(timeout=120)[1]
    finally:
        process.kill()  # whatever happened above, no training is left running
    assert process.returncode == 130, stderr
    [run] = list(temp.glob("detector-train-*/run"))
    # the same options: publishing validates and exports at --imgsz
    # the options as typed
    assert f"slope train build-detector --from-run {run} --data {tiny_data} --registry {registry} --imgsz 64" in stderr
    assert "--hours 1.0 --epochs 1000" in stderr and "None" not in stderr
    assert list((registry / "detector").iterdir()) == []


def test_crossval_holds_every_photo_out_once_and_reports_every_model(tmp_path, capsys):
    folder = _conditions_folder(tmp_path, 6)
    argv = ["train", "crossval", "--data", str(folder), "--folds", "2", "--steps", "2", "--cnn-epochs", "1"]
    assert main([*argv, "--out", str(tmp_path / "cv")]) == 0
    printed = capsys.readouterr().out
    assert "2-fold cross-validation by photo" in printed and "| EfficientNet-Lite0 fine-tuned |" in printed
    report = json.loads((tmp_path / "cv" / "crossval.json").read_text())
    assert sum(f["held_out_photos"] for f in report["folds"]) == 6
    assert set(report["summary"]["accuracy"]) == {"baseline", "probe", "cnn", "parent", "fine_tuned"}
    assert set(report["summary"]) == {
        "accuracy",
        "macro_f1",
        "normal_vs_problem",
        "normal_recall",
        "blocked_recall",
        "damaged_recall",
    }

    # build-condition's recipe: the teacher fitted per fold, its answers taught to the parent; the
    # figures go into the card and README of the model the recipe built.
    built = tmp_path / "built"
    ModelCard(kind="condition", version="condition-built").write(built.mkdir() or built)
    condition_photos = {p.name for p in CONDITIONS_DATA.glob("*/images/*")}
    others = [p for p in sorted((DATA_DIR / "val" / "images").iterdir()) if p.name not in condition_photos]
    pool = copy_photos(tmp_path / "pool", {"val": others[:1]})
    argv = ["train", "crossval", "--data", str(folder), "--folds", "2", "--steps", "1", "--recipe", "build"]
    argv += ["--views", "1", "--cnn-epochs", "1", "--distil-data", str(pool)]
    kept = tmp_path / "folds"
    assert main([*argv, "--out", str(tmp_path / "build"), "--attach-to", str(built), "--keep-models", str(kept)]) == 0
    # Each fold's model is kept, loadable, to score serving choices on the photos it never saw.
    assert sorted(p.name for p in kept.iterdir()) == ["fold-0", "fold-1"]
    assert all(read_card(kept / f).version.startswith("condition-full-") for f in ("fold-0", "fold-1"))
    method = json.loads((tmp_path / "build" / "crossval.json").read_text())["method"]
    assert method.startswith("build-condition's: taught by efficientnet-lite0") and "1 views per object" in method
    assert "2-fold cross-validation by photo" in read_card(built).crossval
    assert "| taught by the fine-tuned EfficientNet-Lite0 |" in read_card(built).crossval
    assert "## Cross-validation" in (built / "README.md").read_text()
    # Fine-tuning with the distilled tower frozen: the report says so.
    frozen = ["train", "crossval", "--data", str(folder), "--folds", "2", "--steps", "1", "--vision-lr-scale", "0"]
    assert main([*frozen, "--out", str(tmp_path / "frozen")]) == 0
    assert json.loads((tmp_path / "frozen" / "crossval.json").read_text())["method"] == "full, vision tower frozen"
    assert main([*argv, "--attach-to", str(tmp_path / "nothing")]) == 2


def _conditions_folder(tmp_path, count):
    photos = sorted((CONDITIONS_DATA / "train" / "images").iterdir())[:count]
    return copy_photos(tmp_path / "conditions", {"train": photos}, CONDITIONS_DATA)


def test_finetune_promote_status_and_rollback_from_the_command_line(tmp_path, monkeypatch, capsys):
    from lifecycle.server import register_configured_models
    from storage.formats.yolo_import import import_yolo_folder

    monkeypatch.setenv("SLOPE_DATA_DIR", str(tmp_path / "data"))
    settings = Settings.from_env()
    db = Database.from_settings(settings)
    register_configured_models(db, settings)
    import_yolo_folder(db, settings.data_dir, _conditions_folder(tmp_path, 12))
    shipped = served_version(db, "condition").name

    assert main(["train", "finetune", "--method", "full", "--steps", "2", "--json"]) == 0
    printed = capsys.readouterr()
    result = json.loads(printed.out)
    # The whole job log reaches stderr (its file, not the run row, which keeps only the last 20k characters).
    log_file = next((Path(settings.data_dir) / "jobs").glob("*.log"))
    assert log_file.read_text() in printed.err and "candidate" in log_file.read_text()
    assert result["version"].startswith("condition-full-") and "candidate_macro_f1" in result["metrics"]
    assert served_version(db, "condition").name == shipped  # no --promote: a candidate only

    assert main(["models", "promote", result["version"], "--reason", "judged by hand"]) == 0
    assert served_version(db, "condition").name == result["version"]
    assert main(["models", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out.split("\n", 1)[1])  # after the promote line
    assert status["served"]["condition"] == result["version"] and status["running_job"] is None
    assert main(["models", "rollback", "--reason", "back"]) == 0
    assert served_version(db, "condition").name == shipped
    assert main(["models", "promote", "condition-none", "--reason", "r"]) == 2
    assert "no model version named 'condition-none'" in capsys.readouterr().err
    # The detector learns from the store's reviewed boxes only: another --data is refused, not ignored.
    assert main(["train", "finetune", "--kind", "detector", "--data", str(tmp_path / "conditions")]) == 2
    assert "--data is for conditions" in capsys.readouterr().err
