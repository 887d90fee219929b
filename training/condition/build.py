"""Build the default condition model: the tiny Qwen2-VL, its vision tower distilled from an
ImageNet-pretrained EfficientNet-Lite0, then taught the real conditions by that network
fine-tuned on them.

1. Distil (``training.condition.distill``, no labels read): a fresh tiny Qwen2-VL's vision tower learns to
   reproduce the ImageNet network's features of object crops from the photos of ``distil_data``
   that are NOT condition photos, so no photo that any evaluation holds out is ever seen here,
   and the distilled tower can start every cross-validation fold.
2. Teach (``training.condition.teacher``): EfficientNet-Lite0 is fine-tuned on the real conditions of the
   train photos of ``data_dir`` (``training.baselines.cnn``; the dataset builder's held-out photos
   stay out); every weight of the Qwen2-VL then learns its answers on many views of the objects of
   the train photos and of the distillation photos (``training.condition.finetune`` with the teacher's
   probabilities as targets).

The result is a candidate folder in the registry, never the served model. Both stages are
ordinary folders and cards, so ``slope train crossval --parent <distilled folder>
--recipe build`` measures exactly this recipe, fold by fold.

    slope train build-condition [--steps 1500] [--distil-steps 1500] [--keep-distilled DIR]
    slope train build-condition --distilled DIR    # reuse a distilled tower
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.conditions import TRAINING_PHOTO_SIDE, card_crop_margin
from core.model_card import ModelCard
from core.types import LabelledPhoto
from lifecycle.folders import data_hash, default_registry, new_version, now_iso, settings_for_card, shown_path
from training.backbone import WEIGHTS_ORIGIN
from training.baselines.cnn import CNN, CnnSettings, FineTunedCnnBaseline
from training.condition.distill import DistilSettings, distil_data, distil_vision_tower
from training.condition.finetune import finetune_condition_model
from training.condition.finetune_settings import FinetuneSettings
from training.condition.teacher import teaching_examples
from training.data.condition_data import ConditionDataset, DatasetExample, DatasetSettings, build_condition_dataset
from training.data.dataset import DATA_CREDIT, DEFAULT_DATA, from_yolo_folder

# The real photos with condition labels (9 classes) the default model learns from.
CONDITION_DATA = DEFAULT_DATA.parent / "slope-conditions"
ARCHITECTURE = (
    "Qwen2VLForConditionalGeneration (tiny configuration, own BPE tokenizer); vision tower distilled "
    f"from an ImageNet-pretrained EfficientNet-Lite0 ({WEIGHTS_ORIGIN})"
)

Log = Callable[[str], Any]


@dataclass
class ConditionTrainSettings:
    data_dir: Path = field(
        default=CONDITION_DATA, metadata={"help": "YOLO folder whose 9 classes carry the real conditions."}
    )
    distil_data: Path = field(
        default=DEFAULT_DATA,
        metadata={"help": "YOLO folder whose photos (those not in data_dir) the vision tower is distilled on."},
    )
    registry: Path | None = field(
        default=None,
        metadata={"help": "Model registry the candidate is written into; None: the data directory's."},
    )
    steps: int = field(default=1500, metadata={"help": "Teaching steps: the Qwen2-VL learns the teacher's answers."})
    batch_size: int = field(default=32, metadata={"help": "Views per teaching step."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Peak teaching learning rate."})
    views: int = field(default=16, metadata={"help": "Views of each object the teacher answers (the first as boxed)."})
    cnn_epochs: int = field(
        default=8, metadata={"help": "Epochs of the teacher: EfficientNet-Lite0 fine-tuned on the real conditions."}
    )
    distil_steps: int = field(default=1500, metadata={"help": "Distillation steps (0: the tower stays random)."})
    distil_views: int = field(default=8, metadata={"help": "Augmented views per object for distillation."})
    crop_margin: float = field(
        default=0.15, metadata={"help": "Context margin around each crop; written into the card for serving."}
    )
    seed: int = field(default=0, metadata={"help": "Seeds the weights, the views and the example order."})
    device: str = field(
        default="cpu", metadata={"help": "Where the teacher and the Qwen2-VL train: 'cpu' or a CUDA device ('cuda')."}
    )
    distilled: Path | None = field(
        default=None, metadata={"help": "Start from this distilled model folder instead of distilling anew."}
    )
    keep_distilled: Path | None = field(
        default=None, metadata={"help": "Also keep the distilled model in this (new) folder, e.g. for crossval."}
    )

    def __post_init__(self) -> None:
        self.data_dir, self.distil_data = Path(self.data_dir), Path(self.distil_data)
        # Resolved now, so the card records where the candidate went.
        self.registry = Path(self.registry) if self.registry is not None else default_registry()
        self.distilled = Path(self.distilled) if self.distilled is not None else None
        self.keep_distilled = Path(self.keep_distilled) if self.keep_distilled is not None else None
        if self.steps <= 0 or self.batch_size <= 0 or self.learning_rate <= 0:
            raise ValueError(
                f"steps, batch_size and learning_rate must be positive, got "
                f"{self.steps}, {self.batch_size}, {self.learning_rate}"
            )
        if self.views < 1 or self.cnn_epochs < 1:
            raise ValueError(f"views and cnn_epochs must be at least 1, got {self.views}, {self.cnn_epochs}")
        if not 0.0 <= self.crop_margin <= 2.0:
            raise ValueError(f"crop_margin must be in [0, 2], got {self.crop_margin}")
        if self.keep_distilled is not None and self.keep_distilled.exists():
            raise ValueError(f"{self.keep_distilled} exists: keep_distilled must be a new folder")
        DistilSettings(self.distil_steps, views=self.distil_views)  # checks the distillation values


def train_condition_model(settings: ConditionTrainSettings, log: Log = print) -> Path:
    """Distil (unless ``settings.distilled``), teach the real conditions and publish a new
    candidate folder in ``settings.registry``; returns that folder. A run that fails leaves no
    folder behind."""
    photos = from_yolo_folder(settings.data_dir)
    dataset = build_condition_dataset(photos, condition_recipe(settings)[0])
    pool = distil_photos(settings.distil_data, photos)
    train_names = set(dataset.train_photos)
    train_photos = [p for p in photos if p.name in train_names]
    with tempfile.TemporaryDirectory(prefix="distilled-") as work:
        parent = settings.distilled
        if parent is None:
            parent = settings.keep_distilled or Path(work) / "distilled"
            distil_parent(pool, parent, settings, log)
        return teach_candidate(
            parent,
            train_photos,
            pool,
            dataset.held_out,
            settings,
            settings.registry,
            log,
            data_hash=dataset.data_hash,
            data_credit=DATA_CREDIT,
            held_out_description=held_out_description(dataset, settings.data_dir),
        )


def teach_candidate(
    parent: Path,
    train_photos: list[LabelledPhoto],
    pool: list[LabelledPhoto],
    held_out: list[DatasetExample],
    settings: ConditionTrainSettings,
    registry: Path,
    log: Log = print,
    **card: Any,
) -> Path:
    """The teacher fitted on ``train_photos``, the Qwen2-VL in ``parent`` taught its answers on
    views of the objects of ``train_photos`` and ``pool`` (photos without condition labels), then
    measured on ``held_out`` and published into ``registry``; ``card``: more of
    ``finetune_condition_model``'s card arguments."""
    cnn = CnnSettings(epochs=settings.cnn_epochs, seed=settings.seed, device=settings.device)
    teacher = FineTunedCnnBaseline(cnn).fit(train_photos)
    margin = card_crop_margin(str(parent))
    examples = teaching_examples(teacher, [*train_photos, *pool], margin, settings.views, settings.seed)
    provenance = (
        f"taught: {len(examples)} views ({settings.views} per object) of the objects of {len(train_photos)} train "
        f"photos (real conditions) and {len(pool)} photos without condition labels, each answered by {CNN} fitted "
        f"on the real conditions of those train photos; held-out: {len(held_out)} real labelled objects, never seen "
        "by the teacher or the model"
    )
    log(provenance)
    return finetune_condition_model(
        parent,
        examples,
        held_out,
        condition_recipe(settings)[1],
        registry=registry,
        data_provenance=provenance,
        progress=lambda step, total, values: (
            log(f"step {step}/{total}: " + ", ".join(f"{k} {v:.3f}" for k, v in values.items() if k != "step"))
            if "held_out_accuracy" in values
            else None
        ),
        **card,
    )


def held_out_description(dataset: ConditionDataset, data_dir: Path) -> str:
    """What a card's metrics were measured on, for a model built from ``data_dir``."""
    return (
        f"{len(dataset.held_out)} real labelled objects of {len(dataset.held_out_photos)} held-out photos "
        f"of {shown_path(data_dir)} (chosen by photo hash; cross-validation gives a steadier measure)"
    )


def build_split(data_dir: Path) -> ConditionDataset:
    """``build-condition``'s dataset of ``data_dir``: which photos it trains on and holds out."""
    return build_condition_dataset(from_yolo_folder(data_dir), condition_recipe(ConditionTrainSettings(data_dir))[0])


def held_out_of(data_dir: Path) -> tuple[list[DatasetExample], str]:
    """The held-out examples ``build-condition`` holds out of ``data_dir``, and their description:
    where a built model is measured (and calibrated) again."""
    dataset = build_split(data_dir)
    return dataset.held_out, held_out_description(dataset, data_dir)


def condition_recipe(settings: ConditionTrainSettings) -> tuple[DatasetSettings, FinetuneSettings]:
    """Which photos are held out (and how they are cropped), and how the Qwen2-VL learns the
    teacher's answers: shared by the build and by ``crossval --recipe build``, so the figures
    measure what ships. The teacher replaces oversampling and synthesized examples: it was fitted
    with class weights on the real conditions, and its answers carry them."""
    dataset = DatasetSettings(
        crop_margin=settings.crop_margin, oversample=False, synthesized_per_real=0.0, seed=settings.seed
    )
    finetune = FinetuneSettings(
        method="full",
        learning_rate=settings.learning_rate,
        steps=settings.steps,
        batch_size=settings.batch_size,
        warmup_steps=50,
        seed=settings.seed,
        use_class_weights=False,
        eval_every=max(1, settings.steps // 4),
        device=settings.device,
    )
    return dataset, finetune


def distil_photos(folder: Path, condition_photos: list[LabelledPhoto]) -> list[LabelledPhoto]:
    """The photos of ``folder`` that are not condition photos (matched by name)."""
    taken = {p.name for p in condition_photos}
    pool = [p for p in from_yolo_folder(folder) if p.name not in taken]
    if not pool:
        raise ValueError(f"{folder} has no photos besides the condition photos to distil on")
    return pool


def distil_parent(photos: list[LabelledPhoto], folder: Path, settings: ConditionTrainSettings, log: Log) -> Path:
    """A fresh tiny Qwen2-VL with its vision tower distilled on ``photos``, saved with its card
    into ``folder``: the parent that fine-tuning starts from. It answers no condition yet."""
    from training.condition.tiny_qwen2vl import build_model, build_processor

    started = time.time()
    distil = DistilSettings(settings.distil_steps, views=settings.distil_views, seed=settings.seed)
    data = distil_data(photos, distil)
    log(f"distilling on {len(data.images)} views of {data.objects} objects from {data.photos} photos")
    processor = build_processor()
    model = build_model(processor, seed=settings.seed)
    history = distil_vision_tower(model, processor, data, distil, log)
    folder.mkdir(parents=True)
    processor.save_pretrained(folder)
    model.save_pretrained(folder)
    ModelCard(
        kind="condition",
        version=new_version("condition", "distilled"),
        architecture=ARCHITECTURE,
        created=now_iso(),
        data=(
            f"{shown_path(settings.distil_data)}: {data.photos} photos that carry no condition labels, "
            f"{data.objects} objects"
        ),
        data_hash=data_hash(photos),
        data_provenance="boxes only; the teacher's features are the targets, no condition is read",
        data_credit=DATA_CREDIT,
        crop_margin=settings.crop_margin,
        photo_side=TRAINING_PHOTO_SIDE,
        train_settings=settings_for_card(distil),
        training={
            "distil_steps": distil.steps,
            "train_seconds": round(time.time() - started),
            "final_loss": history[-1]["loss"] if history else None,
        },
        history=history,
        metrics_data="not scored: the language model has not learned any condition yet",
    ).write(folder)
    return folder
