"""The metrics against hand-computed cases. Boxes are ``sv.Detections``: truth without
confidence, predictions with."""

import numpy as np
import pytest
import supervision as sv

from training.eval.metrics import (
    classification_report,
    confusion_matrix,
    detection_metrics,
    expected_calibration_error,
    match_greedy,
    precision_recall_at,
)


def boxes(rows, classes, scores=None):
    return sv.Detections(
        xyxy=np.array(rows, float).reshape(-1, 4),
        class_id=np.array(classes, dtype=int),
        confidence=None if scores is None else np.array(scores, float),
    )


@pytest.mark.parametrize(
    "a, b, iou",
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
        ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),
        ([0, 0, 10, 10], [2, 2, 8, 8], 36 / 100),
    ],
)
def test_the_iou_the_metrics_match_with(a, b, iou):
    assert sv.box_iou_batch(np.array([a]), np.array([b]))[0, 0] == pytest.approx(iou)


def ap50(predictions, truths, class_id=0):
    return detection_metrics(predictions, truths, ["a", "b"])["per_class"]["ab"[class_id]]["ap50"]


def test_ap_of_a_known_ranking_is_cocos_101_point_sample():
    # 2 truth boxes; predictions by score: hit, miss, hit -> P 1, .5, .67 at R .5, .5, 1.
    # Envelope: 1 up to R .5, then 2/3. All points (the hand-written AP this replaced): .5 + .5 * 2/3;
    # COCO samples it at R = 0, .01, ..., 1: 51 points at 1 and 50 at 2/3, over 101.
    truth = boxes([[0, 0, 10, 10], [20, 0, 30, 10]], [0, 0])
    pred = boxes([[0, 0, 10, 10], [50, 50, 60, 60], [20, 0, 30, 10]], [0, 0, 0], [0.9, 0.8, 0.7])
    assert ap50([pred], [truth]) == pytest.approx((51 + 50 * 2 / 3) / 101)
    assert ap50([pred], [truth]) != pytest.approx(0.5 + 0.5 * 2 / 3, abs=1e-4)
    assert precision_recall_at([pred], [truth], 0, 0.5, 0.0) == (pytest.approx(2 / 3), 1.0)
    assert precision_recall_at([pred], [truth], 0, 0.5, 0.85) == (1.0, 0.5)  # only the top one
    assert precision_recall_at([pred], [truth], 0, 0.5, 0.95) == (0.0, 0.0)
    assert all(np.isnan(precision_recall_at([pred], [truth], 1, 0.5, 0.0)))  # no truth of class 1


def test_ap_rules_duplicates_wrong_class_and_iou_threshold():
    truth = boxes([[0, 0, 10, 10]], [0])
    duplicate = boxes([[0, 0, 10, 10], [0, 0, 10, 10]], [0, 0], [0.9, 0.8])
    assert ap50([duplicate], [truth]) == pytest.approx(1.0)  # 2nd is a FP after the TP
    wrong_class = boxes([[0, 0, 10, 10]], [1], [0.9])
    assert ap50([wrong_class], [truth]) == 0.0
    shifted = boxes([[3, 0, 13, 10]], [0], [0.9])  # IoU 70/130 = 0.54
    metrics = detection_metrics([shifted], [truth], ["a", "b"])
    assert metrics["map50"] == 1.0  # class b has no truth and does not count
    assert metrics["map50_95"] == pytest.approx(0.1)  # a hit only at the 0.50 threshold of 10
    assert metrics["per_class"]["a"]["ap50_95"] == pytest.approx(0.1)
    assert np.isnan(metrics["per_class"]["b"]["ap50"]) and np.isnan(metrics["per_class"]["b"]["ap50_95"])
    assert metrics["per_class"]["a"]["n"] == 1 and metrics["per_class"]["b"]["n"] == 0


def test_greedy_matching_takes_the_most_confident_first_and_each_truth_once():
    truth = boxes([[0, 0, 10, 10], [20, 0, 30, 10]], [0, 1])
    pred = boxes(
        [[1, 0, 11, 10], [0, 0, 10, 10], [20, 0, 30, 10], [50, 50, 60, 60]], [0, 0, 0, 1], [0.5, 0.9, 0.8, 0.7]
    )
    assert match_greedy(pred, truth, 0.5) == [-1, 0, -1, -1]  # the 3rd is of another class than its box
    assert match_greedy(pred, truth, 0.5, same_class=False) == [-1, 0, 1, -1]
    unscored = boxes([[1, 0, 11, 10], [0, 0, 10, 10]], [0, 0])  # no confidence: taken in order
    assert match_greedy(unscored, truth, 0.5) == [0, -1]
    assert match_greedy(sv.Detections.empty(), truth, 0.5) == []
    assert match_greedy(pred, sv.Detections.empty(), 0.5) == [-1, -1, -1, -1]


def test_ap_over_photos_with_nothing_detected_or_nothing_labelled():
    truth = boxes([[0, 0, 10, 10]], [0])
    hit = boxes([[0, 0, 10, 10]], [0], [0.9])
    assert ap50([sv.Detections.empty(), hit], [truth, truth]) == pytest.approx(51 / 101)  # recall .5 at P 1
    assert ap50([hit, hit], [truth, sv.Detections.empty()]) == pytest.approx(1.0)  # 2nd is a FP after the TP
    assert ap50([sv.Detections.empty()], [truth]) == 0.0
    nothing = detection_metrics([hit], [sv.Detections.empty()], ["a"])
    assert np.isnan(nothing["map50"]) and np.isnan(nothing["map50_95"])


def test_ultralytics_per_epoch_ap_reads_the_envelope_otherwise():
    """Why the cards' per-epoch history (ultralytics' own val) is labelled apart from every other
    mAP of ours: ultralytics interpolates the envelope linearly between its points and integrates
    101 samples by trapezoids, COCO takes the step and averages them (0.828 vs 0.835 here)."""
    from ultralytics.utils.metrics import compute_ap

    recall, precision = np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])
    ap, _, _ = compute_ap(recall, precision)
    truth = boxes([[0, 0, 10, 10], [20, 0, 30, 10]], [0, 0])
    pred = boxes([[0, 0, 10, 10], [50, 50, 60, 60], [20, 0, 30, 10]], [0, 0, 0], [0.9, 0.8, 0.7])
    assert ap == pytest.approx(ap50([pred], [truth]), abs=1e-2)


def test_confusion_matrix_and_report():
    truth = ["a", "a", "b", "b", "c"]
    pred = ["a", "b", "b", "b", "a"]
    matrix = confusion_matrix(truth, pred, ["a", "b", "c"])
    assert matrix.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    report = classification_report(truth, pred, ["a", "b", "c"])
    assert report["accuracy"] == pytest.approx(0.6)
    assert report["per_class"]["b"] == {
        "precision": pytest.approx(2 / 3),
        "recall": 1.0,
        "f1": pytest.approx(0.8),
        "n": 2,
    }
    assert report["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    # a class never true is left out of the macro average; nothing at all is no accuracy
    assert classification_report(["a", "a"], ["a", "b"], ["a", "b", "c"])["macro_f1"] == pytest.approx(2 / 3)
    assert confusion_matrix([], [], ["a", "b"]).tolist() == [[0, 0], [0, 0]]
    empty = classification_report([], [], ["a", "b"])
    assert empty["accuracy"] == 0.0 and np.isnan(empty["macro_f1"]) and empty["per_class"]["a"]["n"] == 0


def test_expected_calibration_error():
    # bin (0.8, 0.9]: accuracy .5 vs confidence .9; bin (0.5, 0.6]: 1 vs .6; each half the data
    assert expected_calibration_error([0.9, 0.9, 0.6, 0.6], [1, 0, 1, 1]) == pytest.approx(0.4)
    assert expected_calibration_error([1.0, 1.0], [1, 1]) == 0.0
    assert np.isnan(expected_calibration_error([], []))
