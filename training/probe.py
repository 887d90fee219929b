"""The probe baseline: frozen EfficientNet-Lite0 crop features + logistic regression.

What a practitioner tries first when a few hundred labelled crops exist: pretrained features, a
linear classifier. It answers a condition among those allowed for the object's type, from the crop
features and the object type, and is scored by the same code as the condition models, so its
figures sit beside theirs and the type prior's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.taxonomy import ALLOWED_CONDITIONS, CONDITIONS, OBJECT_TYPES
from training.backbone import CropFeatures
from training.examples import ConditionExample, ConditionReport, score_answers
from training.gate import real_only

PROBE = "efficientnet-lite0 features + logistic regression"


class ProbeBaseline:
    """Fit on train examples, answer held-out ones. ``features`` is shared across folds, since
    loading the backbone costs more than fitting."""

    def __init__(self, features: CropFeatures | None = None, c: float = 0.5, balanced: bool = True) -> None:
        self.features = features or CropFeatures()
        self.c, self.balanced = c, balanced

    def _inputs(self, examples: Sequence[ConditionExample]) -> np.ndarray:
        pooled = self.features([np.asarray(e.crop.convert("RGB")) for e in examples])
        types = np.array([[e.object_type == t for t in OBJECT_TYPES] for e in examples], dtype=np.float32)
        return np.hstack([pooled, types])

    def fit(self, train: Sequence[ConditionExample]) -> ProbeBaseline:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        real = real_only(train)  # a fit on oversampling repeats or synthesized crops is not the baseline's
        self.classifier = make_pipeline(
            StandardScaler(),
            LogisticRegression(C=self.c, max_iter=2000, class_weight="balanced" if self.balanced else None),
        )
        self.classifier.fit(self._inputs(real), [e.condition for e in real])
        return self

    def report(self, held_out: Sequence[ConditionExample]) -> ConditionReport:
        """Scored like a condition model: the most probable condition allowed for the type."""
        probabilities = self.classifier.predict_proba(self._inputs(held_out))
        classes = list(self.classifier.classes_)
        truth, answers, confidence = [], [], []
        for example, row in zip(held_out, probabilities, strict=True):
            allowed = [c for c in ALLOWED_CONDITIONS[example.object_type] if c in classes]
            weights = {c: row[classes.index(c)] for c in allowed} or {CONDITIONS[0]: 1.0}
            total = sum(weights.values()) or 1.0
            best = max(weights, key=weights.get)
            truth.append((example.object_type, example.condition))
            answers.append((example.object_type, best))
            confidence.append(weights[best] / total)
        return score_answers(truth, answers, confidence, model=PROBE)
