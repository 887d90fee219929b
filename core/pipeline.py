"""The inspection pipeline: detect -> relate -> classify conditions -> ``Inspection``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import supervision as sv
from PIL import Image

from core.conditions import ConditionModel
from core.detector import Detector
from core.settings import Settings
from core.spatial import ObjectContext, relations
from core.taxonomy import class_name


@dataclass(frozen=True)
class Finding:
    box_xyxy: tuple[float, float, float, float]  # pixels of the inspected photo
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

    def detections(self) -> sv.Detections:
        """The findings as ``sv.Detections`` (for drawing), extras in ``data``."""
        if not self.findings:
            return sv.Detections.empty()
        return sv.Detections(
            xyxy=np.array([f.box_xyxy for f in self.findings], dtype=np.float32),
            confidence=np.array([f.confidence for f in self.findings], dtype=np.float32),
            class_id=np.arange(len(self.findings)),
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
        }


class Inspector:
    """Holds the loaded models; build it once per process and reuse it."""

    def __init__(self, detector: Detector, condition_model: ConditionModel) -> None:
        self.detector = detector
        self.condition_model = condition_model

    @classmethod
    def from_settings(cls, settings: Settings) -> Inspector:
        detector = Detector(
            settings.detector_model,
            conf=settings.detector_conf,
            iou=settings.detector_iou,
            imgsz=settings.detector_imgsz,
            device=settings.device,
        )
        condition_model = ConditionModel(
            settings.condition_model, device=settings.device, crop_margin=settings.crop_margin
        )
        return cls(detector, condition_model)

    @property
    def models(self) -> dict[str, str]:
        return {"detector": self.detector.version, "condition": self.condition_model.version}

    def inspect(self, image: Image.Image, conf: float | None = None) -> Inspection:
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        detections = self.detector.detect(image, conf=conf)
        timings["detect"] = _lap(clock)

        clock = time.perf_counter()
        object_types = [str(t) for t in detections.data.get("object_type", [])]
        contexts = relations(detections.xyxy, object_types, image.size)
        timings["relate"] = _lap(clock)

        clock = time.perf_counter()
        probabilities = self.condition_model.classify(
            image, detections.xyxy, object_types, [c.describe() for c in contexts]
        )
        timings["classify"] = _lap(clock)
        timings["total"] = sum(timings.values())

        findings = tuple(
            Finding(
                box_xyxy=tuple(float(v) for v in detections.xyxy[i]),
                object_type=object_types[i],
                confidence=float(detections.confidence[i]),
                condition=max(probabilities[i], key=probabilities[i].get),
                condition_probs=probabilities[i],
                context=contexts[i],
            )
            for i in range(len(detections))
        )
        return Inspection(image.width, image.height, findings, self.models, timings)


def _lap(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
