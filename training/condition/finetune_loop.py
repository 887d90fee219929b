"""Fine-tuning, the loop: the loss on the answer tokens and the optimizer loop over a run made
by ``finetune_setup.set_up``, with held-out accuracy every ``eval_every`` steps, progress and
cancellation each step.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from core.taxonomy import CONDITIONS, class_name
from lifecycle.folders import Progress, ShouldStop, TrainingCancelled
from training.condition.finetune_settings import FinetuneSettings
from training.condition.finetune_setup import FinetuneRun, in_vision_tower
from training.data.examples import ConditionExample, answer_batch, evaluate_conditions

if TYPE_CHECKING:
    import torch


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
    vision = [p for name, p in trainable if in_vision_tower(name)]
    rest = [p for name, p in trainable if not in_vision_tower(name)]
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
