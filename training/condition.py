"""Build a condition model: the tiny Qwen2-VL trained on synthesized conditions.

Objects are cropped from the real train photos (with the same margin and spatial prompt the app
uses); each training example alters a crop into a random allowed condition (see
``training.synthesize``). Held-out accuracy is measured on crops synthesized the same way from
the val photos, one example per (object, allowed condition), with a fixed seed.

The run reads as setup (processor, model, optimizer, auxiliary head) -> data (train crops,
held-out examples) -> fit (the loop, evaluating every ``eval_every`` steps) -> evaluate -> save
(weights and card, published as a new candidate in the registry). It never writes into an
existing model folder: what it makes is a candidate until someone promotes it.

    python -m training build-condition --steps 1500 [--init-from models/condition --seed 1]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from core.conditions import ConditionModel
from core.model_card import ModelCard, model_version
from core.taxonomy import ALLOWED_CONDITIONS, CONDITIONS
from core.types import LabelledPhoto
from training.artifacts import (
    data_hash,
    default_registry,
    discard,
    new_version,
    now_iso,
    publish_candidate,
    staging_folder,
)
from training.dataset import DATA_CREDIT, DEFAULT_DATA, from_yolo_folder
from training.examples import (
    ConditionExample,
    ConditionReport,
    ObjectCrop,
    answer_batch,
    crops_from_photos,
    evaluate_conditions,
    held_out_examples,
)
from training.synthesize import synthesize

# The held-out examples are the same for every run, whatever its seed, so runs compare.
HELD_OUT_SEED = 1
ARCHITECTURE = "Qwen2VLForConditionalGeneration (tiny configuration, random init, own BPE tokenizer)"
DATA_PROVENANCE = "conditions SYNTHESIZED on real object crops (the photos carry no conditions)"

Log = Callable[[str], Any]


@dataclass
class ConditionTrainSettings:
    data_dir: Path = field(default=DEFAULT_DATA, metadata={"help": "YOLO folder with data.yaml."})
    registry: Path | None = field(
        default=None,
        metadata={"help": "Model registry the candidate is written into; None: the data directory's."},
    )
    steps: int = field(default=1500, metadata={"help": "Optimizer steps."})
    batch_size: int = field(default=16, metadata={"help": "Crops per optimizer step."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Peak AdamW learning rate (cosine decay)."})
    warmup_steps: int = field(default=50, metadata={"help": "Linear warmup steps."})
    crop_margin: float = field(
        default=0.15, metadata={"help": "Context margin around each crop; written into the card for serving."}
    )
    seed: int = field(default=0, metadata={"help": "Seeds the weights and the training examples."})
    eval_every: int = field(default=250, metadata={"help": "Steps between held-out evaluations."})
    init_from: Path | None = field(
        default=None, metadata={"help": "Start from this condition model folder instead of random weights."}
    )
    aux_weight: float = field(
        default=1.0,
        metadata={"help": "Weight of the auxiliary condition head on pooled vision features (0: off)."},
    )

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        # Resolved now, so the card records where the candidate went.
        self.registry = Path(self.registry) if self.registry is not None else default_registry()
        if self.init_from is not None:
            self.init_from = Path(self.init_from)
        if self.steps <= 0 or self.batch_size <= 0 or self.learning_rate <= 0:
            raise ValueError(
                f"steps, batch_size and learning_rate must be positive, got "
                f"{self.steps}, {self.batch_size}, {self.learning_rate}"
            )
        if self.eval_every <= 0 or self.warmup_steps <= 0:
            raise ValueError(
                f"eval_every and warmup_steps must be positive, got {self.eval_every}, {self.warmup_steps}"
            )
        if not 0.0 <= self.crop_margin <= 2.0:
            raise ValueError(f"crop_margin must be in [0, 2], got {self.crop_margin}")


def train_condition_model(settings: ConditionTrainSettings, log: Log = print) -> Path:
    """Train a model and publish it as a new candidate folder in ``settings.registry``; returns
    that folder. A run that fails or is interrupted leaves no folder behind and changes nothing
    else (the staging folder is discarded)."""
    staging = staging_folder(settings.registry, "condition")
    try:
        started = time.time()
        version = new_version("condition", "tiny")
        data = load_data(settings, log)
        run = set_up(settings, version)
        history = fit(run, data, settings, log, started)
        held_out = evaluate_conditions(run.scorer, data.held_out)
        return save(staging, run, data, settings, version, history, held_out, time.time() - started)
    except BaseException:
        discard(staging)
        raise


# ------------------------------------------------------------------ data


@dataclass(frozen=True)
class TrainData:
    train_photos: list[LabelledPhoto]
    train_crops: list[ObjectCrop]
    held_out: list[ConditionExample]  # synthesized on the val crops with HELD_OUT_SEED


def load_data(settings: ConditionTrainSettings, log: Log = print) -> TrainData:
    """Crops of the train objects to synthesize on, and the fixed held-out examples."""
    train_photos = from_yolo_folder(settings.data_dir, "train")
    train_crops = crops_from_photos(train_photos, settings.crop_margin)
    if not train_crops:
        raise ValueError(f"{settings.data_dir}: the train split has no objects with more than one condition")
    val_crops = crops_from_photos(from_yolo_folder(settings.data_dir, "val"), settings.crop_margin)
    held_out = held_out_examples(val_crops, HELD_OUT_SEED)
    log(f"{len(train_crops)} train objects, {len(held_out)} held-out examples")
    return TrainData(train_photos, train_crops, held_out)


# ------------------------------------------------------------------ setup


@dataclass
class TrainingRun:
    """What the loop works on. ``scorer`` wraps the very weights being trained."""

    model: Any  # Qwen2VLForConditionalGeneration
    processor: Any  # Qwen2VLProcessor
    scorer: ConditionModel
    aux_head: Any  # torch.nn.Linear
    captured: dict  # the vision tower's last output, kept by a forward hook for the aux head
    parameters: list  # every trained parameter, for clipping
    optimizer: Any
    schedule: Any


def set_up(settings: ConditionTrainSettings, version: str) -> TrainingRun:
    """Model and processor (new, or an earlier model to continue), the auxiliary head, the
    optimizer and its warmup + cosine schedule."""
    import torch

    if settings.init_from is None:
        from training.tiny_qwen2vl import build_model, build_processor

        processor = build_processor()
        model = build_model(processor, seed=settings.seed)
    else:  # continue training an earlier model (a new learning-rate cycle)
        from transformers import AutoProcessor, Qwen2VLForConditionalGeneration

        processor = AutoProcessor.from_pretrained(settings.init_from)
        model = Qwen2VLForConditionalGeneration.from_pretrained(settings.init_from, dtype=torch.float32)
    # Also sets the tokenizer to pad left, which the answer mask in ``_training_batch`` relies on.
    scorer = ConditionModel.from_loaded(model, processor, version, settings.crop_margin)

    # A randomly initialised vision tower gets almost no gradient through the language model at
    # first, and the model then only learns the answer prior. An auxiliary linear head on the
    # pooled vision features (what the language model sees) gives the tower a direct signal. The
    # head is used for training only and is not part of the saved Qwen2-VL model.
    aux_head = torch.nn.Linear(model.config.text_config.hidden_size, len(CONDITIONS))
    captured: dict = {}
    model.model.visual.register_forward_hook(lambda _m, _i, out: captured.__setitem__("vision", out))
    parameters = list(model.parameters()) + list(aux_head.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=settings.learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: (
            min(1.0, (step + 1) / settings.warmup_steps) * 0.5 * (1 + np.cos(np.pi * min(1.0, step / settings.steps)))
        ),
    )
    return TrainingRun(model, processor, scorer, aux_head, captured, parameters, optimizer, schedule)


# ------------------------------------------------------------------ fit


def fit(
    run: TrainingRun, data: TrainData, settings: ConditionTrainSettings, log: Log, started: float
) -> list[dict[str, float]]:
    """The optimizer loop; every ``eval_every`` steps and at the end, the held-out accuracy.
    Returns the history: ``[{"step", "loss", "held_out_accuracy"}]`` (the same keys as fine-tuning)."""
    import torch

    rng = np.random.default_rng(settings.seed)
    history = []
    for step in range(settings.steps):
        run.model.train()
        batch = [data.train_crops[int(i)] for i in rng.integers(0, len(data.train_crops), settings.batch_size)]
        inputs, labels, targets = _training_batch(run, batch, rng)
        loss = run.model(**inputs, labels=labels).loss
        if settings.aux_weight > 0:
            pooled = torch.stack([tokens.mean(0) for tokens in run.captured["vision"].pooler_output])  # [B, D]
            loss = loss + settings.aux_weight * torch.nn.functional.cross_entropy(run.aux_head(pooled), targets)
        run.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(run.parameters, 1.0)
        run.optimizer.step()
        run.schedule.step()
        if (step + 1) % settings.eval_every == 0 or step + 1 == settings.steps:
            run.model.eval()
            accuracy = evaluate_conditions(run.scorer, data.held_out).accuracy
            history.append({"step": step + 1, "loss": round(loss.item(), 4), "held_out_accuracy": accuracy})
            log(
                f"step {step + 1}: loss {loss.item():.4f}, held-out accuracy {accuracy:.3f}, "
                f"{time.time() - started:.0f}s"
            )
    run.model.eval()
    return history


def _training_batch(run: TrainingRun, batch: list[ObjectCrop], rng: np.random.Generator):
    """Each crop altered into a random allowed condition, asked the app's question and answered
    with that condition. Returns the processor inputs, the labels (only the answer tokens count)
    and the condition indices for the auxiliary head."""
    import torch

    examples = []
    for item in batch:
        condition = str(rng.choice(ALLOWED_CONDITIONS[item.object_type]))
        altered = Image.fromarray(synthesize(item.crop, item.box, item.object_type, condition, rng))
        examples.append(ConditionExample(altered, item.object_type, item.context, condition))
    inputs, labels = answer_batch(run.scorer, examples)
    return inputs, labels, torch.tensor([CONDITIONS.index(e.condition) for e in examples])


# ------------------------------------------------------------------ save


def save(
    staging: Path,
    run: TrainingRun,
    data: TrainData,
    settings: ConditionTrainSettings,
    version: str,
    history: list[dict[str, float]],
    held_out: ConditionReport,
    train_seconds: float,
) -> Path:
    """Weights, processor and card into ``staging``, then published as the candidate folder."""
    run.processor.save_pretrained(staging)
    run.model.save_pretrained(staging)
    parent = model_version(settings.init_from) if settings.init_from else None
    start = f"continued from {parent}" if parent else "from random init"
    card = ModelCard(
        kind="condition",
        version=version,
        architecture=ARCHITECTURE,
        parent=parent,
        created=now_iso(),
        data=f"{settings.data_dir} train split, object crops",
        data_hash=data_hash(data.train_photos),
        data_provenance=DATA_PROVENANCE,
        data_credit=DATA_CREDIT,
        crop_margin=settings.crop_margin,
        train_settings={k: str(v) for k, v in asdict(settings).items()},
        training={
            "steps": settings.steps,
            "train_seconds": round(train_seconds),
            "parameters": sum(p.numel() for p in run.model.parameters()),
            "recipe": f"{settings.steps} steps {start}"
            + (", auxiliary vision head" if settings.aux_weight > 0 else ""),
        },
        history=history,
        metrics={k: v for k, v in held_out.to_dict().items() if k != "model"},
        metrics_data=(
            f"{held_out.examples} conditions synthesized from real object crops of the {settings.data_dir} "
            "val split (not real conditions)"
        ),
    )
    card.write_readme(staging)  # the folder documents itself wherever it is copied
    return publish_candidate(staging, settings.registry, card)
