"""The fine-tuned CNN baseline: EfficientNet-Lite0 trained end to end on the probe's inputs.

What a practitioner tries after the probe: the same two crops (``probe.MARGINS`` at
``probe.CROP_SIZE``) through one ImageNet EfficientNet-Lite0 whose weights are now trained too,
their pooled features and the place features into one linear layer over the conditions. It
answers among the conditions allowed for the object's type and is scored like the probe, so
``slope train crossval --cnn-epochs 8`` puts it beside the probe, the type prior and the
condition models on the same folds.

The recipe was fixed before it was measured (no setting was compared): 8 epochs of AdamW with a
one-cycle schedule (backbone 1e-4, head 1e-3), class-balanced cross-entropy, batch norm kept at
its ImageNet statistics (batches of ~30 crops are too few to estimate them), and as augmentation
a mirror and a brightness/contrast change, the same for both crops of an object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.taxonomy import CONDITIONS
from core.types import LabelledPhoto
from training.backbone import FEATURE_SIZE, efficientnet_lite0, to_input
from training.baselines.probe import (
    CROP_SIZE,
    MARGINS,
    ProbeObject,
    place_features,
    probe_objects,
    report_from_probabilities,
)
from training.data.examples import ConditionReport

CNN = "efficientnet-lite0 fine-tuned on the probe's crops"


@dataclass(frozen=True)
class CnnSettings:
    epochs: int = 8
    batch: int = 32
    backbone_lr: float = 1e-4
    head_lr: float = 1e-3
    seed: int = 0
    device: str = "cpu"  # or a CUDA device: the teacher of build-condition answers many views

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch < 1 or self.backbone_lr <= 0 or self.head_lr <= 0:
            raise ValueError(f"epochs, batch and learning rates must be positive, got {self}")


class _CropsAndPlace(nn.Module):
    def __init__(self, places: int) -> None:
        super().__init__()
        self.backbone = efficientnet_lite0(pretrained=True)
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURE_SIZE * len(MARGINS) + places, len(CONDITIONS)))

    def forward(self, crops: Sequence[torch.Tensor], place: torch.Tensor) -> torch.Tensor:
        pooled = [self.backbone.forward_head(self.backbone.forward_features(c), pre_logits=True) for c in crops]
        return self.head(torch.cat([*pooled, place], dim=1))


def _inputs(
    objects: Sequence[ProbeObject], rng: np.random.Generator | None = None, device: str = "cpu"
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Each margin's crops as a batch, and the place features; with ``rng``, augmented."""
    mirror = rng.random(len(objects)) < 0.5 if rng is not None else np.zeros(len(objects), bool)
    crops = []
    for margin in range(len(MARGINS)):
        views = [o.views[margin][:, ::-1] if m else o.views[margin] for o, m in zip(objects, mirror, strict=True)]
        crops.append(to_input([np.ascontiguousarray(v) for v in views], CROP_SIZE))
    if rng is not None:
        gain = torch.from_numpy(rng.uniform(0.8, 1.2, (len(objects), 1, 1, 1))).float()
        shift = torch.from_numpy(rng.uniform(-0.1, 0.1, (len(objects), 1, 1, 1))).float()
        crops = [(c * gain + shift).clamp(-1, 1) for c in crops]
    place = torch.from_numpy(np.stack([place_features(o) for o in objects]))
    return [c.to(device) for c in crops], place.to(device)


def _keep_batch_norm_statistics(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eval()


class FineTunedCnnBaseline:
    """Fit on train photos, answer held-out ones; a fresh network from ImageNet at each fit."""

    def __init__(self, settings: CnnSettings | None = None) -> None:
        self.settings = settings or CnnSettings()

    def fit(self, photos: Sequence[LabelledPhoto]) -> FineTunedCnnBaseline:
        s = self.settings
        objects = list(probe_objects(photos))
        if not objects:
            raise ValueError("no object with a known condition to fit the CNN on")
        torch.manual_seed(s.seed)
        rng = np.random.default_rng(s.seed)
        labels = torch.tensor([CONDITIONS.index(o.condition) for o in objects], device=s.device)
        counts = torch.bincount(labels, minlength=len(CONDITIONS)).float()
        weight = counts.sum() / (len(CONDITIONS) * counts.clamp(min=1))
        self.model = _CropsAndPlace(len(place_features(objects[0]))).to(s.device)
        optimizer = torch.optim.AdamW(
            [
                {"params": self.model.backbone.parameters(), "lr": s.backbone_lr},
                {"params": self.model.head.parameters(), "lr": s.head_lr},
            ],
            weight_decay=0.01,
        )
        batches = -(-len(objects) // s.batch)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=[s.backbone_lr, s.head_lr], total_steps=s.epochs * batches, pct_start=0.1
        )
        for _ in range(s.epochs):
            self.model.train()
            _keep_batch_norm_statistics(self.model)
            order = rng.permutation(len(objects))
            for start in range(0, len(order), s.batch):
                chosen = order[start : start + s.batch]
                crops, place = _inputs([objects[i] for i in chosen], rng, s.device)
                loss = F.cross_entropy(self.model(crops, place), labels[chosen], weight=weight)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
        self.model.eval()
        return self

    @torch.inference_mode()
    def probabilities(self, objects: Sequence[ProbeObject]) -> np.ndarray:
        """[objects, conditions]: its softmax over ``CONDITIONS`` (every condition, whatever
        the type allows), for objects labelled or not."""
        rows = []
        for start in range(0, len(objects), 64):
            crops, place = _inputs(objects[start : start + 64], device=self.settings.device)
            rows.append(F.softmax(self.model(crops, place), dim=1).cpu().numpy())
        return np.concatenate(rows) if rows else np.zeros((0, len(CONDITIONS)), np.float32)

    def report(self, photos: Sequence[LabelledPhoto]) -> ConditionReport:
        objects = list(probe_objects(photos))
        return report_from_probabilities(objects, self.probabilities(objects), model=CNN)
