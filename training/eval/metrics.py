"""Metrics as plain functions on numpy arrays and ``sv.Detections`` (boxes xyxy, ``class_id``,
``confidence`` for predictions), each checked against hand-computed cases in tests. The
classification ones are scikit-learn's; detection AP is supervision's COCO evaluator.

One mAP in the project, the COCO definition: precision interpolated at 101 recall points, at
most 100 detections per photo and class, mAP@0.5:0.95 averaged over IoU 0.50, 0.55, ..., 0.95.
The detector's card, ``slope train evaluate`` and the retraining gate all measure it here, on
the served detection path. Only the per-epoch history in a card is ultralytics' own val (it
picks best.pt during training; it reads the envelope linearly, so it differs). ``MAP_METHOD`` is
what every report that shows an mAP of ours says it is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import supervision as sv
from sklearn import metrics as sk_metrics

MAP_METHOD = "COCO 101-point, supervision"


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


def precision_recall_at(
    predictions: Sequence[sv.Detections],
    truths: Sequence[sv.Detections],
    class_id: int,
    iou_threshold: float,
    at_confidence: float,
) -> tuple[float, float]:
    """Precision and recall of one class over a dataset counting only the predictions scored at
    least ``at_confidence`` (a serving threshold), matched greedily; NaN for a class with no
    truth boxes."""
    hits = kept = total = 0
    for pred, truth in zip(predictions, truths, strict=True):
        p, t = pred[(pred.class_id == class_id) & (pred.confidence >= at_confidence)], truth[truth.class_id == class_id]
        total += len(t)
        kept += len(p)
        hits += sum(match >= 0 for match in match_greedy(p, t, iou_threshold))
    if total == 0:
        return float("nan"), float("nan")
    return (hits / kept if kept else 0.0), hits / total


def _score(value: float) -> float:
    """supervision's -1 sentinel (nothing to score: no truth box) as NaN."""
    return float("nan") if value < 0 else float(value)


def map50(predictions: Sequence[sv.Detections], truths: Sequence[sv.Detections]) -> float:
    """mAP@0.5 alone (``MAP_METHOD``): what the detector's gate compares on every resample."""
    return _score(sv.metrics.MeanAveragePrecision().update(list(predictions), list(truths)).compute().map50)


def detection_metrics(
    predictions: Sequence[sv.Detections],
    truths: Sequence[sv.Detections],
    class_names: Sequence[str],
    at_confidence: float = 0.0,
) -> dict:
    """mAP@0.5, mAP@0.5:0.95 (``MAP_METHOD``), and per class AP50, AP50-95, and precision and
    recall at IoU 0.5 counting predictions scored at least ``at_confidence``. ``class_id``
    indexes ``class_names``. A class without truth boxes has NaN AP and does not count in the
    means (COCO's rule)."""
    result = sv.metrics.MeanAveragePrecision().update(list(predictions), list(truths)).compute()
    ap = {int(k): row for k, row in zip(result.matched_classes, result.ap_per_class, strict=True)}
    per_class = {}
    for k, name in enumerate(class_names):
        precision, recall = precision_recall_at(predictions, truths, k, 0.5, at_confidence)
        row = ap.get(k)
        valid = row[row >= 0] if row is not None else np.array([])
        per_class[name] = {
            "ap50": _score(row[0]) if row is not None else float("nan"),
            "ap50_95": float(valid.mean()) if len(valid) else float("nan"),
            "precision": precision,
            "recall": recall,
            "n": int(sum((t.class_id == k).sum() for t in truths)),
        }
    return {
        "precision_recall_at_confidence": at_confidence,
        "map50": _score(result.map50),
        "map50_95": _score(result.map50_95),
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
