"""The type prior: the baseline that looks at no pixel. Every object gets the most common
condition of its type in the train examples.

Why it matters: the real labels are skewed (rock toes are 70% damaged), so a model that answers
"damaged" for every rock toe scores well on accuracy while seeing nothing. A model that does
not beat the type prior has learned the skew, not the condition. Scored by the same
``score_answers`` as the models.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from core.taxonomy import ALLOWED_CONDITIONS
from training.data.examples import ConditionExample, ConditionReport, score_answers

BASELINE = "type-prior baseline"


def real_only(examples: Sequence[ConditionExample]) -> list[ConditionExample]:
    return [e for e in examples if not getattr(e, "synthesized", False) and not getattr(e, "repeat", False)]


def type_prior_baseline(train: Sequence[ConditionExample]) -> dict[str, str]:
    """The most common condition of each object type in ``train`` (ties: the first in the
    type's allowed order, so the answer never depends on example order). Types with a choice of
    conditions but no train example get "normal": the prior knows nothing of them.
    Synthesized examples and oversampling repeats (flagged on ``DatasetExample``) are skipped:
    the prior is that of the real labels, which evened-out repeats would hide."""
    train = real_only(train)
    counts = Counter((e.object_type, e.condition) for e in train)
    prior = {}
    for object_type, allowed in ALLOWED_CONDITIONS.items():
        if len(allowed) > 1:
            prior[object_type] = max(allowed, key=lambda c: (counts[(object_type, c)], -allowed.index(c)))
    return prior


def type_prior_confidence(train: Sequence[ConditionExample], prior: dict[str, str]) -> dict[str, float]:
    """The train share of each type's prior answer: the probability the baseline would state
    (1/number of allowed conditions for a type with no train example)."""
    train = real_only(train)
    by_type = Counter(e.object_type for e in train)
    counts = Counter((e.object_type, e.condition) for e in train)
    return {
        t: counts[(t, c)] / by_type[t] if by_type[t] else 1.0 / len(ALLOWED_CONDITIONS[t]) for t, c in prior.items()
    }


def baseline_report(
    prior: dict[str, str], held_out: Sequence[ConditionExample], confidence: dict[str, float] | None = None
) -> ConditionReport:
    """The figures of answering ``prior[object_type]`` for every held-out example, through the
    same scorer as the models. ``confidence`` per type (e.g. ``type_prior_confidence``) feeds
    the ECE; without it the baseline is taken as certain (ECE = 1 - accuracy)."""
    truth = [(e.object_type, e.condition) for e in held_out]
    answers = [(e.object_type, prior[e.object_type]) for e in held_out]
    stated = [confidence[e.object_type] if confidence else 1.0 for e in held_out]
    return score_answers(truth, answers, stated, model=BASELINE)


def type_prior_report(train: Sequence[ConditionExample], held_out: Sequence[ConditionExample]) -> ConditionReport:
    """The type prior fitted on ``train`` (its real examples) and scored on ``held_out``, with the
    train share of each answer as its confidence."""
    prior = type_prior_baseline(train)
    return baseline_report(prior, held_out, type_prior_confidence(train, prior))
