"""Fine-tune a served condition model on examples with real conditions: LoRA or full.

The parent is a condition model folder (weights, processor, card). Training asks each example
the app's question and scores only the answer tokens (the condition word and ``<|im_end|>``),
optionally weighting each example by its class so rare conditions count. Two methods:

- ``lora``: low-rank adapters (peft) on the language model's attention (``q/k/v/o_proj``) and the
  vision tower's (``attn.qkv``, ``attn.proj``); the base weights stay frozen and the adapters are
  merged into a plain ``Qwen2VLForConditionalGeneration`` at the end, so serving needs no peft.
- ``full``: every parameter trains. The shipped model has 1.6 M parameters, where adapters may
  be too narrow: both are measured and the promotion gate decides.

The run reads as set_up (parent, adapters, optimizer) -> fit (the loop, held-out accuracy every
``eval_every`` steps, progress and cancellation each step) -> merge -> evaluate -> save (a new
candidate folder with its card, published into the registry). The parent folder is only read,
and a run that fails or is cancelled leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.conditions import TRAINING_PHOTO_SIDE, ConditionModel, card_crop_margin
from core.model_card import ModelCard, model_version, read_card
from core.taxonomy import CONDITIONS, class_name
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
from training.condition.finetune_settings import FinetuneSettings
from training.data.examples import ConditionExample, answer_batch, evaluate_conditions

if TYPE_CHECKING:
    import torch
    from peft import PeftModel
    from transformers import Qwen2VLForConditionalGeneration


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


# ------------------------------------------------------------------ setup


@dataclass
class FinetuneRun:
    """What the loop works on. ``model`` is the Qwen2-VL itself (for lora with adapter layers
    injected in place, so ``scorer`` scores with the weights being trained)."""

    model: Any  # Qwen2VLForConditionalGeneration
    peft_model: Any | None  # the peft wrapper (lora), for merge_and_unload
    processor: Any  # Qwen2VLProcessor
    scorer: ConditionModel
    crop_margin: float
    version: str
    device: str
    dtype: Any  # torch.dtype used for autocast
    trainable_parameters: int
    steps: int = 0  # resolved by fit (settings.steps, or from epochs)
    fit_seconds: float = 0.0


def set_up(parent: str | Path, settings: FinetuneSettings, version: str) -> FinetuneRun:
    """The parent's weights and processor, with adapters (lora) or all weights trainable (full)."""
    import torch
    from transformers import AutoProcessor, Qwen2VLForConditionalGeneration
    from transformers.utils import logging as hf_logging

    if settings.device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {settings.device!r} was asked for but torch sees no CUDA device")
    hf_logging.disable_progress_bar()
    torch.manual_seed(settings.seed)  # adapters' init and dropout
    compute_dtype = getattr(torch, settings.dtype)
    # Full training keeps fp32 master weights (fp16 weights lose small updates); lora may keep the
    # frozen base in the compute dtype, which is what saves memory on a real checkpoint.
    load_dtype = compute_dtype if settings.method == "lora" else torch.float32
    processor = AutoProcessor.from_pretrained(parent)
    model = Qwen2VLForConditionalGeneration.from_pretrained(parent, dtype=load_dtype).to(settings.device)
    peft_model = None
    if settings.method == "lora":
        peft_model = add_adapters(model, settings)
    else:
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(settings.vision_lr_scale > 0 or not _in_vision_tower(name))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    margin = card_crop_margin(str(parent))
    # Also sets the tokenizer to pad left, which the answer mask in ``answer_batch`` relies on.
    scorer = ConditionModel.from_loaded(model, processor, version, margin, settings.device)
    return FinetuneRun(model, peft_model, processor, scorer, margin, version, settings.device, compute_dtype, trainable)


def _in_vision_tower(name: str) -> bool:
    """Whether a parameter name (plain or inside peft's wrapper) belongs to the vision tower."""
    return ".visual." in f".{name}"


def add_adapters(model: Qwen2VLForConditionalGeneration, settings: FinetuneSettings) -> PeftModel:
    """LoRA adapters on ``settings.target_modules``, injected into ``model`` in place; returns
    the peft wrapper. A target that matches no module is refused (peft would skip it silently)."""
    from peft import LoraConfig, get_peft_model

    names = [name for name, _ in model.named_modules()]
    for target in settings.target_modules:
        if not any(name == target or name.endswith("." + target) for name in names):
            raise ValueError(f"target module {target!r} matches no module of the parent model")
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        bias="none",
    )
    return get_peft_model(model, config)


def resolve_class_weights(train: Sequence[ConditionExample], given: dict[str, float] | None = None) -> dict[str, float]:
    """A loss weight per 9-class name present in ``train``. Given weights may name a class or a
    condition (the class wins); classes they leave out weigh 1. Without any: inverse class
    frequency, scaled so the mean weight over the train examples is 1 (the loss keeps its size)."""
    counts = Counter(class_name(e.object_type, e.condition) for e in train)
    if given is not None:
        for key, value in given.items():
            if not value >= 0:
                raise ValueError(f"class weight for {key!r} must be 0 or more, got {value!r}")
        conditions = {class_name(e.object_type, e.condition): e.condition for e in train}
        return {name: float(given.get(name, given.get(conditions[name], 1.0))) for name in sorted(counts)}
    raw = {name: 1.0 / n for name, n in counts.items()}
    mean = sum(raw[name] * n for name, n in counts.items()) / sum(counts.values())
    return {name: raw[name] / mean for name in sorted(counts)}


def examples_hash(examples: Sequence[ConditionExample]) -> str:
    """A content hash of examples (pixels, type, context, condition) for a caller without a data hash."""
    digest = hashlib.sha256()
    for e in examples:
        digest.update(e.crop.tobytes() + repr((e.crop.size, e.object_type, e.context, e.condition)).encode())
    return "sha256:" + digest.hexdigest()


# ------------------------------------------------------------------ loss


def answer_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    row_weights: torch.Tensor | None = None,
    teacher: torch.Tensor | None = None,
    condition_ids: Sequence[int] | None = None,
) -> torch.Tensor:
    """Mean cross-entropy over the answer tokens of each row, then a weighted mean over rows.

    ``logits`` [B, T, V] predict the next token; ``labels`` [B, T] are -100 except the answer.
    Each row is first averaged over its own answer tokens, so a two-token answer counts as much
    as a one-token one, and a weight then applies to the whole example (the model's own loss
    averages over all tokens of the batch, where a per-example weight cannot go).

    ``teacher`` [B, C]: probabilities over the conditions whose first tokens are
    ``condition_ids``, NaN in rows without any. In a row with them, the answer's first token (the
    one serving scores) is scored by the KL divergence of the model's softmax over those tokens
    from the teacher's, instead of by the cross-entropy of a single answer."""
    import torch
    import torch.nn.functional as F

    targets = labels[:, 1:]  # [B, T-1]: token t+1 is predicted at position t
    token_loss = F.cross_entropy(
        logits[:, :-1].float().transpose(1, 2), targets, ignore_index=-100, reduction="none"
    )  # [B, T-1]
    answer = targets != -100
    if teacher is not None:
        rows, first = torch.arange(len(targets)), answer.int().argmax(1)  # each row's first answer token
        scores = logits[rows, first][:, condition_ids].float().log_softmax(-1)  # [B, C]
        taught = ~teacher.isnan().any(1)
        wanted = teacher.nan_to_num(0.0).to(scores)
        divergence = (wanted * (wanted.clamp_min(1e-8).log() - scores)).sum(1)  # [B]
        at_first = torch.zeros_like(answer)
        at_first[rows, first] = True
        swap = at_first & taught[:, None]
        token_loss = torch.where(swap, divergence[:, None].expand_as(token_loss), token_loss)
    mask = answer.float()
    per_row = (token_loss * mask).sum(1) / mask.sum(1).clamp(min=1)  # [B]
    if row_weights is None:
        return per_row.mean()
    row_weights = row_weights.to(per_row)
    return (per_row * row_weights).sum() / row_weights.sum().clamp(min=1e-8)


# ------------------------------------------------------------------ fit


def fit(
    run: FinetuneRun,
    train: Sequence[ConditionExample],
    held_out: Sequence[ConditionExample],
    settings: FinetuneSettings,
    class_weights: dict[str, float] | None = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> list[dict[str, float]]:
    """The optimizer loop. Held-out accuracy at step 0 (the parent), every ``eval_every`` steps
    and at the end. Returns the history ``[{"step", "loss", "held_out_accuracy", "held_out_macro_f1"}]``."""
    import torch

    per_step = settings.batch_size * settings.grad_accumulation
    steps = settings.steps if settings.epochs is None else max(1, round(settings.epochs * len(train) / per_step))
    run.steps = steps
    trainable = [(name, p) for name, p in run.model.named_parameters() if p.requires_grad]
    parameters = [p for _, p in trainable]
    vision = [p for name, p in trainable if _in_vision_tower(name)]
    rest = [p for name, p in trainable if not _in_vision_tower(name)]
    groups = [{"params": rest, "lr": settings.learning_rate}]
    if vision:  # the schedule scales each group's own rate
        groups.append({"params": vision, "lr": settings.learning_rate * settings.vision_lr_scale})
    optimizer = torch.optim.AdamW(groups, weight_decay=0.01)
    warmup = max(1, settings.warmup_steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * min(1.0, s / steps)))
    )
    device_type = "cuda" if run.device.startswith("cuda") else "cpu"
    half = run.dtype != torch.float32
    # fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none.
    scaler = torch.amp.GradScaler(device_type, enabled=run.dtype == torch.float16)

    def autocast():
        return torch.autocast(device_type, dtype=run.dtype, enabled=half)

    def evaluate(step: int, loss: float | None) -> dict[str, float]:
        run.model.eval()
        with autocast():
            report = evaluate_conditions(run.scorer, held_out)
        entry = {"step": step, "held_out_accuracy": report.accuracy, "held_out_macro_f1": report.macro_f1}
        if loss is not None:
            entry["loss"] = round(loss, 4)
        history.append(entry)
        return entry

    condition_ids = [run.scorer.condition_token_ids[c] for c in CONDITIONS]
    rng = np.random.default_rng(settings.seed)
    order: list[int] = []
    history: list[dict[str, float]] = []
    evaluate(0, None)
    started = time.time()
    for step in range(1, steps + 1):
        if should_stop is not None and should_stop():
            raise TrainingCancelled(f"fine-tuning cancelled at step {step} of {steps}")
        run.model.train()
        optimizer.zero_grad()
        step_loss = 0.0
        for _ in range(settings.grad_accumulation):
            if len(order) < settings.batch_size:  # a new pass over the data, freshly shuffled
                order += rng.permutation(len(train)).tolist()
            batch = [train[i] for i in order[: settings.batch_size]]
            del order[: settings.batch_size]
            inputs, labels = answer_batch(run.scorer, batch)
            inputs, labels = inputs.to(run.device), labels.to(run.device)
            weights = None
            if class_weights is not None:
                weights = torch.tensor(
                    [class_weights.get(class_name(e.object_type, e.condition), 1.0) for e in batch],
                    device=run.device,
                )
            teacher = None
            if any(e.target is not None for e in batch):
                none = (float("nan"),) * len(condition_ids)
                teacher = torch.tensor([e.target or none for e in batch], device=run.device)
            with autocast():
                logits = run.model(**inputs, use_cache=False).logits  # [B, T, V]
            loss = answer_loss(logits, labels, weights, teacher, condition_ids) / settings.grad_accumulation
            scaler.scale(loss).backward()
            step_loss += loss.item()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        values = {"loss": step_loss}
        if step % settings.eval_every == 0 or step == steps:
            run.fit_seconds += time.time() - started
            values |= evaluate(step, step_loss)
            started = time.time()
        if progress is not None:
            progress(step, steps, values)
    run.fit_seconds += time.time() - started
    run.model.eval()
    return history


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
