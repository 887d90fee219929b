"""The condition dataset: labelled objects with a known condition -> (crop, prompt context,
condition) examples, split BY PHOTO into train and a fixed held-out set.

Why by photo: objects of one photo share light, soil, camera and often the very same drain, so
an object-level split would let a model be scored on near-copies of what it learned.

Why a hash and not a shuffle: a photo is held out when a hash of its bytes (and the fixed
``held_out_seed``) falls under ``held_out_fraction``. The decision depends on that photo alone,
so every run, every model and every later, larger dataset (more reviewed photos) keeps the
photos it already held out in the held-out set: the served model and a candidate are always
compared on the same photos. Byte-identical photos under two names land on the same side.

Only real labels go into the held-out set: no synthesized example, no repeated example.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from core.conditions import condition_prompt
from core.taxonomy import ALLOWED_CONDITIONS, CONDITIONS, counted
from core.types import LabelledPhoto
from lifecycle.folders import data_hash
from training.data.examples import ConditionExample, ObjectCrop, crops_from_photos
from training.data.synthesize import synthesize

if TYPE_CHECKING:
    import datasets

HELD_OUT = "held_out"  # the DatasetDict split name of the held-out set


@dataclass
class DatasetSettings:
    """How the condition dataset is built. Defaults are the team's standard split."""

    held_out_fraction: float = field(
        default=0.2,
        metadata={
            "help": "Share of PHOTOS held out for evaluation (0 < f < 1). Each photo is held out when a "
            "hash of its bytes and held_out_seed falls under it, so the share is approximate."
        },
    )
    held_out_seed: int = field(
        default=0,
        metadata={
            "help": "Fixed seed of the held-out hash. Keep it fixed: every run and every model is then "
            "compared on the same held-out photos."
        },
    )
    oversample: bool = field(
        default=True,
        metadata={
            "help": "Repeat REAL train examples of rare conditions, PER OBJECT TYPE, up to the count of "
            "that type's most frequent condition. Never applied to the held-out set."
        },
    )
    synthesized_per_real: float = field(
        default=0.0,
        metadata={
            "help": "Synthesized train examples to add per real train example (0: none). Made by "
            "altering real NORMAL train crops into a condition; never in the held-out set."
        },
    )
    crop_margin: float = field(
        default=0.15,
        metadata={
            "help": "Context margin around each box, as a share of its size: pass the served model card's value."
        },
    )
    seed: int = field(
        default=0,
        metadata={"help": "Seed of the oversampling order and of the synthesis (not of the held-out split)."},
    )

    def __post_init__(self) -> None:
        if not isinstance(self.oversample, bool):
            raise ValueError(f"oversample must be True or False, got {self.oversample!r}")
        for name in ("held_out_seed", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        if not (isinstance(self.held_out_fraction, int | float) and 0.0 < self.held_out_fraction < 1.0):
            raise ValueError(f"held_out_fraction must be between 0 and 1 (exclusive), got {self.held_out_fraction!r}")
        if not (
            isinstance(self.synthesized_per_real, int | float)
            and math.isfinite(self.synthesized_per_real)
            and self.synthesized_per_real >= 0
        ):
            raise ValueError(f"synthesized_per_real must be a finite number >= 0, got {self.synthesized_per_real!r}")
        if not (isinstance(self.crop_margin, int | float) and 0.0 <= self.crop_margin <= 2.0):
            raise ValueError(f"crop_margin must be between 0 and 2, got {self.crop_margin!r}")


@dataclass(frozen=True)
class DatasetExample(ConditionExample):
    """A ``ConditionExample`` that remembers where it came from (scorers take it as is)."""

    photo: str = ""  # the LabelledPhoto's name
    synthesized: bool = False  # the condition was painted on by ``training.data.synthesize``
    repeat: bool = False  # a copy made by oversampling (the real example is in the set too)


# ------------------------------------------------------------------ the photo-level split


def _photo_key(photo: LabelledPhoto, seed: int) -> bytes:
    """A stable hash of the photo's bytes and the seed (the name only where the file is gone,
    e.g. a store whose photo was deleted after review)."""
    path = Path(photo.path)
    content = hashlib.sha256(path.read_bytes()).digest() if path.is_file() else photo.name.encode()
    return hashlib.sha256(f"condition-split:{seed}:".encode() + content).digest()


def _unit(key: bytes) -> float:
    """The key as a number in [0, 1), uniform over photos."""
    return int.from_bytes(key[:8], "big") / 2.0**64


def split_by_photo(
    photos: Sequence[LabelledPhoto], fraction: float, seed: int
) -> tuple[list[LabelledPhoto], list[LabelledPhoto]]:
    """(train photos, held-out photos), in the input order. A photo is held out when the hash of
    its bytes and ``seed`` maps under ``fraction``: the same photo, the same side, whatever else
    is in the set. With two photos or more, each side gets at least one (the photo nearest the
    threshold moves), so a tiny set still has something to evaluate on."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be between 0 and 1 (exclusive), got {fraction!r}")
    keys = [_photo_key(p, seed) for p in photos]
    held = [_unit(k) < fraction for k in keys]
    if len(set(keys)) >= 2:
        if not any(held):  # hold out the lowest hash (and its byte-identical twins)
            lowest = min(keys)
            held = [k == lowest for k in keys]
        elif all(held):  # train on the highest hash
            highest = max(keys)
            held = [k != highest for k in keys]
    train = [p for p, h in zip(photos, held, strict=True) if not h]
    held_out = [p for p, h in zip(photos, held, strict=True) if h]
    return train, held_out


def kfold_by_photo(
    photos: Sequence[LabelledPhoto], k: int, seed: int
) -> list[tuple[list[LabelledPhoto], list[LabelledPhoto]]]:
    """``k`` (train, held-out) photo splits; every photo is held out in exactly one fold.
    Photos are ordered by their hash and dealt round-robin, so fold sizes differ by at most one
    group of byte-identical photos (which always share a fold)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ValueError(f"k must be an integer >= 2, got {k!r}")
    keys = [_photo_key(p, seed) for p in photos]
    distinct = sorted(set(keys))
    if len(distinct) < k:
        raise ValueError(f"{len(distinct)} distinct photos cannot make {k} folds")
    fold_of = {key: i % k for i, key in enumerate(distinct)}
    folds = []
    for fold in range(k):
        train = [p for p, key in zip(photos, keys, strict=True) if fold_of[key] != fold]
        held_out = [p for p, key in zip(photos, keys, strict=True) if fold_of[key] == fold]
        folds.append((train, held_out))
    return folds


# ------------------------------------------------------------------ the dataset


def condition_counts(examples: Sequence[ConditionExample]) -> dict[str, int]:
    """Examples per condition, every condition listed (0 where none)."""
    counts = Counter(e.condition for e in examples)
    return {c: counts.get(c, 0) for c in CONDITIONS}


def class_weights(examples: Sequence[ConditionExample]) -> dict[str, float]:
    """Per condition, ``n / (C * n_c)``: inverse frequency, scaled so that the mean weight over
    ``examples`` is exactly 1 (sum over conditions of n_c * w_c = n), so a weighted loss keeps
    the scale of an unweighted one. ``C`` counts the conditions present; an absent condition
    has no weight (no example to weight)."""
    counts = Counter(e.condition for e in examples)
    total, present = sum(counts.values()), len(counts)
    return {c: total / (present * counts[c]) for c in CONDITIONS if counts.get(c)}


@dataclass(frozen=True)
class ConditionDataset:
    """Train and held-out condition examples, and what a model card says about them.

    ``class_weights`` are computed on the REAL train examples before any oversampling: a
    trainer uses either the weights or ``oversample``, not both (both would correct twice).
    ``train`` may be passed to ``training.eval.gate`` as is: its type prior skips the repeats and
    the synthesized examples (flagged on each ``DatasetExample``).
    """

    train: list[DatasetExample]
    held_out: list[DatasetExample]  # real labels only, each object once
    train_photos: list[str]
    held_out_photos: list[str]
    class_weights: dict[str, float]
    real_train_counts: dict[str, int]  # per condition, before oversampling
    train_counts: dict[str, int]  # per condition, as trained on (repeats and synthesized included)
    held_out_counts: dict[str, int]  # per condition
    data_hash: str  # artifacts.data_hash of every photo used (train and held-out)
    held_out_hash: str  # of the held-out photos alone: two runs compared on the same set share it
    provenance: str
    settings: DatasetSettings

    def to_hf(self) -> datasets.DatasetDict:
        """A ``datasets.DatasetDict`` with ``train`` and ``held_out`` splits; columns image,
        object_type, context, prompt (the full question), condition, photo, synthesized."""
        import datasets

        features = datasets.Features(
            {
                "image": datasets.Image(),
                "object_type": datasets.Value("string"),
                "context": datasets.Value("string"),
                "prompt": datasets.Value("string"),
                "condition": datasets.Value("string"),
                "photo": datasets.Value("string"),
                "synthesized": datasets.Value("bool"),
            }
        )

        def table(examples: Sequence[DatasetExample]) -> datasets.Dataset:
            return datasets.Dataset.from_dict(
                {
                    "image": [e.crop for e in examples],
                    "object_type": [e.object_type for e in examples],
                    "context": [e.context for e in examples],
                    "prompt": [condition_prompt(e.object_type, e.context) for e in examples],
                    "condition": [e.condition for e in examples],
                    "photo": [e.photo for e in examples],
                    "synthesized": [e.synthesized for e in examples],
                },
                features=features,
            )

        return datasets.DatasetDict({"train": table(self.train), HELD_OUT: table(self.held_out)})


def _real_crops(photos: Sequence[LabelledPhoto], margin: float) -> list[tuple[str, ObjectCrop]]:
    """(photo name, crop) for every object with a known condition and a choice of conditions
    (``crops_from_photos`` already leaves single-condition types such as vegetation out)."""
    found = []
    for photo in photos:
        for crop in crops_from_photos([photo], margin):  # one photo at a time: keeps the name
            if crop.condition is not None:
                found.append((photo.name, crop))
    return found


def _example(photo: str, crop: ObjectCrop) -> DatasetExample:
    return DatasetExample(Image.fromarray(crop.crop), crop.object_type, crop.context, crop.condition, photo)


def _oversampled(examples: list[DatasetExample], rng: np.random.Generator) -> list[DatasetExample]:
    """Repeats of rare conditions, per object type, up to that type's most frequent condition.
    Per type (not overall) because a model chooses among the conditions allowed for the type:
    what it must not learn is a type's skew (rock toes 70% damaged), and an overall balance
    would still leave it. Repeats go round the shuffled examples, so each is repeated at most
    once more than any other of its class."""
    extra: list[DatasetExample] = []
    for object_type in ALLOWED_CONDITIONS:
        by_condition = {
            c: [e for e in examples if e.object_type == object_type and e.condition == c]
            for c in ALLOWED_CONDITIONS[object_type]
        }
        target = max((len(v) for v in by_condition.values()), default=0)
        for items in by_condition.values():
            if not items or len(items) == target:
                continue  # a condition with no example cannot be repeated into existence
            order = rng.permutation(len(items))
            extra.extend(replace(items[order[i % len(items)]], repeat=True) for i in range(target - len(items)))
    return extra


def _synthesized(sources: list[tuple[str, ObjectCrop]], count: int, rng: np.random.Generator) -> list[DatasetExample]:
    """``count`` examples painted on real NORMAL train crops. Only normal crops are sources:
    painting "normal" (no alteration) on a damaged drain, or "blocked" on one, would teach a
    wrong or mixed label. The target condition is drawn uniformly from the type's allowed ones,
    normal included (every synthesized crop is jittered, so jitter cannot tell them apart)."""
    normal = [(name, c) for name, c in sources if c.condition == "normal"]
    if not normal or count <= 0:
        return []
    order = rng.permutation(len(normal))  # round the shuffled sources: each used evenly
    made = []
    for i in range(count):
        name, crop = normal[order[i % len(normal)]]
        condition = str(rng.choice(ALLOWED_CONDITIONS[crop.object_type]))
        painted = synthesize(crop.crop, crop.box, crop.object_type, condition, rng)
        made.append(DatasetExample(Image.fromarray(painted), crop.object_type, crop.context, condition, name, True))
    return made


def build_condition_dataset(
    photos: Sequence[LabelledPhoto], settings: DatasetSettings, held_out_names: set[str] | None = None
) -> ConditionDataset:
    """Examples from every object with a known condition (condition None, and single-condition
    types such as vegetation, are left out), the held-out photos chosen by ``split_by_photo``.
    The photos' own ``split`` field is not used: the held-out set is the hash's choice, so it
    stays fixed whatever split the source or the store gave a photo. ``held_out_names`` chooses
    the held-out photos instead (a cross-validation fold)."""
    if not photos:
        raise ValueError("no photos: nothing to build a condition dataset from")
    names = [p.name for p in photos]
    if len(set(names)) != len(names):
        raise ValueError("photo names must be unique (examples are traced to their photo by name)")
    if held_out_names is None:
        train_photos, held_out_photos = split_by_photo(photos, settings.held_out_fraction, settings.held_out_seed)
    else:
        train_photos = [p for p in photos if p.name not in held_out_names]
        held_out_photos = [p for p in photos if p.name in held_out_names]
    rng = np.random.default_rng(settings.seed)

    train_crops = _real_crops(train_photos, settings.crop_margin)
    real_train = [_example(name, crop) for name, crop in train_crops]
    held_out = [_example(name, crop) for name, crop in _real_crops(held_out_photos, settings.crop_margin)]
    if not real_train:
        raise ValueError("no train object has a known condition: label some conditions first")

    repeats = _oversampled(real_train, rng) if settings.oversample else []
    synthesized = _synthesized(train_crops, round(settings.synthesized_per_real * len(real_train)), rng)
    train = real_train + repeats + synthesized

    provenance = (
        f"train: {len(real_train)} real labelled objects from {counted(len(train_photos), 'photo')}"
        + (f", + {len(repeats)} repeats of rare conditions (oversampled per object type)" if repeats else "")
        + (
            f", + {len(synthesized)} examples with conditions SYNTHESIZED on real normal crops"
            if synthesized
            else ", no synthesized examples"
        )
        + f"; held-out: {len(held_out)} real labelled objects from {counted(len(held_out_photos), 'photo')}"
        " (no synthesized or repeated examples)"
    )
    return ConditionDataset(
        train=train,
        held_out=held_out,
        train_photos=[p.name for p in train_photos],
        held_out_photos=[p.name for p in held_out_photos],
        class_weights=class_weights(real_train),
        real_train_counts=condition_counts(real_train),
        train_counts=condition_counts(train),
        held_out_counts=condition_counts(held_out),
        data_hash=data_hash(photos),
        held_out_hash=data_hash(held_out_photos),
        provenance=provenance,
        settings=settings,
    )
