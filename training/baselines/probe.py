"""The probe baseline: frozen EfficientNet-Lite0 crop features + logistic regression.

What a practitioner tries first when a few hundred labelled crops exist: pretrained features, a
linear classifier. It answers a condition among those allowed for the object's type and is scored
by the same code as the condition models, so its figures sit beside theirs and the type prior's.

Its inputs, chosen by photo-level 5-fold cross-validation on the 217 photos of
../shared/data/slope-conditions (accuracy, mean over the same folds as ``slope train
crossval``; type prior 0.559):
- the object cut tight (margin 0.1) and in its surroundings (margin 1.0), each resized to 112 px
  (tight crop alone at 224 px 0.682, both crops 0.698; both at 112 px 0.722 ± 0.044, level with
  224 px and a quarter of its cost; averaging each crop with its mirror added nothing at 112 px);
- the object type, its third of the photo and its relations to the objects near it, as 0/1
  values (at 224 px: 0.715 with them, 0.710 without, within the folds' spread);
- strong regularisation, C 0.05 (C 0.5 gave 0.655 with the tight crop): 2,600 inputs, ~900
  objects to fit on.
About 20 settings were compared on the same folds, so these figures are mildly optimistic.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from core.conditions import crop_bounds
from core.spatial import RELATION_PHRASES, ObjectContext
from core.taxonomy import ALLOWED_CONDITIONS, CONDITIONS, OBJECT_TYPES
from core.types import LabelledPhoto
from training.backbone import CropFeatures
from training.data.examples import ConditionReport, objects_with_a_choice, score_answers

PROBE = "efficientnet-lite0 features + logistic regression"
MARGINS = (0.1, 1.0)  # the object alone, the object in its surroundings
BANDS = tuple(f"{v}-{h}" for v in ("top", "middle", "bottom") for h in ("left", "center", "right"))
PLACES = tuple((relation, other) for relation in RELATION_PHRASES for other in OBJECT_TYPES)
REGULARISATION = 0.05  # LogisticRegression's C
CROP_SIZE = 112  # px the crops are resized to for the backbone


@dataclass(frozen=True)
class ProbeObject:
    """A labelled object as the probe sees it: its crops at ``MARGINS`` and where it is."""

    views: tuple[np.ndarray, ...]  # (H, W, 3) uint8, one per margin
    object_type: str
    where: ObjectContext
    condition: str | None  # None: unlabelled (a teacher's input, see training.condition.teacher)


def probe_objects(photos: Sequence[LabelledPhoto]) -> Iterator[ProbeObject]:
    """Every object with a known condition and a choice of conditions (vegetation has none).
    A box too small to crop is skipped, as the condition examples skip it."""
    for image, labelled, where in objects_with_a_choice(photos):
        if labelled.condition is None:
            continue
        try:
            bounds = [crop_bounds(image.size, labelled.box, margin) for margin in MARGINS]
        except ValueError:
            continue
        views = tuple(np.asarray(image.crop(b)) for b in bounds)
        yield ProbeObject(views, labelled.object_type, where, labelled.condition)


def place_features(item: ProbeObject) -> np.ndarray:
    """Type, photo third and relations (relation x other type) as 0/1 values."""
    found = {(r.relation, r.other_type) for r in item.where.relations}
    return np.array(
        [item.object_type == t for t in OBJECT_TYPES]
        + [item.where.band == b for b in BANDS]
        + [place in found for place in PLACES],
        dtype=np.float32,
    )


class ProbeBaseline:
    """Fit on train photos, answer held-out ones. ``features`` is shared across folds, since
    loading the backbone and computing crop features costs more than fitting."""

    def __init__(self, features: CropFeatures | None = None, c: float = REGULARISATION) -> None:
        self.features = features or CropFeatures(CROP_SIZE)
        self.c = c

    def _inputs(self, objects: Sequence[ProbeObject]) -> np.ndarray:
        columns = [self.features([item.views[margin] for item in objects]) for margin in range(len(MARGINS))]
        columns.append(np.stack([place_features(item) for item in objects]))
        return np.hstack(columns)

    def fit(self, photos: Sequence[LabelledPhoto]) -> ProbeBaseline:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        objects = list(probe_objects(photos))
        if not objects:
            raise ValueError("no object with a known condition to fit the probe on")
        self.classifier = make_pipeline(
            StandardScaler(), LogisticRegression(C=self.c, max_iter=3000, class_weight="balanced")
        )
        self.classifier.fit(self._inputs(objects), [item.condition for item in objects])
        return self

    def probabilities(self, objects: Sequence[ProbeObject]) -> np.ndarray:
        """[objects, conditions]: its probabilities over ``CONDITIONS`` (0 for a condition absent
        from the photos it was fitted on), as ``FineTunedCnnBaseline.probabilities`` gives them."""
        if not objects:
            return np.zeros((0, len(CONDITIONS)), np.float32)
        fitted = self.classifier.predict_proba(self._inputs(objects))
        classes = list(self.classifier.classes_)
        columns = [fitted[:, classes.index(c)] if c in classes else np.zeros(len(objects)) for c in CONDITIONS]
        return np.stack(columns, axis=1)

    def report(self, photos: Sequence[LabelledPhoto]) -> ConditionReport:
        objects = list(probe_objects(photos))
        return report_from_probabilities(objects, self.probabilities(objects), model=PROBE)


def report_from_probabilities(
    objects: Sequence[ProbeObject], probabilities: Sequence[Sequence[float]], model: str
) -> ConditionReport:
    """Scored like a condition model: for each object, the most probable condition (columns of
    ``probabilities``: ``CONDITIONS``) that its type allows, renormalised among those."""
    truth, answers, confidence = [], [], []
    for item, row in zip(objects, probabilities, strict=True):
        weights = {c: row[CONDITIONS.index(c)] for c in ALLOWED_CONDITIONS[item.object_type]}
        total = sum(weights.values()) or 1.0
        best = max(weights, key=weights.get)
        truth.append((item.object_type, item.condition))
        answers.append((item.object_type, best))
        confidence.append(weights[best] / total)
    return score_answers(truth, answers, confidence, model=model)
