"""Metrics as plain functions on numpy arrays and ``sv.Detections``; the classification ones are
scikit-learn's (boxes xyxy, ``class_id``,
``confidence`` for predictions), each checked against hand-computed cases in tests.

Detection AP follows the all-points interpolation (area under the monotone precision envelope,
as in PASCAL VOC 2010+ and COCO without the 101-point sampling); mAP@0.5:0.95 averages it over
IoU thresholds 0.50, 0.55, ..., 0.95.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import supervision as sv
from sklearn import metrics as sk_metrics

IOU_THRESHOLDS = np.round(np.arange(0.5, 0.96, 0.05), 2)


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the precision-recall curve after making precision monotone (all points)."""
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[1.0], precision, [0.0]])
    p = np.flip(np.maximum.accumulate(np.flip(p)))
    changes = np.where(r[1:] != r[:-1])[0]
    return float(np.sum((r[changes + 1] - r[changes]) * p[changes + 1]))


def match_greedy(pred: sv.Detections, truth: sv.Detections, iou_threshold: float, same_class: bool = True) -> list[int]:
    """For each prediction (highest confidence first), the index of the truth box it matches,
    or -1. Each truth box is matched at most once (COCO's greedy rule). Predictions without
    confidence are taken in their order."""
    order = np.argsort(-pred.confidence, kind="stable") if pred.confidence is not None else np.arange(len(pred))
    ious = sv.box_iou_batch(pred.xyxy, truth.xyxy)
    taken = np.zeros(len(truth), bool)
    matches = [-1] * len(pred)
    for i in order:
        candidates = ious[i].copy()
        candidates[taken] = -1
        if same_class:
            candidates[truth.class_id != pred.class_id[i]] = -1
        j = int(np.argmax(candidates)) if len(candidates) else -1
        if j >= 0 and candidates[j] >= iou_threshold:
            matches[i] = j
            taken[j] = True
    return matches


def detection_ap(
    predictions: Sequence[sv.Detections],
    truths: Sequence[sv.Detections],
    class_id: int,
    iou_threshold: float,
    at_confidence: float = 0.0,
) -> tuple[float, float, float]:
    """(AP, precision, recall) for one class over a dataset (predictions with confidence, truths
    without); precision and recall count the predictions scoring at least ``at_confidence`` (a
    serving threshold). NaN for a class with no truth boxes."""
    records: list[tuple[float, bool]] = []
    total = 0
    for pred, truth in zip(predictions, truths, strict=True):
        p, t = pred[pred.class_id == class_id], truth[truth.class_id == class_id]
        total += len(t)
        for score, match in zip(p.confidence, match_greedy(p, t, iou_threshold), strict=True):
            records.append((float(score), match >= 0))
    if total == 0:
        return float("nan"), float("nan"), float("nan")
    if not records:
        return 0.0, 0.0, 0.0
    records.sort(key=lambda r: -r[0])
    hits = np.array([r[1] for r in records], float)
    tp = np.cumsum(hits)
    recall = tp / total
    precision = tp / np.arange(1, len(hits) + 1)
    kept = sum(score >= at_confidence for score, _ in records)
    at = (float(precision[kept - 1]), float(recall[kept - 1])) if kept else (0.0, 0.0)
    return average_precision(recall, precision), *at


def detection_metrics(
    predictions: Sequence[sv.Detections],
    truths: Sequence[sv.Detections],
    class_names: Sequence[str],
    at_confidence: float = 0.0,
) -> dict:
    """mAP@0.5, mAP@0.5:0.95, and per class AP50, AP50-95, and precision and recall at IoU 0.5
    counting predictions scored at least ``at_confidence``. ``class_id`` indexes ``class_names``."""
    per_class = {}
    for k, name in enumerate(class_names):
        ap50, precision, recall = detection_ap(predictions, truths, k, 0.5, at_confidence)
        aps = [detection_ap(predictions, truths, k, t)[0] for t in IOU_THRESHOLDS]
        per_class[name] = {
            "ap50": ap50,
            "ap50_95": float(np.mean(aps)),
            "precision": precision,
            "recall": recall,
            "n": int(sum((t.class_id == k).sum() for t in truths)),
        }
    present = [v for v in per_class.values() if v["n"] > 0]
    return {
        "precision_recall_at_confidence": at_confidence,
        "map50": float(np.mean([v["ap50"] for v in present])) if present else float("nan"),
        "map50_95": float(np.mean([v["ap50_95"] for v in present])) if present else float("nan"),
        "per_class": per_class,
    }


def confusion_matrix(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Rows are the truth, columns the prediction, in ``labels`` order (scikit-learn's)."""
    if not len(truth):
        return np.zeros((len(labels), len(labels)), dtype=int)
    return sk_metrics.confusion_matrix(truth, predicted, labels=list(labels))


def classification_report(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> dict:
    """Accuracy, macro-F1 over the classes present in the truth, and per-class precision / recall
    / F1 (scikit-learn's; 0 where a class was never predicted or never true)."""
    if not len(truth):
        zero = np.zeros(len(labels))
        precision = recall = f1 = zero
        support = zero.astype(int)
    else:
        precision, recall, f1, support = sk_metrics.precision_recall_fscore_support(
            truth, predicted, labels=list(labels), zero_division=0
        )
    present = support > 0
    return {
        "accuracy": float(sk_metrics.accuracy_score(truth, predicted)) if len(truth) else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "n": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
    }


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """Sum over equal-width confidence bins of |accuracy - mean confidence| x bin share."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    if len(confidence) == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)
