"""The one writer of an ``EvaluationReport``: evaluation.json, evaluation.md and the confusion
matrices as PNG. The CLI prints what is written here; nothing else formats a report."""

from __future__ import annotations

import json
from pathlib import Path

from training.data.examples import ConditionReport
from training.eval.evaluate import AP_CONF, EvaluationReport
from training.eval.metrics import MAP_METHOD
from training.eval.plots import confusion_plot

# Report section -> (plot file, the title of its Markdown section)
CONDITION_SECTIONS = {
    "conditions": ("conditions_confusion.png", "Condition model"),
    "compare_conditions": ("compare_conditions_confusion.png", "Compared condition model"),
}


def _condition_reports(report: EvaluationReport) -> dict[str, ConditionReport]:
    found = {"conditions": report.conditions, "compare_conditions": report.compare_conditions}
    return {key: value for key, value in found.items() if value is not None}


def write_evaluation(report: EvaluationReport, out: str | Path) -> list[Path]:
    """evaluation.json, evaluation.md and one confusion PNG per condition model into ``out``
    (created if missing); returns the files written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "evaluation.json", out / "evaluation.md"]
    files[0].write_text(json.dumps(report.to_dict(), indent=2, default=float))
    for key, conditions in _condition_reports(report).items():
        name = CONDITION_SECTIONS[key][0]
        labels, matrix = conditions.confusion.labels, conditions.confusion.matrix
        files.append(confusion_plot(labels, matrix, f"Conditions: {conditions.model}", out / name))
    files[1].write_text(evaluation_markdown(report, [f.name for f in files[2:]]))
    return files


def evaluation_markdown(report: EvaluationReport, plots: list[str] | tuple[str, ...] = ()) -> str:
    """The report as Markdown; ``plots`` are image files beside it to link at the end."""
    r, d = report, report.detector
    lines = [
        "# Evaluation",
        "",
        f"Data: {r.provenance}, split `{r.split}`, {r.photos} photos.",
        "",
        f"## Detector ({d.model})",
        "",
        f"mAP@0.5 **{d.map50:.3f}**, mAP@0.5:0.95 **{d.map50_95:.3f}** ({MAP_METHOD}, conf >= {AP_CONF}).",
        "",
        f"| class | n | AP50 | AP50-95 | precision at conf {d.precision_recall_at_confidence:.2f} | recall |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, v in d.per_class.items():
        lines.append(f"| {name} | {v.n} | {v.ap50:.3f} | {v.ap50_95:.3f} | {v.precision:.3f} | {v.recall:.3f} |")
    for key, c in _condition_reports(report).items():
        title = CONDITION_SECTIONS[key][1]
        lines += [
            "",
            f"## {title} ({c.model}) on labelled boxes",
            "",
            f"Data: {r.condition_provenance}; {c.examples} examples.",
            "",
            f"accuracy **{c.accuracy:.3f}**, macro-F1 **{c.macro_f1:.3f}**, ECE {c.ece:.3f}"
            + (f", weights in memory {c.memory_bytes / 1e6:.2f} MB" if c.memory_bytes is not None else ""),
            "",
            "| class | n | precision | recall | F1 |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [f"| {n} | {v.n} | {v.precision:.3f} | {v.recall:.3f} | {v.f1:.3f} |" for n, v in c.per_class.items()]
        lines += [
            "",
            "Per condition: " + ", ".join(f"{k} {v.accuracy:.3f} (n={v.n})" for k, v in c.per_condition.items()),
            "Per object type: " + ", ".join(f"{k} {v.accuracy:.3f} (n={v.n})" for k, v in c.per_object_type.items()),
        ]
    if r.baselines:
        lines += [
            "",
            "## Condition model beside the baselines (same examples)",
            "",
            "Baselines fitted on the real conditions of other photos (the train split): the type prior answers "
            "each object type's most common condition; the probe is a logistic regression on frozen "
            "ImageNet EfficientNet-Lite0 features of a tight and a wide crop of the object, its type and "
            "where it is on the photo.",
            "",
            "| Model | accuracy | macro-F1 | normal vs problem | blocked recall | damaged recall |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for c in (r.conditions, *r.baselines):
            recall = {k: f"{v.accuracy:.3f}" for k, v in c.per_condition.items()}
            lines.append(
                f"| {c.model} | {c.accuracy:.3f} | {c.macro_f1:.3f} | {c.normal_vs_problem:.3f} | "
                f"{recall.get('blocked', '-')} | {recall.get('damaged', '-')} |"
            )
    if r.generation is not None:
        g, c = r.generation, r.conditions
        lines += [
            "",
            "## Label scoring vs free generation (same model, same crops)",
            "",
            f"On the first {g.examples} examples: generation accuracy {g.accuracy:.3f} ({g.unparsed} answers "
            f"without a condition word), {g.ms_per_crop_generation:.1f} ms per crop; one-pass scoring accuracy "
            f"on all examples {c.accuracy:.3f}, {g.ms_per_crop_scoring:.1f} ms per crop "
            f"({g.ms_per_crop_generation / g.ms_per_crop_scoring:.1f}x faster).",
        ]
    p = r.pipeline
    det, sp = p.detection_at_serving_threshold, p.spatial_relations
    end_to_end = (
        f"{p.end_to_end_condition_accuracy:.3f}" if p.end_to_end_condition_accuracy is not None else p.end_to_end_note
    )
    lines += [
        "",
        "## Pipeline at the serving threshold",
        "",
        f"Detections matched to labels (same type, IoU >= 0.5): precision {det.precision:.3f}, "
        f"recall {det.recall:.3f} ({det.matched} of {det.labels} labels, {det.detections} detections).",
        f"Spatial relations among matched objects vs the labelled boxes: precision {sp.precision:.3f}, "
        f"recall {sp.recall:.3f}; recall per relation: "
        + ", ".join(f"{k} {v:.2f}" for k, v in sp.recall_per_relation.items())
        + ".",
        f"End-to-end condition accuracy: {end_to_end}.",
        "",
    ]
    lines += [f"![{name}]({name})" for name in plots]
    return "\n".join(lines) + "\n"
