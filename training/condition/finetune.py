"""Fine-tune a served condition model on examples with real conditions: LoRA or full.

The parent is a condition model folder (weights, processor, card). Training asks each example
the app's question and scores only the answer tokens (the condition word and ``<|im_end|>``),
optionally weighting each example by its class so rare conditions count. Two methods:

- ``lora``: low-rank adapters (peft) on the language model's attention (``q/k/v/o_proj``) and the
  vision tower's (``attn.qkv``, ``attn.proj``); the base weights stay frozen and the adapters are
  merged into a plain ``Qwen2VLForConditionalGeneration`` at the end, so serving needs no peft.
- ``full``: every parameter trains. The shipped model has 1.6 M parameters, where adapters may
  be too narrow: both are measured and the promotion gate decides.

The run reads as set_up (``finetune_setup``: parent, adapters, class weights) -> fit
(``finetune_loop``: the loop, held-out accuracy every ``eval_every`` steps, progress and
cancellation each step) -> merge -> evaluate -> save (here: a new candidate folder with its
card, published into the registry). The parent folder is only read, and a run that fails or
is cancelled leaves nothing behind.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from core.conditions import TRAINING_PHOTO_SIDE, ConditionModel
from core.model_card import ModelCard, model_version, read_card
from lifecycle.folders import (
    Progress,
    ShouldStop,
    TrainingCancelled,
    default_registry,
    discard,
    new_version,
    now_iso,
    publish_candidate,
    settings_for_card,
    staging_folder,
)
from training.condition.calibrate import CALIBRATED_ECE, calibrate, calibrated_ece
from training.condition.finetune_loop import fit
from training.condition.finetune_settings import FinetuneSettings
from training.condition.finetune_setup import FinetuneRun, examples_hash, resolve_class_weights, set_up
from training.data.examples import ConditionExample, evaluate_conditions


def finetune_condition_model(
    parent: str | Path,
    train: list[ConditionExample],
    held_out: list[ConditionExample],
    settings: FinetuneSettings,
    *,
    registry: Path | None = None,
    class_weights: dict[str, float] | None = None,
    data_hash: str | None = None,
    data_provenance: str = "",
    data_credit: str = "",
    held_out_description: str | None = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> Path:
    """Fine-tune the condition model in folder ``parent`` on ``train`` and publish the result as
    a new candidate folder in ``registry`` (default: the configured one); returns that folder.

    ``class_weights`` maps a condition ("blocked") or a 9-class name ("toe_drain_blocked", which
    wins) to a loss weight; None with ``use_class_weights``: inverse class frequency in ``train``.
    ``data_hash`` defaults to a hash of the examples themselves. ``progress(step, total, values)``
    is called after every step (``values`` has "loss", and "held_out_accuracy" on evaluation
    steps); ``should_stop()`` is asked before every step and raises ``TrainingCancelled``.
    """
    if not train:
        raise ValueError("no train examples: fine-tuning needs at least one")
    if not held_out:
        raise ValueError("no held-out examples: a candidate without a measurement cannot be judged")
    parent = Path(parent)
    parent_card = read_card(parent)
    if parent_card is not None and parent_card.kind != "condition":
        raise ValueError(f"{parent} is a {parent_card.kind} model, not a condition model")
    registry = Path(registry) if registry is not None else default_registry()
    started = time.time()
    version = new_version("condition", settings.method)
    run = set_up(parent, settings, version)
    weights = resolve_class_weights(train, class_weights) if settings.use_class_weights else None
    history = fit(run, train, held_out, settings, weights, progress, should_stop)
    merged = merge(run)
    report = evaluate_conditions(merged, held_out)
    calibration = calibrate(merged, held_out, fallback=(parent_card.temperature if parent_card else None) or 1.0)
    train_seconds = time.time() - started
    if should_stop is not None and should_stop():
        raise TrainingCancelled("fine-tuning cancelled before saving")

    description = held_out_description or (
        f"{len(held_out)} held-out examples" + (f" ({data_provenance})" if data_provenance else "")
    )
    card = ModelCard(
        kind="condition",
        version=version,
        architecture=(parent_card.architecture if parent_card and parent_card.architecture else "Qwen2-VL")
        + f", fine-tuned ({settings.method})",
        parent=model_version(parent),
        created=now_iso(),
        data=f"{len(train)} condition examples",
        data_hash=data_hash or examples_hash(train),
        data_provenance=data_provenance,
        data_credit=data_credit,
        crop_margin=run.crop_margin,
        photo_side=TRAINING_PHOTO_SIDE,
        temperature=calibration.temperature,
        train_settings=settings_for_card(settings)
        | {"class_weights": json.dumps(weights, sort_keys=True) if weights else ""},
        training={
            "method": settings.method,
            "steps": run.steps,
            "train_seconds": round(train_seconds, 1),
            "seconds_per_step": round(run.fit_seconds / run.steps, 4),
            "trainable_parameters": run.trainable_parameters,
            "total_parameters": sum(p.numel() for p in merged.model.parameters()),
        },
        history=history,
        metrics=report.card_metrics() | calibrated_ece(calibration),
        metrics_data=description + CALIBRATED_ECE,
    )
    return save(merged, card, registry)


# ------------------------------------------------------------------ merge and save


def merge(run: FinetuneRun) -> ConditionModel:
    """A scorer around the plain Qwen2-VL to save: for lora the adapters merged into the base
    weights (serving then needs no peft), for full the trained model itself."""
    model = run.model if run.peft_model is None else run.peft_model.merge_and_unload()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return ConditionModel.from_loaded(model, run.processor, run.version, run.crop_margin, run.device)


def save(merged: ConditionModel, card: ModelCard, registry: Path) -> Path:
    """Weights, processor and card into a staging folder, published as the candidate folder.
    The staging folder is made only now, so a failed or cancelled run never touches the registry."""
    staging = staging_folder(registry, "condition")
    try:
        merged.processor.save_pretrained(staging)
        merged.model.save_pretrained(staging)
        card.write_readme(staging)  # the folder documents itself wherever it is copied
        return publish_candidate(staging, registry, card)
    except BaseException:
        discard(staging)
        raise
