"""Build the default condition model: the tiny Qwen2-VL trained on synthesized conditions.

Objects are cropped from the real train photos (with the same margin and spatial prompt the app
uses); each training example alters a crop into a random allowed condition (see
``training.synthesize``). Held-out accuracy is measured on crops synthesized the same way from
the val photos, one example per (object, allowed condition), with a fixed seed.

    python -m training build-condition --steps 1500 --out models/condition
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

from core.conditions import ConditionModel, condition_prompt, crop_bounds
from core.images import load_image
from core.model_info import model_version
from core.settings import PROJECT_ROOT
from core.spatial import relations
from core.taxonomy import ALLOWED_CONDITIONS, CONDITIONS
from training.artifacts import publish_folder, staging_folder
from training.dataset import LabelledPhoto, from_yolo_folder
from training.detector import DATA_CREDIT, DEFAULT_DATA
from training.evaluate import evaluate_conditions
from training.synthesize import synthesize

# The held-out examples are the same for every run, whatever its seed, so runs compare.
HELD_OUT_SEED = 1


@dataclass
class ConditionTrainSettings:
    data_dir: Path = field(default=DEFAULT_DATA, metadata={"help": "YOLO folder with data.yaml."})
    out: Path = field(default=PROJECT_ROOT / "models" / "condition", metadata={"help": "Model folder."})
    steps: int = field(default=1500, metadata={"help": "Optimizer steps."})
    batch_size: int = 16
    learning_rate: float = 1e-3
    warmup_steps: int = 50
    crop_margin: float = 0.15
    seed: int = 0
    eval_every: int = 250
    init_from: Path | None = field(
        default=None, metadata={"help": "Start from this condition model folder instead of random weights."}
    )
    aux_weight: float = field(
        default=1.0,
        metadata={"help": "Weight of the auxiliary condition head on pooled vision features (0: off)."},
    )

    def __post_init__(self) -> None:
        self.data_dir, self.out = Path(self.data_dir), Path(self.out)
        if self.steps <= 0 or self.batch_size <= 0 or self.learning_rate <= 0:
            raise ValueError(
                f"steps, batch_size and learning_rate must be positive, got "
                f"{self.steps}, {self.batch_size}, {self.learning_rate}"
            )


@dataclass(frozen=True)
class ObjectCrop:
    crop: np.ndarray  # (H, W, 3) uint8, the object with its context margin
    box: tuple[int, int, int, int]  # the object inside the crop
    object_type: str
    context: str
    condition: str | None = None  # the labelled condition, where the source has one


def crops_from_photos(photos: list[LabelledPhoto], margin: float) -> list[ObjectCrop]:
    """Every object with more than one allowed condition, cropped as the app crops it."""
    crops = []
    for photo in photos:
        image = load_image(photo.path)
        kinds = [o.object_type for o in photo.objects]
        contexts = relations(photo.boxes, kinds, image.size)
        for box, labelled, context in zip(photo.boxes, photo.objects, contexts, strict=True):
            object_type = labelled.object_type
            if len(ALLOWED_CONDITIONS[object_type]) == 1:
                continue
            try:
                left, top, right, bottom = crop_bounds(image.size, box, margin)
            except ValueError:
                continue  # degenerate box in the source labels
            crop = np.asarray(image.crop((left, top, right, bottom)))
            # The object inside the crop, at least 2 px each way so alterations have room.
            x1, y1 = max(0, int(box[0]) - left), max(0, int(box[1]) - top)
            x2 = min(right - left, max(x1 + 2, int(box[2]) - left))
            y2 = min(bottom - top, max(y1 + 2, int(box[3]) - top))
            crops.append(ObjectCrop(crop, (x1, y1, x2, y2), object_type, context.describe(), labelled.condition))
    return crops


def object_crops(data_dir: Path, split: str, margin: float) -> list[ObjectCrop]:
    return crops_from_photos(from_yolo_folder(data_dir, split), margin)


def held_out_examples(crops: list[ObjectCrop], seed: int) -> list[tuple[Image.Image, str, str, str]]:
    """(crop, object_type, context, condition): one per object and allowed condition."""
    rng = np.random.default_rng(seed)
    examples = []
    for item in crops:
        for condition in ALLOWED_CONDITIONS[item.object_type]:
            altered = synthesize(item.crop, item.box, item.object_type, condition, rng)
            examples.append((Image.fromarray(altered), item.object_type, item.context, condition))
    return examples


def train_condition_model(settings: ConditionTrainSettings, log=print) -> Path:
    """Train and publish the model folder at ``settings.out``. A run that fails or is interrupted
    leaves the folder already there untouched and no partial folder behind."""
    staging = staging_folder(settings.out)
    try:
        return _train_into(staging, settings, log)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _train_into(staging: Path, settings: ConditionTrainSettings, log) -> Path:
    import torch

    from training.tiny_qwen2vl import build_model, build_processor

    started = time.time()
    rng = np.random.default_rng(settings.seed)
    train_crops = object_crops(settings.data_dir, "train", settings.crop_margin)
    val_examples = held_out_examples(object_crops(settings.data_dir, "val", settings.crop_margin), HELD_OUT_SEED)
    log(f"{len(train_crops)} train objects, {len(val_examples)} held-out examples")

    if settings.init_from is None:
        processor = build_processor()
        model = build_model(processor, seed=settings.seed)
    else:  # continue training an earlier model (a new learning-rate cycle)
        from transformers import AutoProcessor, Qwen2VLForConditionalGeneration

        processor = AutoProcessor.from_pretrained(settings.init_from)
        processor.tokenizer.padding_side = "left"  # the label mask below relies on it
        model = Qwen2VLForConditionalGeneration.from_pretrained(settings.init_from, dtype=torch.float32)
    processor.save_pretrained(staging)
    model.save_pretrained(staging)
    scorer = ConditionModel(str(staging), crop_margin=settings.crop_margin)
    scorer.model = model  # score with the weights being trained, not the initial copy
    tokenizer = processor.tokenizer
    end_id = tokenizer.convert_tokens_to_ids("<|im_end|>")

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
    history = []
    for step in range(settings.steps):
        model.train()
        batch = [train_crops[int(i)] for i in rng.integers(0, len(train_crops), settings.batch_size)]
        images, texts, answer_lengths, targets = [], [], [], []
        for item in batch:
            condition = str(rng.choice(ALLOWED_CONDITIONS[item.object_type]))
            targets.append(CONDITIONS.index(condition))
            images.append(Image.fromarray(synthesize(item.crop, item.box, item.object_type, condition, rng)))
            answer = tokenizer.encode(condition, add_special_tokens=False) + [end_id]
            texts.append(scorer.chat_text(condition_prompt(item.object_type, item.context)) + condition + "<|im_end|>")
            answer_lengths.append(len(answer))
        inputs = processor(text=texts, images=images, return_tensors="pt", padding=True)
        labels = torch.full_like(inputs["input_ids"], -100)
        for row, n in enumerate(answer_lengths):  # left padded: every answer ends the row
            labels[row, -n:] = inputs["input_ids"][row, -n:]
        loss = model(**inputs, labels=labels).loss
        if settings.aux_weight > 0:
            pooled = torch.stack([tokens.mean(0) for tokens in captured["vision"].pooler_output])  # [B, D]
            loss = loss + settings.aux_weight * torch.nn.functional.cross_entropy(
                aux_head(pooled), torch.tensor(targets)
            )
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        schedule.step()
        if (step + 1) % settings.eval_every == 0 or step + 1 == settings.steps:
            model.eval()
            accuracy = evaluate_conditions(scorer, val_examples)["accuracy"]
            history.append({"step": step + 1, "loss": round(loss.item(), 4), "val_accuracy": accuracy})
            log(
                f"step {step + 1}: loss {loss.item():.4f}, held-out accuracy {accuracy:.3f}, "
                f"{time.time() - started:.0f}s"
            )

    model.eval()
    metrics = {
        "data": "conditions synthesized from real val-split object crops (not real conditions)",
        **evaluate_conditions(scorer, val_examples),
    }
    model.save_pretrained(staging)
    version = f"condition-tiny-{datetime.now(UTC):%Y%m%d%H%M%S}"
    return publish_folder(
        staging,
        settings.out,
        {
            "kind": "condition",
            "version": version,
            "architecture": "Qwen2VLForConditionalGeneration (tiny configuration, random init)",
            "parent": model_version(settings.init_from) if settings.init_from else None,
            "parameters": sum(p.numel() for p in model.parameters()),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "data": f"{settings.data_dir} train split; conditions synthesized from real object crops",
            "data_credit": DATA_CREDIT,
            "train_settings": {k: str(v) for k, v in asdict(settings).items()},
            "train_seconds": round(time.time() - started),
            "history": history,
            "metrics_heldout_synthesized": metrics,
        },
    )
