"""The evaluation gate: a candidate condition model replaces the served one only if it is not
worse on the same held-out real objects, and every figure is set beside a baseline that looks
at no pixel (the most common condition of each object type in the train examples).

Why a baseline: the real labels are skewed (rock toes are 70% damaged), so a model that
answers "damaged" for every rock toe scores well on accuracy while seeing nothing. A candidate
that does not beat the type prior has learned the skew, not the condition.

One scoring path: the models (``examples.evaluate_conditions``) and the baseline are scored by
``examples.score_answers`` on (truth, answer, confidence) lists.

Pure: no store, no files. The caller records the decision and promotes in the registry.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from core.conditions import ConditionModel
from core.taxonomy import ALLOWED_CONDITIONS, CONDITIONS
from training.data.examples import (
    ConditionExample,
    ConditionReport,
    evaluate_conditions,
    score_answers,
)

BASELINE = "type-prior baseline"
METRICS = ("macro_f1", "accuracy")  # higher is better for both


# ------------------------------------------------------------------ the baseline


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


# ------------------------------------------------------------------ the gate


@dataclass(frozen=True)
class GateDecision:
    candidate: ConditionReport
    served: ConditionReport
    baseline: ConditionReport
    metric: str
    margin: float
    passed: bool  # the candidate may replace the served model
    reasons: list[str]  # human-readable, first the decision

    def to_dict(self) -> dict:
        return {
            "metric": self.metric,
            "margin": self.margin,
            "passed": self.passed,
            "reasons": list(self.reasons),
            "candidate": self.candidate.to_dict(),
            "served": self.served.to_dict(),
            "baseline": self.baseline.to_dict(),
        }


def _what(held_out: Sequence[ConditionExample]) -> str:
    """'230 held-out real objects' where the examples say they are real (``DatasetExample``)."""
    flags = [getattr(e, "synthesized", None) for e in held_out]
    if all(f is False for f in flags):
        kind = "real objects"
    elif all(f is True for f in flags):
        kind = "SYNTHESIZED examples"
    elif any(f is True for f in flags):
        kind = f"examples ({sum(f is True for f in flags)} SYNTHESIZED)"
    else:
        kind = "examples"
    return f"{len(held_out)} held-out {kind}"


def gate(
    candidate: ConditionModel,
    served: ConditionModel,
    held_out: Sequence[ConditionExample],
    train: Sequence[ConditionExample],
    margin: float = 0.0,
    metric: str = "macro_f1",
) -> GateDecision:
    """Promote ``candidate`` only if its ``metric`` on ``held_out`` is at least the served
    model's minus ``margin`` (0: not worse; negative: must be better by that much). ``train``
    gives the type-prior baseline, reported beside both (it does not decide)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if not math.isfinite(margin):
        raise ValueError(f"margin must be a finite number, got {margin!r}")
    if not held_out:
        raise ValueError("no held-out examples: nothing to compare the models on")
    candidate_report = evaluate_conditions(candidate, held_out)
    # The same model object scores the same: no second pass (e.g. re-gating the served model).
    served_report = candidate_report if served is candidate else evaluate_conditions(served, held_out)
    prior = type_prior_baseline(train)  # named in the verdict's reasons below
    base = baseline_report(prior, held_out, type_prior_confidence(train, prior))

    new, old = getattr(candidate_report, metric), getattr(served_report, metric)
    passed = bool(math.isfinite(new) and math.isfinite(old) and new >= old - margin)
    verdict = "PASSED" if passed else "FAILED"
    rule = f"needs >= served - {margin:g}" if margin >= 0 else f"needs >= served + {-margin:g}"
    reasons = [
        f"{verdict}: candidate {metric} {new:.3f} vs served {old:.3f} ({rule}) on {_what(held_out)} "
        f"(baseline {getattr(base, metric):.3f})"
    ]
    for name in METRICS:
        if name != metric:
            reasons.append(
                f"candidate {name} {getattr(candidate_report, name):.3f} vs served "
                f"{getattr(served_report, name):.3f} (baseline {getattr(base, name):.3f})"
            )
    per_condition = [
        f"{c} {candidate_report.per_condition[c].accuracy:.2f}/{served_report.per_condition[c].accuracy:.2f}/"
        f"{base.per_condition[c].accuracy:.2f} (n={base.per_condition[c].n})"
        for c in CONDITIONS
        if c in base.per_condition
    ]
    reasons.append("accuracy per condition, candidate/served/baseline: " + ", ".join(per_condition))
    for who, report in (("candidate", candidate_report), ("served", served_report)):
        if getattr(report, metric) <= getattr(base, metric):
            reasons.append(
                f"{who} {metric} {getattr(report, metric):.3f} is not above the type-prior baseline's "
                f"{getattr(base, metric):.3f} (the most common condition per type: "
                + ", ".join(f"{t} {c}" for t, c in prior.items())
                + ")"
            )
    return GateDecision(candidate_report, served_report, base, metric, float(margin), passed, reasons)
