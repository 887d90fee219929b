"""The values that flow through the product: a model's ``Finding`` and ``Inspection`` of a photo,
and the one labelled-box type (``LabelledBox`` on a ``LabelledPhoto``) that storage, review,
evaluation, export and training share.

Boxes are ``(x1, y1, x2, y2)`` in pixels of the photo. ``sv.Detections`` is the array form of
many boxes; each type converts to it (extras in ``data``) and back. supervision is imported only
inside those conversions, so importing this module (as storage does) stays light.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.spatial import ObjectContext
from core.taxonomy import OBJECT_TYPES, check_pair, class_name

if TYPE_CHECKING:
    import supervision as sv

Box = tuple[float, float, float, float]


def condition_margin(condition_probs: dict[str, float]) -> float:
    """Top-1 minus top-2 condition probability; 1 when only one condition is allowed. Small
    means the model could not tell the conditions apart."""
    probs = sorted(condition_probs.values(), reverse=True)
    return probs[0] - probs[1] if len(probs) > 1 else 1.0


@dataclass(frozen=True)
class Finding:
    box_xyxy: Box  # pixels of the inspected photo
    object_type: str
    confidence: float  # the detector's
    condition: str
    condition_probs: dict[str, float]  # over the conditions allowed for object_type; sums to 1
    context: ObjectContext

    @property
    def class_name(self) -> str:
        return class_name(self.object_type, self.condition)

    @property
    def condition_confidence(self) -> float:
        return self.condition_probs[self.condition]

    @property
    def condition_margin(self) -> float:
        return condition_margin(self.condition_probs)

    @property
    def review_certainty(self) -> float:
        """How sure the whole pipeline is of this object (condition margin x detector
        confidence): the review queue shows the lowest first."""
        return self.condition_margin * self.confidence

    def as_dict(self) -> dict:
        return {
            "object_type": self.object_type,
            "condition": self.condition,
            "class_name": self.class_name,
            "confidence": round(self.confidence, 4),
            "condition_probs": {k: round(v, 4) for k, v in self.condition_probs.items()},
            "box_xyxy": [round(v, 1) for v in self.box_xyxy],
            "relations": self.context.as_dict(),
        }


@dataclass(frozen=True)
class Inspection:
    width: int
    height: int
    findings: tuple[Finding, ...]
    models: dict[str, str]  # {"detector": version, "condition": version}
    timings_ms: dict[str, float] = field(default_factory=dict)
    # ISO 8601 (seconds, UTC): when the batch that made it made it, or as the store recorded it.
    # One time for the page, the store and both reports of a photo.
    inspected_at: str | None = None

    def detections(self) -> sv.Detections:
        """The findings as ``sv.Detections``: ``class_id`` is the object type's index in
        ``OBJECT_TYPES``; ``data`` holds object_type, condition and condition_confidence."""
        import supervision as sv

        if not self.findings:
            return sv.Detections.empty()
        return sv.Detections(
            xyxy=np.array([f.box_xyxy for f in self.findings], dtype=np.float32).reshape(-1, 4),
            confidence=np.array([f.confidence for f in self.findings], dtype=np.float32),
            class_id=np.array([OBJECT_TYPES.index(f.object_type) for f in self.findings], dtype=int),
            data={
                "object_type": np.array([f.object_type for f in self.findings]),
                "condition": np.array([f.condition for f in self.findings]),
                "condition_confidence": np.array([f.condition_confidence for f in self.findings]),
            },
        )

    def as_dict(self) -> dict:
        return {
            "width": self.width,
            "height": self.height,
            "findings": [f.as_dict() for f in self.findings],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "models": dict(self.models),
            **({"inspected_at": self.inspected_at} if self.inspected_at else {}),
        }


INSIDE_TOLERANCE_PX = 0.5  # a box may overshoot its photo by rounding, not more


@dataclass(frozen=True)
class LabelledBox:
    """A box with its object type and condition: what a person drew, corrected or accepted, or a
    source dataset holds. It cannot be made invalid: the box is four finite numbers with x2 > x1
    and y2 > y1, the type is one of ``OBJECT_TYPES`` and the condition one the type allows (or
    None: nobody has said). Whether it lies inside its photo needs the photo: ``check_inside``."""

    box: Box  # pixels, xyxy
    object_type: str
    condition: str | None = None

    def __post_init__(self) -> None:
        try:
            box = tuple(float(v) for v in self.box)
        except (TypeError, ValueError):
            raise ValueError(f"box {self.box!r} is not four numbers (x1, y1, x2, y2)") from None
        if len(box) != 4 or not all(math.isfinite(v) for v in box):
            raise ValueError(f"box {list(self.box)} is not four finite numbers (x1, y1, x2, y2)")
        if not (box[2] > box[0] and box[3] > box[1]):
            raise ValueError(f"box {list(box)} is empty: x2 must exceed x1 and y2 exceed y1")
        if self.condition is None:
            if self.object_type not in OBJECT_TYPES:
                raise ValueError(f"unknown object type {self.object_type!r}; expected one of {OBJECT_TYPES}")
        else:
            check_pair(self.object_type, self.condition)
        object.__setattr__(self, "box", box)

    def check_inside(self, width: int, height: int) -> None:
        """``ValueError`` when the box reaches outside a ``width`` x ``height`` photo."""
        x1, y1, x2, y2 = self.box
        slack = INSIDE_TOLERANCE_PX
        if x1 < -slack or y1 < -slack or x2 > width + slack or y2 > height + slack:
            raise ValueError(f"box {[round(v, 1) for v in self.box]} reaches outside the {width}x{height} photo")


@dataclass(frozen=True)
class LabelledPhoto:
    """A photo file and its labelled boxes."""

    name: str  # unique within its collection (an export uses it as the file name)
    path: Path
    split: str
    width: int
    height: int
    objects: tuple[LabelledBox, ...]

    def __post_init__(self) -> None:
        for labelled in self.objects:
            labelled.check_inside(self.width, self.height)

    @property
    def boxes(self) -> np.ndarray:
        """(n, 4) float64 xyxy."""
        return np.array([o.box for o in self.objects], dtype=np.float64).reshape(-1, 4)

    @property
    def object_types(self) -> list[str]:
        return [o.object_type for o in self.objects]

    def detections(self) -> sv.Detections:
        """The boxes as ``sv.Detections`` (no confidence): ``class_id`` the object type's index,
        ``data`` holds object_type and condition ("" where unknown)."""
        return labelled_to_detections(self.objects)


def labelled_to_detections(objects: tuple[LabelledBox, ...] | list[LabelledBox]) -> sv.Detections:
    import supervision as sv

    if not objects:
        return sv.Detections.empty()
    return sv.Detections(
        xyxy=np.array([o.box for o in objects], dtype=np.float64).reshape(-1, 4),
        class_id=np.array([OBJECT_TYPES.index(o.object_type) for o in objects], dtype=int),
        data={
            "object_type": np.array([o.object_type for o in objects]),
            "condition": np.array([o.condition or "" for o in objects]),
        },
    )


def labelled_from_detections(detections: sv.Detections) -> list[LabelledBox]:
    """The inverse of ``labelled_to_detections``; also takes a detector's output (object types
    from ``data["object_type"]``, or from ``class_id`` when absent; conditions unknown)."""
    types = detections.data.get("object_type")
    conditions = detections.data.get("condition")
    boxes = []
    for i in range(len(detections)):
        object_type = str(types[i]) if types is not None else OBJECT_TYPES[int(detections.class_id[i])]
        condition = str(conditions[i]) if conditions is not None and conditions[i] else None
        boxes.append(LabelledBox(tuple(float(v) for v in detections.xyxy[i]), object_type, condition))
    return boxes
