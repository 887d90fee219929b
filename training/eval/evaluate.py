"""Model evaluation on a labelled split: detector, conditions, spatial relations, end to end.

``evaluate`` is the one library function; it returns a typed ``EvaluationReport`` that
``training.eval.report`` writes as JSON, Markdown and plots. The CLI and the dashboard only
call these two:

    slope train evaluate --data ../shared/data/slopes --split val --out reports/eval [--json]
    slope train evaluate --data db --split val --compare path/to/other/condition-model --out ...

Every figure carries the provenance of the data it was measured on. The photos of the slopes
dataset carry object types only: condition figures on them are measured on conditions
synthesized from their real object crops, and say so.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import supervision as sv

from core.conditions import ConditionModel, condition_prompt
from core.detector import Detector
from core.images import load_stored_image
from core.pipeline import Inspector
from core.spatial import all_pair_relations
from core.taxonomy import ALLOWED_CONDITIONS, OBJECT_TYPES
from core.types import LabelledPhoto
from training.baselines.probe import ProbeBaseline
from training.baselines.type_prior import type_prior_report
from training.data.examples import (
    REAL_CONDITIONS,
    ConditionExample,
    ConditionReport,
    condition_examples,
    evaluate_conditions,
)
from training.eval.metrics import detection_metrics, match_greedy

AP_CONF = 0.001  # AP integrates over all thresholds: keep nearly every detection
MATCH_IOU = 0.5  # a detection and a labelled box are the same object from this IoU (same type)

__all__ = [
    "AP_CONF",
    "ClassDetection",
    "ConditionReport",
    "DetectorReport",
    "EvaluationReport",
    "GenerationReport",
    "MatchedDetections",
    "PipelineReport",
    "RelationAgreement",
    "evaluate",
    "evaluate_conditions",
    "evaluate_detector",
    "evaluate_generation",
    "evaluate_pipeline",
]


@dataclass(frozen=True)
class ClassDetection:
    ap50: float
    ap50_95: float
    precision: float  # at the serving threshold, IoU 0.5
    recall: float
    n: int  # labelled boxes of the class


@dataclass(frozen=True)
class DetectorReport:
    model: str
    precision_recall_at_confidence: float  # the serving threshold the per-class P/R count from
    map50: float
    map50_95: float
    per_class: dict[str, ClassDetection]  # every object type, NaN AP where it has no boxes


@dataclass(frozen=True)
class GenerationReport:
    """Free generation against one-pass label scoring, same model, same crops."""

    examples: int
    accuracy: float
    unparsed: int  # answers without an allowed condition word (counted wrong)
    ms_per_crop_generation: float
    ms_per_crop_scoring: float


@dataclass(frozen=True)
class MatchedDetections:
    precision: float
    recall: float
    matched: int
    detections: int
    labels: int


@dataclass(frozen=True)
class RelationAgreement:
    precision: float
    recall: float
    recall_per_relation: dict[str, float]


@dataclass(frozen=True)
class PipelineReport:
    """The whole inspection at the serving threshold against the labels."""

    detection_at_serving_threshold: MatchedDetections
    spatial_relations: RelationAgreement
    end_to_end_condition_accuracy: float | None  # None where the labels carry no conditions
    end_to_end_note: str | None


@dataclass(frozen=True)
class EvaluationReport:
    provenance: str  # what the photos and labels are
    split: str | None
    photos: int
    detector: DetectorReport
    condition_provenance: str  # real or synthesized conditions
    conditions: ConditionReport
    pipeline: PipelineReport
    generation: GenerationReport | None = None
    compare_conditions: ConditionReport | None = None
    # Fitted on other photos' real conditions, scored on the same examples: what a user gets
    # without the condition model (the type prior) or with the first thing a practitioner tries.
    baselines: tuple[ConditionReport, ...] = ()

    def to_dict(self) -> dict:
        """The JSON form; the optional parts only where they were measured."""
        values = {
            "provenance": self.provenance,
            "split": self.split,
            "photos": self.photos,
            "detector": asdict(self.detector),
            "condition_provenance": self.condition_provenance,
            "conditions": self.conditions.to_dict(),
            "pipeline": asdict(self.pipeline),
        }
        if self.generation is not None:
            values["generation"] = asdict(self.generation)
        if self.compare_conditions is not None:
            values["compare_conditions"] = self.compare_conditions.to_dict()
        if self.baselines:
            values["baselines"] = [b.to_dict() for b in self.baselines]
        return values


def evaluate(
    inspector: Inspector,
    photos: Sequence[LabelledPhoto],
    provenance: str,
    split: str | None,
    *,
    compare: ConditionModel | None = None,
    generation: int = 0,
    seed: int = 1,
    baseline_photos: Sequence[LabelledPhoto] = (),
) -> EvaluationReport:
    """Everything measured on ``photos``: the detector's AP, the condition model on the labelled
    boxes (cropped with its own margin), the whole pipeline at the serving threshold, and where
    asked, free generation on the first ``generation`` examples and a second condition model on
    the same examples (then both models' memory footprints too). With ``baseline_photos`` (other
    photos with real conditions, e.g. the train split) the type prior and the EfficientNet-Lite0
    probe are fitted on them and scored beside the model."""
    if not photos:
        raise ValueError("no labelled photos to evaluate on")
    served = inspector.condition_model
    examples, condition_provenance = condition_examples(photos, served.crop_margin, seed, served.photo_side)
    conditions = evaluate_conditions(served, examples)
    compared = None
    if compare is not None:
        compared = _with_memory(evaluate_conditions(compare, examples), compare)
        conditions = _with_memory(conditions, served)
    return EvaluationReport(
        provenance=provenance,
        split=split,
        photos=len(photos),
        detector=evaluate_detector(inspector.detector, photos),
        condition_provenance=condition_provenance,
        conditions=conditions,
        pipeline=evaluate_pipeline(inspector, photos),
        generation=evaluate_generation(served, examples, generation) if generation else None,
        compare_conditions=compared,
        baselines=condition_baselines(baseline_photos, photos, examples, served.crop_margin, seed)
        if condition_provenance == REAL_CONDITIONS
        else (),
    )


def condition_baselines(
    train_photos: Sequence[LabelledPhoto],
    photos: Sequence[LabelledPhoto],
    examples: Sequence[ConditionExample],
    margin: float,
    seed: int,
) -> tuple[ConditionReport, ...]:
    """The type prior and the probe, fitted on ``train_photos`` (real conditions only) and scored
    on ``photos`` (whose condition examples are ``examples``; the probe cuts its own crops)."""
    train, provenance = condition_examples(train_photos, margin, seed)
    if not train or provenance != REAL_CONDITIONS:
        return ()
    return type_prior_report(train, examples), ProbeBaseline().fit(train_photos).report(photos)


def _with_memory(report: ConditionReport, model: ConditionModel) -> ConditionReport:
    return replace(report, memory_bytes=int(model.model.get_memory_footprint()))


# ------------------------------------------------------------------ detector


def by_object_type(detections: sv.Detections) -> sv.Detections:
    """``class_id`` as the index in ``OBJECT_TYPES`` (a 9-class checkpoint has other ids)."""
    types = detections.data.get("object_type", [])
    detections.class_id = np.array([OBJECT_TYPES.index(str(t)) for t in types], dtype=int)
    return detections


def evaluate_detector(detector: Detector, photos: Sequence[LabelledPhoto]) -> DetectorReport:
    """AP per object type (``metrics.MAP_METHOD``), and precision/recall at the detector's own
    threshold."""
    predictions = [by_object_type(detector.detect(load_stored_image(p.path), conf=AP_CONF)) for p in photos]
    truths = [p.detections() for p in photos]
    metrics = detection_metrics(predictions, truths, OBJECT_TYPES, detector.conf)
    return DetectorReport(
        model=detector.version,
        precision_recall_at_confidence=metrics["precision_recall_at_confidence"],
        map50=metrics["map50"],
        map50_95=metrics["map50_95"],
        per_class={name: ClassDetection(**v) for name, v in metrics["per_class"].items()},
    )


# ------------------------------------------------------------------ conditions by free generation


def evaluate_generation(model: ConditionModel, examples: Sequence[ConditionExample], limit: int) -> GenerationReport:
    """The seed's way for comparison: free greedy generation (max_new_tokens=50) on the same
    condition prompt, one crop at a time; the first allowed condition word in the text is the
    answer (none found counts as wrong). Also times both ways on the same crops."""
    chosen = examples[:limit]
    hits, unparsed = 0, 0
    started = time.perf_counter()
    for example in chosen:
        prompt = condition_prompt(example.object_type, example.context)
        text = model.generate_text(example.crop, prompt, max_new_tokens=50).lower()
        found = [(text.find(c), c) for c in ALLOWED_CONDITIONS[example.object_type] if c in text]
        if not found:
            unparsed += 1
            continue
        hits += min(found)[1] == example.condition
    generation_s = time.perf_counter() - started
    started = time.perf_counter()
    for start in range(0, len(chosen), 16):
        chunk = chosen[start : start + 16]
        model.answer_logits([e.crop for e in chunk], [condition_prompt(e.object_type, e.context) for e in chunk])
    scoring_s = time.perf_counter() - started
    return GenerationReport(
        examples=len(chosen),
        accuracy=hits / len(chosen) if chosen else float("nan"),
        unparsed=unparsed,
        ms_per_crop_generation=1000 * generation_s / max(1, len(chosen)),
        ms_per_crop_scoring=1000 * scoring_s / max(1, len(chosen)),
    )


# ------------------------------------------------------------------ spatial and end to end


def evaluate_pipeline(inspector: Inspector, photos: Sequence[LabelledPhoto]) -> PipelineReport:
    """Detections at the serving threshold matched to labels (same type, IoU >= 0.5); then the
    relations among matched objects against those among the labelled boxes, and the conditions
    of matched objects where the labels have them."""
    matched = total_truth = total_pred = 0
    agree = predicted_relations = truth_relations = 0
    per_relation: dict[str, list[int]] = {}
    condition_hits, condition_known = 0, 0
    for photo in photos:
        image = load_stored_image(photo.path)
        inspection = inspector.inspect(image)
        pred, truth = inspection.detections(), photo.detections()
        matches = match_greedy(pred, truth, MATCH_IOU)
        total_truth += len(truth)
        total_pred += len(pred)
        pairs = {i: j for i, j in enumerate(matches) if j >= 0}
        matched += len(pairs)
        for i, j in pairs.items():
            known = photo.objects[j].condition
            # Only objects with a condition to choose (vegetation is always normal: right for free).
            if known is not None and len(ALLOWED_CONDITIONS[photo.objects[j].object_type]) > 1:
                condition_known += 1
                condition_hits += inspection.findings[i].condition == known
        # relations among matched objects only, in truth indices
        on_detections = {
            (pairs[i], r, pairs[k])
            for i, r, k in all_pair_relations(pred.xyxy, [f.object_type for f in inspection.findings], image.size)
            if i in pairs and k in pairs
        }
        kept = set(pairs.values())
        on_labels = {
            (i, r, k)
            for i, r, k in all_pair_relations(photo.boxes, photo.object_types, image.size)
            if i in kept and k in kept
        }
        agree += len(on_detections & on_labels)
        predicted_relations += len(on_detections)
        truth_relations += len(on_labels)
        for _, relation, _ in on_labels:
            per_relation.setdefault(relation, [0, 0])[1] += 1
        for _, relation, _ in on_detections & on_labels:
            per_relation[relation][0] += 1
    return PipelineReport(
        detection_at_serving_threshold=MatchedDetections(
            precision=matched / total_pred if total_pred else float("nan"),
            recall=matched / total_truth if total_truth else float("nan"),
            matched=matched,
            detections=total_pred,
            labels=total_truth,
        ),
        spatial_relations=RelationAgreement(
            precision=agree / predicted_relations if predicted_relations else float("nan"),
            recall=agree / truth_relations if truth_relations else float("nan"),
            recall_per_relation={k: v[0] / v[1] for k, v in sorted(per_relation.items())},
        ),
        end_to_end_condition_accuracy=(condition_hits / condition_known) if condition_known else None,
        end_to_end_note=None if condition_known else "the labels carry no conditions: not measurable here",
    )
