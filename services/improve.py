"""The improvement loop as jobs: reviewed labels -> a candidate -> the gate -> promotion.

Each function here is a job (``services.jobs``): it runs in its own process, reports progress,
stops when asked, and returns the version it produced. A candidate is recorded in the registry
with the gate's figures; it is promoted (served from the next request on) only when the gate
passes and the job's settings allow it. Every figure says which held-out photos it is on.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from lifecycle import registry
from lifecycle.server import ModelServer
from services.job_spec import JobSpec
from services.jobs import JobContext


def _served(context: JobContext):
    return ModelServer(context.settings, context.db).served()


def _photos(data: str, context: JobContext):
    from training.data.dataset import from_database, from_yolo_folder

    if data == "db":
        return from_database(context.db, context.settings.data_dir), "reviewed labels in the store"
    return from_yolo_folder(data), f"YOLO folder {data}"


def improve_condition(job: JobSpec, context: JobContext) -> str | None:
    """Fine-tune the served condition model on the reviewed conditions and gate it.

    ``job``: data, dataset and finetune (the settings given), margin, metric, promote."""
    from core.conditions import ConditionModel, card_crop_margin
    from training.condition.finetune import finetune_condition_model
    from training.data.condition_data import build_condition_dataset
    from training.eval.gate import gate

    served_folder = _served(context).condition
    photos, source = _photos(job.data, context)
    # Crops as the served model was trained and serves them (its card's margin). Rare conditions
    # are balanced by class weights in the loss by default; oversampling instead is a setting,
    # never both (that would correct twice).
    dataset_settings = job.dataset_settings(crop_margin=card_crop_margin(served_folder), oversample=False)
    dataset = build_condition_dataset(photos, dataset_settings)
    context.log(
        f"{len(dataset.train)} train examples ({dataset.train_counts}), {len(dataset.held_out)} held-out real objects "
        f"on {len(dataset.held_out_photos)} photos ({dataset.held_out_counts}); {dataset.provenance}"
    )
    _warn_if_few(context, len(dataset.held_out))
    settings = job.finetune_settings(use_class_weights=not dataset_settings.oversample)
    folder = finetune_condition_model(
        served_folder,
        dataset.train,
        dataset.held_out,
        settings,
        class_weights=None,  # per 9-class name, from the (real, not oversampled) train examples
        registry=_registry(context),
        data_hash=dataset.data_hash,
        data_provenance=f"{source}: {dataset.provenance}",
        held_out_description=f"{len(dataset.held_out)} held-out real objects on "
        f"{len(dataset.held_out_photos)} photos of {source} (split by photo, held_out_hash "
        f"{dataset.held_out_hash[:19]})",
        progress=lambda step, total, values: context.progress(step, total, values),
        should_stop=context.should_stop,
    )
    card = registry.record(context.db, folder)
    decision = gate(
        ConditionModel(str(folder)),
        ConditionModel(served_folder),
        dataset.held_out,
        dataset.train,
        margin=job.margin,
        metric=job.metric,
    )
    for line in decision.reasons:
        context.log(line)
    return _conclude(context, "condition", card.version, decision.passed, job, _gate_figures(decision))


FEW_HELD_OUT = 30  # below this, one object moves the gate's accuracy by more than 3 points


def _warn_if_few(context: JobContext, held_out: int) -> None:
    if held_out < FEW_HELD_OUT:
        context.log(
            f"warning: only {held_out} held-out objects, too few to judge a model by (one object is "
            f"{100 / max(held_out, 1):.0f}% of the accuracy): review more photos for a gate worth trusting"
        )


def _registry(context: JobContext) -> Path:
    # The job's own data directory, not the environment's: candidates land beside the store
    # that records them.
    from lifecycle.folders import registry_root

    return registry_root(context.settings.data_dir)


def _gate_figures(decision) -> dict[str, Any]:
    figures = {}
    for who in ("candidate", "served", "baseline"):
        report = getattr(decision, who)
        figures[f"{who}_accuracy"] = report.accuracy
        figures[f"{who}_macro_f1"] = report.macro_f1
    figures["gate"] = decision.reasons[0]
    return figures


def _conclude(context: JobContext, kind: str, version: str, passed: bool, job: JobSpec, figures: dict) -> str:
    """Record the gate's figures; promote or reject."""
    registry.judge(context.db, kind, version, passed, figures)
    if passed and job.promote:
        gate = figures.get("gate") or f"accuracy retention {figures['accuracy_retention']:.4f}"
        reason = f"job {context.run_id} passed its gate: {gate}"
        registry.promote(context.db, kind, version, actor=context.actor, reason=reason)
        context.log(f"{kind} {version} promoted: served from the next request on")
    elif passed:
        context.log(f"{kind} {version} passed the gate; left as a candidate (promote was off)")
    else:
        context.log(f"{kind} {version} rejected by the gate; the served model stays")
    return version


def quantize_version(job: JobSpec, context: JobContext) -> str | None:
    """Quantize a condition model version (``version``; default the served one) as ``quantization``
    (int8 or nf4) and measure what it keeps on the held-out reviewed conditions; served only if
    retention >= ``min_retention`` (0.99) and ``promote``."""
    from core.conditions import card_crop_margin
    from training.condition.quantize import DEFAULT_MIN_RETENTION, quantize_candidate
    from training.data.condition_data import build_condition_dataset

    if job.version:
        record = registry.find_version(context.db, job.version)
        if record.kind != "condition":
            raise ValueError(f"{record.name} is a {record.kind} model: only condition models are quantized")
        served_folder = record.folder
    else:
        served_folder = _served(context).condition
    photos, source = _photos(job.data, context)
    dataset = build_condition_dataset(photos, job.dataset_settings(crop_margin=card_crop_margin(served_folder)))
    _warn_if_few(context, len(dataset.held_out))
    min_retention = DEFAULT_MIN_RETENTION if job.min_retention is None else job.min_retention
    result = quantize_candidate(
        served_folder,
        job.quantization,
        dataset.held_out,
        f"{len(dataset.held_out)} held-out real objects on {len(dataset.held_out_photos)} photos of {source}",
        registry=_registry(context),
        min_retention=min_retention,
    )
    card = registry.record(context.db, result.folder, quantization=job.quantization)
    context.log(f"accuracy retention {result.retention:.4f} (threshold {min_retention})")
    figures = {"accuracy_retention": result.retention, "size_bytes": card.metrics["size_bytes"]}
    return _conclude(context, "condition", card.version, result.servable, job, figures)


def improve_detector(job: JobSpec, context: JobContext) -> str | None:
    """Fine-tune the served detector on the reviewed boxes and gate it on mAP@0.5 over the
    held-out reviewed photos (the export's val split), measured the same way for both models.

    ``job``: detector (hours, epochs, imgsz, batch, workers), margin, promote."""
    from core.detector import Detector, resolve_weights
    from storage.formats.export import export
    from training.data.dataset import from_yolo_folder
    from training.detector.build import DetectorTrainSettings, train_detector
    from training.eval.evaluate import evaluate_detector

    served_folder = _served(context).detector
    with tempfile.TemporaryDirectory(prefix="reviewed-boxes-") as work:
        data = Path(work) / "yolo"
        counts = export(context.db, context.settings.data_dir, "yolo", data)
        context.log(f"reviewed boxes exported: {counts}")
        held_out = from_yolo_folder(data, "val") if (data / "val").is_dir() else []
        if not held_out:
            raise ValueError("no held-out reviewed photos (val split): review more photos before retraining")
        weights = resolve_weights(served_folder)
        if weights.suffix != ".pt":
            weights = weights.with_suffix(".pt")
        folder = train_detector(
            DetectorTrainSettings(
                data_dir=data,
                data_name="the reviewed boxes in the store",
                init_from=weights,
                registry=_registry(context),
                **job.detector_settings(),
            ),
            progress=lambda step, total, values: context.progress(step, total, values),
            should_stop=context.should_stop,
        )
        candidate = evaluate_detector(Detector(folder), held_out)
        served = evaluate_detector(Detector(served_folder), held_out)
    card = registry.record(context.db, folder)
    margin = job.margin
    passed = candidate.map50 >= served.map50 - margin
    line = (
        f"{'PASSED' if passed else 'FAILED'}: candidate mAP@0.5 {candidate.map50:.3f} vs served {served.map50:.3f} "
        f"on {len(held_out)} held-out reviewed photos (needs >= served - {margin:g})"
    )
    context.log(line)
    figures = {"candidate_map50": candidate.map50, "served_map50": served.map50, "gate": line}
    return _conclude(context, "detector", card.version, passed, job, figures)
