"""The evaluation gate, measured: the candidate, the served model and the type prior answer the
same held-out real objects (a detector: find the boxes of the same held-out photos), then
``lifecycle.gate.decide`` says whether the candidate may replace the served model, and why.

The gate reads answers, not models: answers pooled over the folds of a cross-validation by photo
(``HeldOutAnswers.joined``) are judged exactly as one split's. Every resample of the bootstrap
scores both models on the same photos with the one scorer (``training.eval.metrics``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import supervision as sv

from core.conditions import ConditionModel
from core.detector import Detector
from core.images import load_stored_image
from core.taxonomy import ALLOWED_CONDITIONS, CLASS_NAMES, CONDITIONS, class_name, counted
from core.types import LabelledPhoto
from lifecycle.gate import Evidence, GateDecision, GateRule, decide
from training.baselines.type_prior import type_prior_baseline
from training.data.examples import ConditionExample, Pair, model_answers
from training.eval.evaluate import AP_CONF, by_object_type
from training.eval.metrics import classification_report, map50

PRIOR = "type prior"
LABELS = [c for c in CLASS_NAMES if not c.startswith("vegetation")]


@dataclass(frozen=True)
class HeldOutAnswers:
    """Per held-out object: its photo, the truth, and the answers of the candidate, the served
    model and the type prior (fitted on the train objects of the same fold)."""

    photos: tuple[str, ...]
    truth: tuple[Pair, ...]
    candidate: tuple[Pair, ...]
    served: tuple[Pair, ...]
    prior: tuple[Pair, ...]

    def joined(self, other: HeldOutAnswers) -> HeldOutAnswers:
        """Both folds' answers (each object is held out in one fold only)."""
        return HeldOutAnswers(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


def held_out_answers(
    candidate: ConditionModel,
    served: ConditionModel,
    held_out: Sequence[ConditionExample],
    train: Sequence[ConditionExample],
) -> HeldOutAnswers:
    """The three answers to each of ``held_out``; the type prior is fitted on ``train``'s real
    examples."""
    if not held_out:
        raise ValueError("no held-out examples: nothing to compare the models on")
    truth, answers, _ = model_answers(candidate, held_out)
    served_answers = answers if served is candidate else model_answers(served, held_out)[1]
    prior = type_prior_baseline(train)
    return HeldOutAnswers(
        tuple(getattr(e, "photo", "") or f"example {i}" for i, e in enumerate(held_out)),
        tuple(truth),
        tuple(answers),
        tuple(served_answers),
        tuple((e.object_type, prior[e.object_type]) for e in held_out),
    )


def _names(answers: Sequence[Pair]) -> np.ndarray:
    return np.array([class_name(*a) for a in answers])


def _score(metric: str, truth: np.ndarray, answers: np.ndarray) -> float:
    """``metric`` of 9-class names ``answers`` against ``truth`` (the one scorer, scikit-learn's)."""
    return classification_report(truth, answers, LABELS)[metric]


def evidence(photos: Sequence[str], truth: Sequence[Pair], what: str) -> Evidence:
    """The photos, and the objects per condition and per object type, of objects on ``photos``
    with conditions ``truth``."""
    by_condition, by_type = Counter(c for _, c in truth), Counter(t for t, _ in truth)
    return Evidence(
        f"{len(truth)} {what} on {counted(len(set(photos)), 'photo')}",
        len(set(photos)),
        {c: by_condition.get(c, 0) for c in CONDITIONS},
        {t: by_type.get(t, 0) for t, allowed in ALLOWED_CONDITIONS.items() if len(allowed) > 1},
    )


def judge_conditions(answers: HeldOutAnswers, rule: GateRule, description: str) -> GateDecision:
    """The verdict on the answers: minimums per condition and per object type, then above the
    type prior, then the bootstrap over the held-out photos. ``description`` says what the
    objects are ("real objects", "objects of 5 folds by photo")."""
    photo_names = sorted(set(answers.photos))
    objects_of = [np.array([i for i, p in enumerate(answers.photos) if p == name]) for name in photo_names]
    truth, candidate, served, prior = (
        _names(getattr(answers, who)) for who in ("truth", "candidate", "served", "prior")
    )

    def difference(sample: np.ndarray) -> float:
        rows = np.concatenate([objects_of[i] for i in sample])
        return _score(rule.metric, truth[rows], candidate[rows]) - _score(rule.metric, truth[rows], served[rows])

    return decide(
        rule,
        evidence(answers.photos, answers.truth, f"held-out {description}"),
        _score(rule.metric, truth, candidate),
        _score(rule.metric, truth, served),
        difference,
        baseline=_score(rule.metric, truth, prior),
        baseline_name=PRIOR,
        details=[_per_condition(answers)],
    )


def _per_condition(answers: HeldOutAnswers) -> str:
    parts = []
    for condition in CONDITIONS:
        rows = [i for i, (_, c) in enumerate(answers.truth) if c == condition]
        if rows:
            right = [
                np.mean([getattr(answers, who)[i] == answers.truth[i] for i in rows])
                for who in ("candidate", "served", "prior")
            ]
            parts.append(f"{condition} " + " / ".join(f"{r:.2f}" for r in right) + f" of {len(rows)}")
    return "Accuracy per condition, candidate / served / type prior: " + ", ".join(parts) + "."


def gate(
    candidate: ConditionModel,
    served: ConditionModel,
    held_out: Sequence[ConditionExample],
    train: Sequence[ConditionExample],
    rule: GateRule | None = None,
) -> GateDecision:
    """One split's verdict: ``candidate`` against ``served`` on ``held_out``, the type prior
    fitted on ``train``."""
    real = all(getattr(e, "synthesized", None) is False for e in held_out)
    answers = held_out_answers(candidate, served, held_out, train)
    return judge_conditions(answers, rule or GateRule(), "real objects" if real else "examples")


# ------------------------------------------------------------------ detector


def _predictions(detector: Detector, photos: Sequence[LabelledPhoto]) -> list[sv.Detections]:
    return [by_object_type(detector.detect(load_stored_image(p.path), conf=AP_CONF)) for p in photos]


def gate_detector(
    candidate: Detector, served: Detector, photos: Sequence[LabelledPhoto], rule: GateRule
) -> GateDecision:
    """mAP@0.5 of both detectors on the held-out reviewed ``photos``, the bootstrap over them.
    There is no free baseline for boxes: the served detector is the one to beat."""
    truths = [p.detections() for p in photos]
    found, before = _predictions(candidate, photos), _predictions(served, photos)

    def difference(sample: np.ndarray) -> float:
        chosen = [truths[i] for i in sample]
        return map50([found[i] for i in sample], chosen) - map50([before[i] for i in sample], chosen)

    boxes = sum(len(t) for t in truths)
    evidence = Evidence(f"{boxes} reviewed boxes on {len(photos)} held-out photos", len(photos))
    return decide(rule, evidence, map50(found, truths), map50(before, truths), difference)
