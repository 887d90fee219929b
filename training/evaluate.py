"""Model evaluation on a labelled split: detector, conditions, spatial relations, end to end.

    python -m training evaluate --data ../shared/data/slopes --split val --out reports/eval [--json]
    python -m training evaluate --data db --split val --compare path/to/other/condition-model --out ...

Every figure is printed with the provenance of the data it was measured on. The photos of the
slopes dataset carry object types only: condition figures on them are measured on conditions
synthesized from their real object crops, and say so.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from core.conditions import ConditionModel, condition_prompt
from core.detector import Detector
from core.images import load_image
from core.pipeline import Inspector
from core.spatial import all_pair_relations
from core.taxonomy import ALLOWED_CONDITIONS, CLASS_NAMES, CONDITIONS, OBJECT_TYPES, class_name
from training.dataset import LabelledPhoto
from training.metrics import (
    ImageBoxes,
    classification_report,
    confusion_matrix,
    detection_metrics,
    expected_calibration_error,
    match_greedy,
)

AP_CONF = 0.001  # AP integrates over all thresholds: keep nearly every detection


def _truth(photo: LabelledPhoto) -> ImageBoxes:
    return ImageBoxes(photo.boxes, np.array([OBJECT_TYPES.index(o.object_type) for o in photo.objects], dtype=int))


def evaluate_detector(detector: Detector, photos: list[LabelledPhoto]) -> dict:
    predictions, truths = [], []
    for photo in photos:
        d = detector.detect(load_image(photo.path), conf=AP_CONF)
        classes = np.array([OBJECT_TYPES.index(t) for t in d.data["object_type"]], dtype=int)
        predictions.append(ImageBoxes(d.xyxy.astype(float), classes, d.confidence.astype(float)))
        truths.append(_truth(photo))
    return {"model": detector.version, **detection_metrics(predictions, truths, OBJECT_TYPES, detector.conf)}


# ------------------------------------------------------------------ conditions on labelled boxes

ConditionExample = tuple[Image.Image, str, str, str]  # crop, object type, context text, true condition


def condition_examples(photos: list[LabelledPhoto], margin: float, seed: int) -> tuple[list[ConditionExample], str]:
    """Examples on the labelled boxes. Real conditions where every scored object has one;
    otherwise conditions synthesized on the real crops (one per allowed condition)."""
    from training.condition import crops_from_photos, held_out_examples

    crops = crops_from_photos(photos, margin)
    if crops and all(c.condition is not None for c in crops):
        return [(Image.fromarray(c.crop), c.object_type, c.context, c.condition) for c in crops], (
            "real reviewed conditions"
        )
    examples = held_out_examples(crops, seed)
    return examples, "conditions SYNTHESIZED on real object crops (the labels carry no conditions)"


def evaluate_conditions(model: ConditionModel, examples: list[ConditionExample]) -> dict:
    """Accuracy, macro-F1, per 9-class / condition / object type, confusion matrix, ECE."""
    truth, guess, confidence = [], [], []
    for start in range(0, len(examples), 32):
        chunk = examples[start : start + 32]
        logits = model.answer_logits([e[0] for e in chunk], [condition_prompt(e[1], e[2]) for e in chunk])
        for row, (_, object_type, _, condition) in enumerate(chunk):
            probs = model.probabilities(logits[row], ALLOWED_CONDITIONS[object_type])
            best = max(probs, key=probs.get)
            truth.append(class_name(object_type, condition))
            guess.append(class_name(object_type, best))
            confidence.append(probs[best])
    labels = [c for c in CLASS_NAMES if not c.startswith("vegetation")]
    matrix = confusion_matrix(truth, guess, labels)
    report = classification_report(matrix, labels)
    correct = [t == g for t, g in zip(truth, guess, strict=True)]
    by = {}
    for key, values in (("condition", CONDITIONS), ("object_type", OBJECT_TYPES[:3])):
        by[key] = {}
        for value in values:
            chosen = [c for t, c in zip(truth, correct, strict=True) if _split_class(t)[key == "condition"] == value]
            if chosen:
                by[key][value] = {"accuracy": float(np.mean(chosen)), "n": len(chosen)}
    return {
        "model": model.version,
        "examples": len(examples),
        "accuracy": report["accuracy"],
        "macro_f1": report["macro_f1"],
        "ece": expected_calibration_error(confidence, correct),
        "per_class": report["per_class"],
        "per_condition": by["condition"],
        "per_object_type": by["object_type"],
        "confusion": {"labels": labels, "matrix": matrix.tolist()},
    }


def evaluate_generation(model: ConditionModel, examples: list[ConditionExample], limit: int) -> dict:
    """The seed's way for comparison: free greedy generation (max_new_tokens=50) on the same
    condition prompt, one crop at a time; the first allowed condition word in the text is the
    answer (none found counts as wrong). Also times both ways on the same crops."""
    import time

    chosen = examples[:limit]
    hits, unparsed = 0, 0
    started = time.perf_counter()
    for crop, object_type, context, truth in chosen:
        text = model.generate_text(crop, condition_prompt(object_type, context), max_new_tokens=50).lower()
        found = [(text.find(c), c) for c in ALLOWED_CONDITIONS[object_type] if c in text]
        if not found:
            unparsed += 1
            continue
        hits += min(found)[1] == truth
    generation_s = time.perf_counter() - started
    started = time.perf_counter()
    for start in range(0, len(chosen), 16):
        chunk = chosen[start : start + 16]
        model.answer_logits([e[0] for e in chunk], [condition_prompt(e[1], e[2]) for e in chunk])
    scoring_s = time.perf_counter() - started
    return {
        "examples": len(chosen),
        "accuracy": hits / len(chosen) if chosen else float("nan"),
        "unparsed": unparsed,
        "ms_per_crop_generation": 1000 * generation_s / max(1, len(chosen)),
        "ms_per_crop_scoring": 1000 * scoring_s / max(1, len(chosen)),
    }


def _split_class(name: str) -> tuple[str, str]:
    for object_type in OBJECT_TYPES:
        if name == object_type:
            return object_type, "normal"
        if name.startswith(object_type + "_"):
            return object_type, name[len(object_type) + 1 :]
    raise ValueError(name)


# ------------------------------------------------------------------ spatial and end to end


def evaluate_pipeline(inspector: Inspector, photos: list[LabelledPhoto]) -> dict:
    """Detections at the serving threshold matched to labels (same type, IoU >= 0.5); then the
    relations among matched objects against those among the labelled boxes, and the conditions
    of matched objects where the labels have them."""
    matched = total_truth = total_pred = 0
    agree = predicted_relations = truth_relations = 0
    per_relation: dict[str, list[int]] = {}
    condition_hits, condition_known = 0, 0
    for photo in photos:
        image = load_image(photo.path)
        inspection = inspector.inspect(image)
        findings = inspection.findings
        pred = ImageBoxes(
            np.array([f.box_xyxy for f in findings], float).reshape(-1, 4),
            np.array([OBJECT_TYPES.index(f.object_type) for f in findings], dtype=int),
            np.array([f.confidence for f in findings], float),
        )
        truth = _truth(photo)
        matches = match_greedy(pred, truth, 0.5)
        total_truth += len(photo.objects)
        total_pred += len(findings)
        pairs = {i: j for i, j in enumerate(matches) if j >= 0}
        matched += len(pairs)
        for i, j in pairs.items():
            known = photo.objects[j].condition
            if known is not None:
                condition_known += 1
                condition_hits += findings[i].condition == known
        # relations among matched objects only, in truth indices
        kinds = [f.object_type for f in findings]
        on_detections = {
            (pairs[i], r, pairs[k])
            for i, r, k in all_pair_relations(pred.boxes, kinds, image.size)
            if i in pairs and k in pairs
        }
        kept = set(pairs.values())
        on_labels = {
            (i, r, k)
            for i, r, k in all_pair_relations(photo.boxes, [o.object_type for o in photo.objects], image.size)
            if i in kept and k in kept
        }
        agree += len(on_detections & on_labels)
        predicted_relations += len(on_detections)
        truth_relations += len(on_labels)
        for _, relation, _ in on_labels:
            per_relation.setdefault(relation, [0, 0])[1] += 1
        for _, relation, _ in on_detections & on_labels:
            per_relation[relation][0] += 1
    return {
        "detection_at_serving_threshold": {
            "precision": matched / total_pred if total_pred else float("nan"),
            "recall": matched / total_truth if total_truth else float("nan"),
            "matched": matched,
            "detections": total_pred,
            "labels": total_truth,
        },
        "spatial_relations": {
            "precision": agree / predicted_relations if predicted_relations else float("nan"),
            "recall": agree / truth_relations if truth_relations else float("nan"),
            "recall_per_relation": {k: v[0] / v[1] for k, v in sorted(per_relation.items())},
        },
        "end_to_end_condition_accuracy": (condition_hits / condition_known) if condition_known else None,
        "end_to_end_note": None if condition_known else "the labels carry no conditions: not measurable here",
    }


# ------------------------------------------------------------------ report


def write_evaluation(result: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(json.dumps(result, indent=2, default=float))
    files = [out / "evaluation.json", out / "evaluation.md"]
    for key in ("conditions", "compare_conditions"):
        if key in result:
            files.append(_confusion_plot(result[key], out / f"{key}_confusion.png"))
    (out / "evaluation.md").write_text(markdown(result, [f.name for f in files[2:]]))
    return files


def markdown(r: dict, plots: list[str] = ()) -> str:
    d = r["detector"]
    lines = [
        "# Evaluation",
        "",
        f"Data: {r['provenance']}, split `{r['split']}`, {r['photos']} photos.",
        "",
        f"## Detector ({d['model']})",
        "",
        f"mAP@0.5 **{d['map50']:.3f}**, mAP@0.5:0.95 **{d['map50_95']:.3f}** (all-points AP, conf >= {AP_CONF}).",
        "",
        f"| class | n | AP50 | AP50-95 | precision at conf {d['precision_recall_at_confidence']:.2f} | recall |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, v in d["per_class"].items():
        lines.append(
            f"| {name} | {v['n']} | {v['ap50']:.3f} | {v['ap50_95']:.3f} | {v['precision']:.3f} | {v['recall']:.3f} |"
        )
    for key, title in (("conditions", "Condition model"), ("compare_conditions", "Compared condition model")):
        if key not in r:
            continue
        c = r[key]
        lines += [
            "",
            f"## {title} ({c['model']}) on labelled boxes",
            "",
            f"Data: {r['condition_provenance']}; {c['examples']} examples.",
            "",
            f"accuracy **{c['accuracy']:.3f}**, macro-F1 **{c['macro_f1']:.3f}**, ECE {c['ece']:.3f}"
            + (f", weights in memory {c['memory_bytes'] / 1e6:.2f} MB" if "memory_bytes" in c else ""),
            "",
            "| class | n | precision | recall | F1 |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {n} | {v['n']} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} |"
            for n, v in c["per_class"].items()
        ]
        lines += [
            "",
            "Per condition: "
            + ", ".join(f"{k} {v['accuracy']:.3f} (n={v['n']})" for k, v in c["per_condition"].items()),
        ]
        lines += [
            "Per object type: "
            + ", ".join(f"{k} {v['accuracy']:.3f} (n={v['n']})" for k, v in c["per_object_type"].items())
        ]
    if "generation" in r:
        g, c = r["generation"], r["conditions"]
        lines += [
            "",
            "## Label scoring vs free generation (same model, same crops)",
            "",
            f"On the first {g['examples']} examples: generation accuracy {g['accuracy']:.3f} ({g['unparsed']} answers "
            f"without a condition word), {g['ms_per_crop_generation']:.1f} ms per crop; one-pass scoring accuracy "
            f"on all examples {c['accuracy']:.3f}, {g['ms_per_crop_scoring']:.1f} ms per crop "
            f"({g['ms_per_crop_generation'] / g['ms_per_crop_scoring']:.1f}x faster).",
        ]
    p = r["pipeline"]
    det, sp = p["detection_at_serving_threshold"], p["spatial_relations"]
    lines += [
        "",
        "## Pipeline at the serving threshold",
        "",
        f"Detections matched to labels (same type, IoU >= 0.5): precision {det['precision']:.3f}, "
        f"recall {det['recall']:.3f} ({det['matched']} of {det['labels']} labels, {det['detections']} detections).",
        f"Spatial relations among matched objects vs the labelled boxes: precision {sp['precision']:.3f}, "
        f"recall {sp['recall']:.3f}; recall per relation: "
        + ", ".join(f"{k} {v:.2f}" for k, v in sp["recall_per_relation"].items())
        + ".",
        "End-to-end condition accuracy: "
        + (
            f"{p['end_to_end_condition_accuracy']:.3f}"
            if p["end_to_end_condition_accuracy"] is not None
            else p["end_to_end_note"]
        )
        + ".",
        "",
    ]
    lines += [f"![{name}]({name})" for name in plots]
    return "\n".join(lines) + "\n"


def _confusion_plot(c: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.array(c["confusion"]["matrix"])
    labels = c["confusion"]["labels"]
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if matrix[i, j]:
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7)
    ax.set_title(f"Conditions: {c['model']}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
