"""``evaluate`` on three real val photos with the shipped models: the typed report, its JSON and
Markdown, and the condition examples it is measured on."""

import json
from dataclasses import replace

import pytest

from core.taxonomy import OBJECT_TYPES
from tests.training.conftest import small_val_images
from training.data.dataset import from_yolo_folder, load
from training.data.examples import REAL_CONDITIONS, ConditionExample, condition_examples
from training.eval.evaluate import (
    ConditionReport,
    DetectorReport,
    EvaluationReport,
    GenerationReport,
    PipelineReport,
    evaluate,
    evaluate_pipeline,
)
from training.eval.plots import confusion_plot
from training.eval.report import evaluation_markdown, write_evaluation

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def photos():
    names = {p.name for p in small_val_images()}
    from tests.conftest import DATA_DIR

    return [p for p in from_yolo_folder(DATA_DIR, "val") if p.name in names]


@pytest.fixture(scope="module")
def report(inspector, condition_model, photos) -> EvaluationReport:
    # The served model compared with itself: both reports must agree figure for figure.
    return evaluate(inspector, photos, "three real val photos", "val", compare=condition_model, generation=3)


def with_real_conditions(photos, condition="normal"):
    return [replace(p, objects=tuple(replace(o, condition=condition) for o in p.objects)) for p in photos]


def test_the_report_is_typed_and_says_what_it_measured(report, photos):
    assert isinstance(report.detector, DetectorReport) and isinstance(report.pipeline, PipelineReport)
    assert isinstance(report.conditions, ConditionReport) and isinstance(report.generation, GenerationReport)
    assert (report.photos, report.split, report.provenance) == (3, "val", "three real val photos")
    assert "SYNTHESIZED" in report.condition_provenance  # the slopes labels carry no conditions


def test_detector_figures(report, photos):
    detector = report.detector
    assert list(detector.per_class) == list(OBJECT_TYPES)
    assert {k: v.n for k, v in detector.per_class.items()} == {
        t: sum(p.object_types.count(t) for p in photos) for t in OBJECT_TYPES
    }
    assert 0 <= detector.map50_95 <= detector.map50 <= 1
    assert detector.precision_recall_at_confidence == 0.25  # the detector's serving threshold


def test_condition_figures_and_the_comparison(report, photos):
    conditions = report.conditions
    scored = sum(t != "vegetation" for p in photos for t in p.object_types)
    # one synthesized example per (scored object, allowed condition): 2 for a rock toe, 3 for a drain
    expected = sum({"rock_toe": 2, "vegetation": 0}.get(t, 3) for p in photos for t in p.object_types)
    assert conditions.examples == expected > scored
    assert sum(map(sum, conditions.confusion.matrix)) == conditions.examples
    assert "vegetation" not in conditions.confusion.labels and len(conditions.confusion.labels) == 8
    assert sum(v.n for v in conditions.per_object_type.values()) == conditions.examples
    assert 0 <= conditions.ece <= 1 and 0 <= conditions.accuracy <= 1
    compared = report.compare_conditions
    assert conditions.memory_bytes > 0 and compared.memory_bytes == conditions.memory_bytes
    assert replace(compared, memory_bytes=None) == replace(conditions, memory_bytes=None)
    assert report.generation.examples == 3 and 0 <= report.generation.accuracy <= 1


def test_pipeline_figures(report, photos):
    matched = report.pipeline.detection_at_serving_threshold
    assert matched.labels == sum(len(p.objects) for p in photos)
    assert matched.matched <= min(matched.labels, matched.detections)
    assert matched.recall == pytest.approx(matched.matched / matched.labels)
    relations = report.pipeline.spatial_relations
    assert 0 <= relations.precision <= 1 and 0 <= relations.recall <= 1 and relations.recall_per_relation
    assert report.pipeline.end_to_end_condition_accuracy is None
    assert "no conditions" in report.pipeline.end_to_end_note


def test_end_to_end_condition_accuracy_where_the_labels_have_conditions(inspector, photos, report):
    pipeline = evaluate_pipeline(inspector, with_real_conditions(photos))
    assert 0 <= pipeline.end_to_end_condition_accuracy <= 1 and pipeline.end_to_end_note is None
    assert pipeline.detection_at_serving_threshold == report.pipeline.detection_at_serving_threshold


def test_json_markdown_and_plots_are_written(report, tmp_path):
    files = write_evaluation(report, tmp_path / "eval")
    assert [f.name for f in files] == [
        "evaluation.json",
        "evaluation.md",
        "conditions_confusion.png",
        "compare_conditions_confusion.png",
    ]
    saved = json.loads(files[0].read_text())
    assert saved == json.loads(json.dumps(report.to_dict(), default=float))
    assert list(saved) == [
        "provenance",
        "split",
        "photos",
        "detector",
        "condition_provenance",
        "conditions",
        "pipeline",
        "generation",
        "compare_conditions",
    ]
    assert saved["conditions"]["confusion"]["labels"][0] == "rock_toe"
    assert set(saved["pipeline"]) == {
        "detection_at_serving_threshold",
        "spatial_relations",
        "end_to_end_condition_accuracy",
        "end_to_end_note",
    }
    markdown = files[1].read_text()
    assert markdown == evaluation_markdown(report, [f.name for f in files[2:]])
    for text in ("mAP@0.5", "SYNTHESIZED", "## Compared condition model", "weights in memory", "free generation"):
        assert text in markdown
    assert "![conditions_confusion.png](conditions_confusion.png)" in markdown
    assert all(f.read_bytes()[:8] == PNG for f in files[2:])


def test_optional_parts_are_left_out_of_the_json(report):
    plain = replace(
        report, generation=None, compare_conditions=None, conditions=replace(report.conditions, memory_bytes=None)
    )
    values = plain.to_dict()
    assert "generation" not in values and "compare_conditions" not in values
    assert "memory_bytes" not in values["conditions"]
    markdown = evaluation_markdown(plain)
    assert "free generation" not in markdown and "Compared" not in markdown and "![" not in markdown


def test_evaluate_refuses_no_photos(inspector):
    with pytest.raises(ValueError, match="no labelled photos"):
        evaluate(inspector, [], "nothing", "val")


def test_a_photo_cut_short_in_the_folder_is_left_out_of_the_evaluation_by_name(inspector, small_val):
    """`slope train evaluate` on a folder with one photo cut off after its header failed whole
    at the first decode (the condition crops), for that one photo."""
    whole = small_val_images()[0].read_bytes()
    (small_val / "val" / "images" / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    (small_val / "val" / "labels" / "cut.txt").write_text("0 0.5 0.5 0.3 0.3\n")
    photos, provenance = load(str(small_val), "val")
    report = evaluate(inspector, photos, provenance, "val")
    assert report.photos == 3
    assert "1 of 4 photos left out (val/images/cut.jpg: the image data is truncated or corrupt (" in report.provenance


def test_condition_examples_use_real_conditions_when_every_scored_object_has_one(photos):
    labelled = with_real_conditions(photos)
    examples, provenance = condition_examples(labelled, 0.15, seed=1)
    assert provenance == REAL_CONDITIONS
    scored = sum(o.object_type != "vegetation" for p in photos for o in p.objects)
    assert len(examples) == scored and {e.condition for e in examples} == {"normal"}
    assert all(isinstance(e, ConditionExample) and e.crop.mode == "RGB" for e in examples)
    synthesized, provenance = condition_examples(photos, 0.15, seed=1)
    assert "SYNTHESIZED" in provenance and len(synthesized) > len(examples)
    again, _ = condition_examples(photos, 0.15, seed=1)
    assert [e.condition for e in again] == [e.condition for e in synthesized]


def test_confusion_plot_is_a_png_titled_as_asked(tmp_path):
    import matplotlib.image

    labels = ["slope_drain", "slope_drain_blocked", "slope_drain_damaged"]
    path = confusion_plot(labels, [[3, 1, 0], [0, 2, 0], [1, 0, 4]], "Conditions: v1", tmp_path / "c.png")
    assert path == tmp_path / "c.png" and path.read_bytes()[:8] == PNG
    height, width, _ = matplotlib.image.imread(path).shape
    assert width > 300 and height > 300
