"""The analysis and evaluation reports for the real val split, through the CLI."""

import json
import subprocess
import sys

from core.settings import PROJECT_ROOT
from tests.conftest import DATA_DIR
from training.analysis import analyze
from training.dataset import from_yolo_folder


def test_analysis_counts_match_the_label_files():
    photos = from_yolo_folder(DATA_DIR, "val")
    result = analyze(photos, "test")
    rows = [
        line.split()[0]
        for f in (DATA_DIR / "val" / "labels").glob("*.txt")
        for line in f.read_text().splitlines()
        if line.strip()
    ]
    assert result["objects"] == len(rows) == 174
    assert result["object_types"] == {
        "rock_toe": rows.count("0"),
        "slope_drain": rows.count("1"),
        "toe_drain": rows.count("2"),
        "vegetation": rows.count("3"),
    }
    assert result["conditions"] == {"unknown": 174}
    assert result["imbalance_ratio_object_types"] == max(rows.count(c) for c in "0123") / min(
        rows.count(c) for c in "0123"
    )
    assert sum(result["instances_per_image"]["histogram"].values()) == 45
    matrix = result["cooccurrence"]["photos_with_both"]
    assert all(matrix[i][i] >= matrix[i][j] for i in range(4) for j in range(4))  # diagonal: photos with the type


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "training", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600
    )


def test_analyze_cli_writes_json_markdown_and_plots(tmp_path):
    result = run("analyze", "--data", str(DATA_DIR), "--split", "val", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "analysis.json").read_text())["photos"] == 45
    assert "| rock_toe (condition unknown) |" in (tmp_path / "analysis.md").read_text()
    for plot in ("classes_per_split.png", "boxes.png", "cooccurrence.png", "instances_per_image.png"):
        assert (tmp_path / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_cli_on_val_with_provenance(tmp_path):
    result = run(
        "evaluate", "--data", str(DATA_DIR), "--split", "val", "--out", str(tmp_path), "--json", "--generation", "8"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["photos"] == 45
    assert "SYNTHESIZED" in report["condition_provenance"]
    assert 0 <= report["detector"]["map50_95"] <= report["detector"]["map50"] <= 1
    assert set(report["detector"]["per_class"]) == {"rock_toe", "slope_drain", "toe_drain", "vegetation"}
    conditions = report["conditions"]
    assert sum(map(sum, conditions["confusion"]["matrix"])) == conditions["examples"]
    assert 0 <= conditions["ece"] <= 1
    assert report["generation"]["examples"] == 8
    assert 0 <= report["generation"]["accuracy"] <= 1
    assert report["pipeline"]["end_to_end_condition_accuracy"] is None  # the val labels have no conditions
    markdown = (tmp_path / "evaluation.md").read_text()
    assert "SYNTHESIZED" in markdown and "mAP@0.5" in markdown
    assert (tmp_path / "conditions_confusion.png").exists()


def test_condition_examples_use_real_conditions_when_every_scored_object_has_one():
    from dataclasses import replace

    from training.evaluate import condition_examples

    photos = from_yolo_folder(DATA_DIR, "val")[:5]
    labelled = [replace(p, objects=tuple(replace(o, condition="normal") for o in p.objects)) for p in photos]
    examples, provenance = condition_examples(labelled, 0.15, seed=1)
    assert provenance == "real reviewed conditions"
    scored = sum(o.object_type != "vegetation" for p in photos for o in p.objects)
    assert len(examples) == scored and {e[3] for e in examples} == {"normal"}
    synthesized, provenance = condition_examples(photos, 0.15, seed=1)
    assert "SYNTHESIZED" in provenance and len(synthesized) > len(examples)
