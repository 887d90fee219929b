"""The dataset analysis against the label files of the real val split."""

from tests.conftest import DATA_DIR
from training.data.dataset import from_yolo_folder
from training.eval.analysis import analyze


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
    # 4 classes: no condition, but vegetation's only one (normal)
    assert result["conditions"] == {"normal": rows.count("3"), "unknown": 174 - rows.count("3")}
    assert result["imbalance_ratio_object_types"] == max(rows.count(c) for c in "0123") / min(
        rows.count(c) for c in "0123"
    )
    assert sum(result["instances_per_image"]["histogram"].values()) == 45
    matrix = result["cooccurrence"]["photos_with_both"]
    assert all(matrix[i][i] >= matrix[i][j] for i in range(4) for j in range(4))  # diagonal: photos with the type


def test_the_analysis_reads_in_words_not_code_names():
    from training.eval.analysis import analysis_markdown

    text = analysis_markdown(analyze(from_yolo_folder(DATA_DIR, "val"), "test"), heading=False)
    assert "| slope drain (condition unknown) |" in text and "| Object type | Boxes |" in text
    assert "toe drain at the foot of slope drain" in text  # a relation as a person says it
    assert "_" not in text  # no snake_case left for a reader
