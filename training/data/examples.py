"""Condition examples on labelled boxes, and how well a condition model answers them.

Both the trainer (held-out accuracy while it trains) and the evaluation (``training.eval.evaluate``)
use what is here, so neither needs the other.

An example is a crop of a labelled object, cut as the app cuts it (same margin, same spatial
context in the prompt), with the condition it truly has. The slopes photos carry object types
only: there, examples carry conditions synthesized on the real crops (``training.data.synthesize``),
one per allowed condition, and every figure measured on them says so.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from core.conditions import (
    TRAINING_PHOTO_SIDE,
    ConditionModel,
    condition_prompt,
    crop_bounds,
    squash_scale,
    squashed,
    tempered_softmax,
)
from core.images import load_stored_image
from core.spatial import ObjectContext, relations
from core.taxonomy import ALLOWED_CONDITIONS, CLASS_NAMES, CONDITIONS, OBJECT_TYPES, class_name
from core.types import LabelledBox, LabelledPhoto
from training.data.synthesize import synthesize
from training.eval.metrics import classification_report, confusion_matrix, expected_calibration_error

if TYPE_CHECKING:
    import torch
    from transformers import BatchFeature

REAL_CONDITIONS = "real reviewed conditions"
SYNTHESIZED_CONDITIONS = "conditions SYNTHESIZED on real object crops (the labels carry no conditions)"
# Examples per forward pass when scoring: bounded memory, whatever the number of examples.
Pair = tuple[str, str]  # (object_type, condition)
SCORING_BATCH = 32


@dataclass(frozen=True)
class ObjectCrop:
    crop: np.ndarray  # (H, W, 3) uint8, the object with its context margin
    box: tuple[int, int, int, int]  # the object inside the crop
    object_type: str
    context: str
    condition: str | None = None  # the labelled condition, where the source has one


@dataclass(frozen=True)
class ConditionExample:
    """One question to a condition model, with its true answer."""

    crop: Image.Image
    object_type: str
    context: str  # where the object is, as the prompt says it
    condition: str  # the truth (for a teaching example, the teacher's most probable answer)
    # A teacher's probabilities over CONDITIONS, learned instead of ``condition`` (training.condition.teacher).
    target: tuple[float, ...] | None = field(default=None, kw_only=True)


def objects_with_a_choice(photos: Sequence[LabelledPhoto]) -> Iterator[tuple[Image.Image, LabelledBox, ObjectContext]]:
    """(photo image, object, where it is) for every object whose type allows more than one
    condition (vegetation has none to choose): the objects a condition model is asked about,
    in the photos' order. Each photo is read once."""
    for photo in photos:
        image = load_stored_image(photo.path)
        contexts = relations(photo.boxes, photo.object_types, image.size)
        for labelled, context in zip(photo.objects, contexts, strict=True):
            if len(ALLOWED_CONDITIONS[labelled.object_type]) > 1:
                yield image, labelled, context


def crops_from_photos(
    photos: Sequence[LabelledPhoto], margin: float, photo_side: int | None = TRAINING_PHOTO_SIDE
) -> list[ObjectCrop]:
    """Every object with more than one allowed condition, cropped as the app crops it for a
    model whose photos are squashed to ``photo_side`` (the side every model trained here has:
    photos larger than the training photos, e.g. reviewed uploads, are squashed as served)."""
    crops = []
    for image, labelled, context in objects_with_a_choice(photos):
        try:
            left, top, right, bottom = crop_bounds(image.size, labelled.box, margin)
        except ValueError:
            continue  # degenerate box in the source labels
        cut = squashed(image.crop((left, top, right, bottom)), image.size, photo_side)
        crop = np.asarray(cut)
        sx, sy = squash_scale(image.size, photo_side)
        bx1, by1, bx2, by2 = labelled.box
        # The object inside the crop, at least 2 px each way so alterations have room.
        x1, y1 = max(0, int((bx1 - left) * sx)), max(0, int((by1 - top) * sy))
        x2 = min(cut.width, max(x1 + 2, int((bx2 - left) * sx)))
        y2 = min(cut.height, max(y1 + 2, int((by2 - top) * sy)))
        crops.append(ObjectCrop(crop, (x1, y1, x2, y2), labelled.object_type, context.describe(), labelled.condition))
    return crops


def held_out_examples(crops: Sequence[ObjectCrop], seed: int) -> list[ConditionExample]:
    """One example per object and allowed condition, synthesized on the object's real crop."""
    rng = np.random.default_rng(seed)
    examples = []
    for item in crops:
        for condition in ALLOWED_CONDITIONS[item.object_type]:
            altered = synthesize(item.crop, item.box, item.object_type, condition, rng)
            examples.append(ConditionExample(Image.fromarray(altered), item.object_type, item.context, condition))
    return examples


def condition_examples(
    photos: Sequence[LabelledPhoto], margin: float, seed: int, photo_side: int | None = TRAINING_PHOTO_SIDE
) -> tuple[list[ConditionExample], str]:
    """Examples on the labelled boxes, and what their conditions are. Real conditions where
    every scored object has one; otherwise conditions synthesized on the real crops (one per
    allowed condition), since a mix would mean a different thing for every dataset."""
    crops = crops_from_photos(photos, margin, photo_side)
    if crops and all(c.condition is not None for c in crops):
        real = [ConditionExample(Image.fromarray(c.crop), c.object_type, c.context, c.condition) for c in crops]
        return real, REAL_CONDITIONS
    return held_out_examples(crops, seed), SYNTHESIZED_CONDITIONS


# ------------------------------------------------------------------ scoring a model on examples


@dataclass(frozen=True)
class ClassScore:
    precision: float
    recall: float
    f1: float
    n: int


@dataclass(frozen=True)
class GroupAccuracy:
    accuracy: float
    n: int


@dataclass(frozen=True)
class Confusion:
    labels: tuple[str, ...]  # rows are the truth, columns the answer, in this order
    matrix: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class ConditionReport:
    """How one condition model answers a set of examples."""

    model: str  # its version
    examples: int
    accuracy: float
    macro_f1: float
    normal_vs_problem: float  # accuracy of "normal" versus "blocked or damaged", whichever problem
    ece: float  # expected calibration error of the chosen condition's probability
    per_class: dict[str, ClassScore]  # the 9-class names, vegetation left out (never scored)
    per_condition: dict[str, GroupAccuracy]
    per_object_type: dict[str, GroupAccuracy]
    confusion: Confusion
    memory_bytes: int | None = None  # weights in memory, where a comparison measured it

    def to_dict(self) -> dict:
        """Plain JSON values; ``memory_bytes`` only where measured."""
        values = asdict(self)
        matrix = [list(row) for row in self.confusion.matrix]
        values["confusion"] = {"labels": list(self.confusion.labels), "matrix": matrix}
        if self.memory_bytes is None:
            del values["memory_bytes"]
        return values

    def card_metrics(self) -> dict:
        """The figures without the model's name, as a model card's metrics."""
        return {k: v for k, v in self.to_dict().items() if k != "model"}


def score_answers(
    truth: Sequence[Pair], answers: Sequence[Pair], confidence: Sequence[float], model: str
) -> ConditionReport:
    """The report for answers to examples: accuracy, macro-F1 over the 9-class names present
    in the truth (vegetation never scored), per class / condition / object type, confusion
    matrix, and ECE of ``confidence`` (the probability given to each answer)."""
    if not len(truth) == len(answers) == len(confidence):
        raise ValueError(f"{len(truth)} truths, {len(answers)} answers, {len(confidence)} confidences")
    labels = [c for c in CLASS_NAMES if not c.startswith("vegetation")]
    truth_names, answer_names = [class_name(*t) for t in truth], [class_name(*a) for a in answers]
    matrix = confusion_matrix(truth_names, answer_names, labels)
    report = classification_report(truth_names, answer_names, labels)
    correct = [t == a for t, a in zip(truth, answers, strict=True)]

    def accuracy_by(position: int, values: Sequence[str]) -> dict[str, GroupAccuracy]:
        groups = {}
        for value in values:
            chosen = [ok for t, ok in zip(truth, correct, strict=True) if t[position] == value]
            if chosen:
                groups[value] = GroupAccuracy(float(np.mean(chosen)), len(chosen))
        return groups

    return ConditionReport(
        model=model,
        examples=len(truth),
        accuracy=report["accuracy"],
        macro_f1=report["macro_f1"],
        normal_vs_problem=_normal_vs_problem(truth, answers),
        ece=expected_calibration_error(confidence, correct),
        per_class={name: ClassScore(**v) for name, v in report["per_class"].items()},
        per_condition=accuracy_by(1, CONDITIONS),
        per_object_type=accuracy_by(0, [t for t in OBJECT_TYPES if len(ALLOWED_CONDITIONS[t]) > 1]),
        confusion=Confusion(tuple(labels), tuple(tuple(int(v) for v in row) for row in matrix)),
    )


def _normal_vs_problem(truth: Sequence[Pair], answers: Sequence[Pair]) -> float:
    """Accuracy of the answer being "normal" or not, whichever problem it names."""
    if not truth:
        return 0.0
    return float(np.mean([(t[1] == "normal") == (a[1] == "normal") for t, a in zip(truth, answers, strict=True)]))


def answer_scores(model: ConditionModel, examples: Sequence[ConditionExample]) -> list[np.ndarray]:
    """Per example, its allowed conditions' answer logits (``ConditionModel.answer_scores``),
    scored in batches (bounded memory)."""
    scores = []
    for start in range(0, len(examples), SCORING_BATCH):
        chunk = examples[start : start + SCORING_BATCH]
        logits = model.answer_logits(
            [e.crop for e in chunk], [condition_prompt(e.object_type, e.context) for e in chunk]
        )
        scores += [model.answer_scores(logits[row], ALLOWED_CONDITIONS[e.object_type]) for row, e in enumerate(chunk)]
    return scores


def model_answers(
    model: ConditionModel, examples: Sequence[ConditionExample]
) -> tuple[list[Pair], list[Pair], list[float]]:
    """(truth, answer, confidence) per example: the model's most probable allowed condition
    and its (calibrated) probability."""
    truth, answers, confidence = [], [], []
    for example, scores in zip(examples, answer_scores(model, examples), strict=True):
        probabilities = tempered_softmax(scores, model.temperature)
        best = int(np.argmax(probabilities))
        truth.append((example.object_type, example.condition))
        answers.append((example.object_type, ALLOWED_CONDITIONS[example.object_type][best]))
        confidence.append(float(probabilities[best]))
    return truth, answers, confidence


def evaluate_conditions(model: ConditionModel, examples: Sequence[ConditionExample]) -> ConditionReport:
    """Accuracy, macro-F1, per 9-class / condition / object type, confusion matrix, ECE."""
    return score_answers(*model_answers(model, examples), model=model.version)


def answer_batch(scorer: ConditionModel, examples: Sequence[ConditionExample]) -> tuple[BatchFeature, torch.Tensor]:
    """Processor inputs for examples asked the app's question and answered with their condition,
    and labels where only the answer tokens count (-100 elsewhere): what every trainer of the
    condition model learns from."""
    import torch

    tokenizer = scorer.processor.tokenizer
    end_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    texts, answer_lengths = [], []
    for e in examples:
        answer = tokenizer.encode(e.condition, add_special_tokens=False) + [end_id]
        texts.append(scorer.chat_text(condition_prompt(e.object_type, e.context)) + e.condition + "<|im_end|>")
        answer_lengths.append(len(answer))
    inputs = scorer.processor(text=texts, images=[e.crop for e in examples], return_tensors="pt", padding=True)
    labels = torch.full_like(inputs["input_ids"], -100)
    for row, n in enumerate(answer_lengths):  # left padded: every answer ends its row
        labels[row, -n:] = inputs["input_ids"][row, -n:]
    return inputs, labels
