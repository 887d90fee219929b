"""The inspection pipeline: detect -> relate -> classify conditions -> ``Inspection``."""

from __future__ import annotations

import threading
import time

from PIL import Image

from core.conditions import ConditionModel
from core.detector import Detector
from core.settings import Settings
from core.spatial import relations
from core.types import Finding, Inspection


class Inspector:
    """Holds the loaded models; build it once per process and reuse it."""

    def __init__(self, detector: Detector, condition_model: ConditionModel) -> None:
        self.detector = detector
        self.condition_model = condition_model
        # The models answer one photo at a time: ultralytics' predictor and the tokenizer's
        # padding state are not safe to share between threads. What callers do around them
        # (drawing, storing, reports) runs in parallel.
        self._models_busy = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Inspector:
        """The models the settings name (the shipped defaults unless configured)."""
        return cls.from_folders(settings, settings.detector_model, settings.condition_model)

    @classmethod
    def from_folders(cls, settings: Settings, detector_model: str, condition_model: str) -> Inspector:
        """These two models, with the device and thresholds of ``settings``."""
        detector = Detector(
            detector_model,
            conf=settings.detector_conf,
            iou=settings.detector_iou,
            imgsz=settings.detector_imgsz or None,
            device=settings.device,
            threads=settings.model_threads,
        )
        if settings.model_threads:
            import torch

            torch.set_num_threads(settings.model_threads)  # the condition model's (and the process's)
        return cls(detector, ConditionModel(condition_model, device=settings.device))

    @property
    def models(self) -> dict[str, str]:
        return {"detector": self.detector.version, "condition": self.condition_model.version}

    def inspect(self, image: Image.Image, conf: float | None = None) -> Inspection:
        timings: dict[str, float] = {}
        with self._models_busy:
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
