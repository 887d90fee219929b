"""Teach the tiny Qwen2-VL what the fine-tuned EfficientNet-Lite0 answers (function matching).

The fine-tuned CNN (``training.baselines.cnn``) is the best condition model measured on these
photos, but the product's condition model is a Qwen2-VL, and the tiny one learns poorly from a
thousand labelled crops. So the CNN is fitted on the train photos' real conditions and becomes a
teacher: every object of the train photos and of photos without condition labels is shown in
many views (the box moved and resized a little, mirrored, lighter or darker), the teacher answers
each view, and the Qwen2-VL learns to give the same probabilities on the same view (the teacher
and the student see the same pixels, so the targets are consistent, and objects nobody labelled
still teach). The examples are ordinary ``ConditionExample``s with a ``target``, fine-tuned by
``training.condition.finetune`` like any others, so the result is a plain Qwen2-VL candidate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from core.conditions import TRAINING_PHOTO_SIDE, crop_bounds, squashed
from core.spatial import ObjectContext
from core.taxonomy import ALLOWED_CONDITIONS, CONDITIONS
from core.types import LabelledPhoto
from training.baselines.cnn import FineTunedCnnBaseline
from training.baselines.probe import MARGINS, ProbeObject
from training.data.examples import ConditionExample, objects_with_a_choice

# How far a view's box may move (share of its size) and resize (factor per side).
BOX_SHIFT, BOX_SCALE = 0.1, (0.85, 1.15)


@dataclass(frozen=True)
class Look:
    """How one view differs from the photo: the same for the student's crop and the teacher's."""

    mirror: bool = False
    gain: float = 1.0
    shift: float = 0.0  # added to every 0-255 channel value

    @classmethod
    def random(cls, rng: np.random.Generator) -> Look:
        return cls(bool(rng.random() < 0.5), float(rng.uniform(0.8, 1.2)), float(rng.uniform(-25, 25)))

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        out = np.clip(pixels.astype(np.float32) * self.gain + self.shift, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(out[:, ::-1]) if self.mirror else out


def moved_box(box: Sequence[float], size: tuple[int, int], rng: np.random.Generator) -> list[float]:
    """``box`` shifted by up to ``BOX_SHIFT`` of its size and resized per side, kept on the photo."""
    x1, y1, x2, y2 = (float(v) for v in box)
    width, height = x2 - x1, y2 - y1
    cx = (x1 + x2) / 2 + rng.uniform(-BOX_SHIFT, BOX_SHIFT) * width
    cy = (y1 + y2) / 2 + rng.uniform(-BOX_SHIFT, BOX_SHIFT) * height
    half_w, half_h = width * rng.uniform(*BOX_SCALE) / 2, height * rng.uniform(*BOX_SCALE) / 2
    return [max(0.0, cx - half_w), max(0.0, cy - half_h), min(size[0], cx + half_w), min(size[1], cy + half_h)]


def teaching_examples(
    teacher: FineTunedCnnBaseline,
    photos: Sequence[LabelledPhoto],
    margin: float,
    views: int,
    seed: int = 0,
) -> list[ConditionExample]:
    """``views`` examples per object of ``photos`` with a choice of conditions, labelled or not
    (the first view is the object as boxed), each with the teacher's probabilities over the
    conditions its type allows as ``target`` and the most probable as ``condition``. ``margin``
    is the student's crop margin (its card's)."""
    if views < 1:
        raise ValueError(f"views must be at least 1, got {views}")
    rng = np.random.default_rng(seed)
    examples: list[ConditionExample] = []
    for image, labelled, where in objects_with_a_choice(photos):
        crops, seen = [], []
        for view in range(views):
            box = labelled.box if view == 0 else moved_box(labelled.box, image.size, rng)
            try:
                bounds = [crop_bounds(image.size, box, m) for m in (margin, *MARGINS)]
            except ValueError:
                continue  # too small to crop (a degenerate box in the source labels)
            look = Look.random(rng) if view else Look()
            student, *teacher_views = [look.apply(np.asarray(image.crop(b))) for b in bounds]
            crops.append(squashed(Image.fromarray(student), image.size, TRAINING_PHOTO_SIDE))
            seen.append(ProbeObject(tuple(teacher_views), labelled.object_type, where, None))
        if seen:
            examples += _answered(crops, teacher.probabilities(seen), labelled.object_type, where)
    if not examples:
        raise ValueError("no object with a choice of conditions to teach on")
    return examples


def _answered(
    crops: list[Image.Image], probabilities: np.ndarray, object_type: str, where: ObjectContext
) -> list[ConditionExample]:
    """The views as examples, each target renormalised over the conditions the type allows."""
    allowed = np.array([c in ALLOWED_CONDITIONS[object_type] for c in CONDITIONS])
    context = where.describe()
    examples = []
    for crop, row in zip(crops, probabilities, strict=True):
        target = np.where(allowed, row, 0.0)
        target = target / target.sum()
        condition, probabilities = CONDITIONS[int(target.argmax())], tuple(float(p) for p in target)
        examples.append(ConditionExample(crop, object_type, context, condition, target=probabilities))
    return examples
