"""Give the tiny Qwen2-VL's vision tower real visual knowledge: distil the ImageNet-pretrained
EfficientNet-Lite0 (training/backbone.py) into it, without labels.

The tiny model starts from random weights and the labelled crops number about a thousand: too
few to learn to see from. The teacher has seen ImageNet. The tower learns to reproduce the
teacher's pooled features of object crops (each standardized per dimension, so every feature
counts alike) through a linear projection used only here; the architecture stays
``Qwen2VLForConditionalGeneration``, so serving, fine-tuning and quantization are unchanged.

No condition label is read: the crops come from photos with boxes only, in several augmented
views each (crop margin, flip, light, and synthesized alterations, so the tower also learns how
the teacher sees sediment, plants and cracks).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from core.taxonomy import ALLOWED_CONDITIONS
from core.types import LabelledPhoto
from training.backbone import FEATURE_SIZE, CropFeatures
from training.data.examples import ObjectCrop, crops_from_photos
from training.data.synthesize import photometric_jitter, synthesize

if TYPE_CHECKING:
    import torch
    from transformers import Qwen2VLForConditionalGeneration, Qwen2VLProcessor

Log = Callable[[str], Any]
# Crops are cut with this margin once; each view then keeps a random share of it.
POOL_MARGIN = 0.4


@dataclass
class DistilSettings:
    steps: int = field(default=1500, metadata={"help": "Distillation optimizer steps (0: none)."})
    batch_size: int = field(default=32, metadata={"help": "Crops per distillation step."})
    learning_rate: float = field(default=2e-3, metadata={"help": "Peak AdamW learning rate (cosine decay)."})
    views: int = field(default=8, metadata={"help": "Augmented views of each pool object."})
    seed: int = field(default=0, metadata={"help": "Seeds the views and the batch order."})

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size <= 0 or self.learning_rate <= 0 or self.views <= 0:
            raise ValueError(
                "steps must be >= 0 and batch_size, learning_rate and views positive, got "
                f"{self.steps}, {self.batch_size}, {self.learning_rate}, {self.views}"
            )


@dataclass(frozen=True)
class DistilData:
    images: list[Image.Image]  # the augmented views
    targets: np.ndarray  # [views, FEATURE_SIZE] standardized teacher features
    objects: int
    photos: int


def augmented_views(crops: Sequence[ObjectCrop], views: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``views`` variants of each crop: a random share of its context margin, a mirror image half
    of the time, and either an allowed condition painted on (which also jitters the light) or
    the light jittered alone."""
    made = []
    for item in crops:
        for _ in range(views):
            if rng.random() < 0.5:
                condition = str(rng.choice(ALLOWED_CONDITIONS[item.object_type]))
                image = synthesize(item.crop, item.box, item.object_type, condition, rng)
            else:
                image = photometric_jitter(item.crop, rng)
            image = _keep_margin(image, item.box, float(rng.uniform(0.0, 1.0)))
            made.append(np.ascontiguousarray(image[:, ::-1]) if rng.random() < 0.5 else image)
    return made


def _keep_margin(image: np.ndarray, box: tuple[int, int, int, int], share: float) -> np.ndarray:
    """The object with ``share`` of the margin around it (0: the box alone, 1: the whole crop)."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = box
    left, top = round(x1 * (1 - share)), round(y1 * (1 - share))
    right, bottom = round(x2 + (width - x2) * share), round(y2 + (height - y2) * share)
    return image[top : max(bottom, top + 2), left : max(right, left + 2)]


def distil_data(
    photos: Sequence[LabelledPhoto], settings: DistilSettings, teacher: CropFeatures | None = None
) -> DistilData:
    """The views of every object (with a choice of conditions) of ``photos`` and their teacher
    features. Labels other than the boxes and types are not read."""
    crops = crops_from_photos(photos, POOL_MARGIN)
    if not crops:
        raise ValueError("no objects to distil on")
    views = augmented_views(crops, settings.views, np.random.default_rng(settings.seed))
    features = (teacher or CropFeatures())(views)
    mean, std = features.mean(0), features.std(0) + 1e-6
    return DistilData(
        [Image.fromarray(v) for v in views], ((features - mean) / std).astype(np.float32), len(crops), len(photos)
    )


def pooled_vision(model: Qwen2VLForConditionalGeneration, inputs: Mapping[str, Any]) -> torch.Tensor:
    """Mean of each image's vision tokens (what the language model reads), [images, hidden]."""
    import torch

    output = model.model.visual(inputs["pixel_values"], grid_thw=inputs["image_grid_thw"])
    merge = model.config.vision_config.spatial_merge_size**2
    counts = (inputs["image_grid_thw"].prod(-1) // merge).tolist()
    return torch.stack([tokens.mean(0) for tokens in output.pooler_output.split(counts)])


def distil_vision_tower(
    model: Qwen2VLForConditionalGeneration,
    processor: Qwen2VLProcessor,
    data: DistilData,
    settings: DistilSettings,
    log: Log = print,
) -> list[dict]:
    """Train the vision tower (only it) to predict the teacher's features; returns the history
    ``[{"step", "loss"}]`` (mean squared error on standardized features: 1.0 = predicting the mean)."""
    import torch

    if settings.steps == 0:
        return []
    torch.manual_seed(settings.seed)
    projection = torch.nn.Linear(model.config.vision_config.hidden_size, FEATURE_SIZE)
    parameters = list(model.model.visual.parameters()) + list(projection.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=settings.learning_rate, weight_decay=0.01)
    warmup = max(1, settings.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * min(1.0, step / settings.steps))),
    )
    rng = np.random.default_rng(settings.seed)
    targets = torch.from_numpy(data.targets)
    history, started, running = [], time.time(), []
    every = max(1, min(100, settings.steps // 10))  # about ten records, at most 100 steps apart
    model.model.visual.train()
    for step in range(settings.steps):
        chosen = rng.integers(0, len(data.images), settings.batch_size)
        inputs = processor.image_processor(images=[data.images[i] for i in chosen], return_tensors="pt")
        loss = torch.nn.functional.mse_loss(projection(pooled_vision(model, inputs)), targets[chosen])
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        schedule.step()
        running.append(loss.item())
        if (step + 1) % every == 0 or step + 1 == settings.steps:
            history.append({"step": step + 1, "loss": round(float(np.mean(running)), 4)})
            running = []
            log(f"distil step {step + 1}: loss {history[-1]['loss']:.4f}, {time.time() - started:.0f}s")
    model.model.visual.eval()
    return history
