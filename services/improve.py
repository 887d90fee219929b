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

from core.statuses import ModelStatus
from core.taxonomy import counted
from lifecycle import registry
from lifecycle.gate import TOO_FEW, GateDecision
from lifecycle.server import ModelServer
from services.auth import refusal
from services.job_spec import JobSpec
from services.jobs import OPERATOR, JobContext
from storage.errors import ServedChanged


def _served(context: JobContext, kind: str) -> tuple[str, str | None]:
    """The served ``kind`` model's folder and its version's name (None when the registry has
    none): the name is what the candidate is compared with, and replaces only if still served."""
    version = registry.served_version(context.db, kind)
    folder = getattr(ModelServer(context.settings, context.db).served(), kind)
    return folder, version.name if version is not None else None


def _photos(data: str, context: JobContext):
    from training.data.dataset import from_database, read_yolo_folder

    if data == "db":
        return from_database(context.db, context.settings.data_dir), "reviewed labels in the store"
    if not (Path(data) / "data.yaml").is_file():
        raise ValueError(f"{data} is not a YOLO folder (it has no data.yaml)")
    read = read_yolo_folder(data)
    if read.left_out:  # in the job's log, where the person who started it reads it
        context.log(read.note())
    return read.photos, f"YOLO folder {data}"


def improve_condition(job: JobSpec, context: JobContext) -> str | None:
    """Fine-tune the served condition model on the reviewed conditions and gate it.

    ``job``: data, dataset and finetune (the settings given), gate (the rule), promote."""
    from core.conditions import ConditionModel, card_crop_margin
    from training.data.condition_data import build_condition_dataset
    from training.eval.gate import held_out_answers, judge_conditions

    rule = job.gate_rule()
    served_folder, compared = _served(context, "condition")
    photos, source = _photos(job.data, context)
    # Crops as the served model was trained and serves them (its card's margin). Rare conditions
    # are balanced by class weights in the loss by default; oversampling instead is a setting,
    # never both (that would correct twice).
    dataset_settings = job.dataset_settings(crop_margin=card_crop_margin(served_folder), oversample=False)
    dataset = build_condition_dataset(photos, dataset_settings)
    context.log(
        f"{counted(len(dataset.train), 'train example')} ({_per_condition(dataset.train_counts)}), "
        f"{len(dataset.held_out)} held-out real objects on {counted(len(dataset.held_out_photos), 'photo')} "
        f"({_per_condition(dataset.held_out_counts)}); {dataset.provenance}"
    )
    folder = _finetune(job, context, served_folder, dataset, source, show_progress=True)
    card = registry.record(context.db, folder)
    served = ConditionModel(served_folder)
    answers = held_out_answers(ConditionModel(str(folder)), served, dataset.held_out, dataset.train)
    decision = judge_conditions(answers, rule, "real objects")
    if decision.verdict == TOO_FEW and rule.folds:
        # Too few held-out photos on one split: every photo is held out once, in k folds (the
        # candidate's split is the first), before the verdict.
        answers = _folds(job, context, rule, photos, dataset, served_folder, answers, source)
        if answers is not None:
            decision = judge_conditions(answers, rule, f"real objects, each held out once in {rule.folds} folds")
    for line in decision.reasons:
        context.log(line)
    return _conclude(context, "condition", card.version, decision, job, compared)


def _per_condition(counts: dict[str, int]) -> str:
    """'normal 4, blocked 3, damaged 7': a count per condition, as a person reads it."""
    return ", ".join(f"{condition} {n}" for condition, n in counts.items())


def _finetune(
    job: JobSpec, context: JobContext, parent: str, dataset, source: str, show_progress: bool, into: Path | None = None
) -> Path:
    """The job's fine-tune of ``parent`` on ``dataset``, published into ``into`` (default: the
    job's registry; a fold's model goes to a throwaway folder)."""
    from training.condition.finetune import finetune_condition_model

    return finetune_condition_model(
        parent,
        dataset.train,
        dataset.held_out,
        job.finetune_settings(use_class_weights=not dataset.settings.oversample),
        class_weights=None,  # per 9-class name, from the (real, not oversampled) train examples
        registry=into or _registry(context),
        data_hash=dataset.data_hash,
        data_provenance=f"{source}: {dataset.provenance}",
        held_out_description=f"{len(dataset.held_out)} held-out real objects on "
        f"{counted(len(dataset.held_out_photos), 'photo')} of {source} (split by photo, held_out_hash "
        f"{dataset.held_out_hash[:19]})",
        progress=(lambda step, total, values: context.progress(step, total, values)) if show_progress else None,
        should_stop=context.should_stop,
    )


def _folds(job: JobSpec, context: JobContext, rule, photos, dataset, served_folder: str, first, source: str):
    """The answers of ``rule.folds`` folds by photo: the candidate's own split, then the other
    folds dealt from its train photos, each a model fine-tuned without them. None when the
    photos cannot make the folds. The served model may have learned some of these photos in an
    earlier round: that favours it, so the folds can only make the gate stricter."""
    from core.conditions import ConditionModel
    from training.data.condition_data import build_condition_dataset, kfold_by_photo
    from training.eval.gate import evidence, held_out_answers

    every = [e for e in [*dataset.train, *dataset.held_out] if not e.synthesized and not e.repeat]
    short = evidence([e.photo for e in every], [(e.object_type, e.condition) for e in every], "").shortfalls(rule)
    if short:
        context.log("no folds: even every reviewed photo together falls short (" + ", ".join(short) + ")")
        return None
    train_names = set(dataset.train_photos)
    train_photos = [p for p in photos if p.name in train_names]
    try:
        seed = dataset.settings.held_out_seed
        folds = [([], train_photos)] if rule.folds == 2 else kfold_by_photo(train_photos, rule.folds - 1, seed)
    except ValueError as exc:
        context.log(f"no folds: {exc}")
        return None
    answers, served = first, ConditionModel(served_folder)
    with tempfile.TemporaryDirectory(prefix="gate-folds-") as work:
        for k, (_, held) in enumerate(folds, start=2):
            try:
                fold = build_condition_dataset(photos, dataset.settings, held_out_names={p.name for p in held})
            except ValueError as exc:  # e.g. no train object with a condition left
                context.log(f"fold {k} of {rule.folds} skipped: {exc}")
                continue
            if not fold.held_out:
                continue
            folder = _finetune(job, context, served_folder, fold, source, False, Path(work))
            model = ConditionModel(str(folder))
            answers = answers.joined(held_out_answers(model, served, fold.held_out, fold.train))
            context.log(f"fold {k} of {rule.folds}: {len(fold.held_out)} held-out objects answered")
    return answers


def _registry(context: JobContext) -> Path:
    # The job's own data directory, not the environment's: candidates land beside the store
    # that records them.
    from lifecycle.folders import registry_root

    return registry_root(context.settings.data_dir)


def _gate_figures(decision: GateDecision) -> dict[str, Any]:
    """What the version's record keeps of the verdict: its first line (shown in the versions
    table), the whole report (shown when a person is asked to serve it) and the figures."""
    figures: dict[str, Any] = {
        "gate": decision.reasons[0],
        "gate_report": decision.report(),
        "gate_verdict": decision.verdict,
        f"candidate_{decision.metric}": decision.candidate,
        f"served_{decision.metric}": decision.served,
    }
    if decision.baseline is not None:
        figures[f"type_prior_{decision.metric}"] = decision.baseline
    if decision.interval is not None:
        figures["difference_low"], figures["difference_high"] = decision.interval.low, decision.interval.high
    return figures


def _conclude(
    context: JobContext, kind: str, version: str, decision: GateDecision, job: JobSpec, compared: str | None
) -> str:
    """Record the verdict; promote only a passed candidate, and only when the job was asked to."""
    return _record(context, kind, version, decision.passed, _gate_figures(decision), job, compared)


def _record(
    context: JobContext, kind: str, version: str, passed: bool, figures: dict, job: JobSpec, compared: str | None
) -> str:
    """``compared``: the version the candidate was measured against. A job may replace only that
    one: if a person served another while it ran (jobs take hours), nothing says the candidate
    beats it, so it waits for a person instead."""
    judged = figures.get("gate_verdict") != TOO_FEW
    registry.judge(context.db, kind, version, passed, {**figures, "compared_with": compared}, judged=judged)
    # Whoever started it must still be an admin when it ends (hours later): a disabled account serves nothing.
    promoting = passed and job.promote
    refused = refusal(context.actor, context.db, "admin") if promoting and context.actor != OPERATOR else None
    if refused:
        context.log(f"{kind} {version} passed its gate, not served: {refused} It waits for a person.")
    elif promoting:
        reason = f"job {context.run_id} asked to serve what passes its gate: {figures['gate']}"
        try:
            registry.promote(context.db, kind, version, actor=context.actor, reason=reason, replacing=compared)
        except ServedChanged as changed:
            context.log(f"{kind} {version} passed its gate against {compared}, but {changed}: it waits for a person")
        else:
            context.log(f"{kind} {version} promoted: served from the next request on")
    elif passed:
        context.log(f"{kind} {version} passed the gate; it waits for a person to serve it (Train tab)")
    elif not judged:
        context.log(f"{kind} {version} kept as a candidate, not judged; the served model stays")
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
        served_folder, parent, rejected = record.folder, record.name, record.status == ModelStatus.REJECTED
    else:
        (served_folder, parent), rejected = _served(context, "condition"), False
    photos, source = _photos(job.data, context)
    dataset = build_condition_dataset(photos, job.dataset_settings(crop_margin=card_crop_margin(served_folder)))
    min_retention = DEFAULT_MIN_RETENTION if job.min_retention is None else job.min_retention
    result = quantize_candidate(
        served_folder,
        job.quantization,
        dataset.held_out,
        f"{len(dataset.held_out)} held-out real objects on "
        f"{counted(len(dataset.held_out_photos), 'photo')} of {source}",
        registry=_registry(context),
        min_retention=min_retention,
    )
    card = registry.record(context.db, result.folder, quantization=job.quantization)
    verdict = "Passed" if result.servable and not rejected else "Failed"
    line = f"{verdict}: keeps {result.retention:.1%} of the accuracy (needs {min_retention:.0%})"
    if rejected:  # a copy of a model its gate turned down is no better than it
        line += f", but {parent} was rejected by its gate"
    context.log(line)
    figures = {"accuracy_retention": result.retention, "size_bytes": card.metrics["size_bytes"], "gate": line}
    # Measured against its parent only: it may replace the served model only if that is its parent.
    return _record(context, "condition", card.version, verdict == "Passed", figures, job, parent)


def improve_detector(job: JobSpec, context: JobContext) -> str | None:
    """Fine-tune the served detector on the reviewed boxes and gate it on mAP@0.5 over the
    held-out reviewed photos (the export's val split), measured the same way for both models.

    ``job``: detector (hours, epochs, imgsz, batch, workers), gate, promote. Too few held-out
    photos to judge by: refused before any training (hours of it could never be served)."""
    from core.detector import Detector, resolve_weights
    from storage.formats.export import export
    from training.data.dataset import from_yolo_folder
    from training.detector.build import DetectorTrainSettings, train_detector
    from training.eval.gate import gate_detector

    rule = job.gate_rule()
    served_folder, compared = _served(context, "detector")
    with tempfile.TemporaryDirectory(prefix="reviewed-boxes-") as work:
        data = Path(work) / "yolo"
        counts = export(context.db, context.settings.data_dir, "yolo", data)
        context.log(f"reviewed boxes exported: {counts}")
        held_out = from_yolo_folder(data, "val", stored=True) if (data / "val").is_dir() else []
        if len(held_out) < max(rule.min_photos, 1):
            raise ValueError(
                f"too few to judge: {len(held_out)} held-out reviewed photos, the gate needs {rule.min_photos} "
                "(about one reviewed photo in five is held out): review more photos before retraining"
            )
        weights = resolve_weights(served_folder)
        if weights.suffix != ".pt":
            weights = weights.with_suffix(".pt")
        folder = train_detector(
            DetectorTrainSettings(
                data_dir=data,
                data_name="the reviewed boxes in the store",
                init_from=weights,
                registry=_registry(context),
                # The schedule's last epoch: an epoch chosen on the held-out photos would look
                # better on them, where the gate judges it, than it is.
                weights="last.pt",
                **job.detector_settings(),
            ),
            progress=lambda step, total, values: context.progress(step, total, values),
            should_stop=context.should_stop,
        )
        decision = gate_detector(Detector(folder), Detector(served_folder), held_out, rule)
    card = registry.record(context.db, folder)
    for line in decision.reasons:
        context.log(line)
    return _conclude(context, "detector", card.version, decision, job, compared)
