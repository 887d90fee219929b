"""The gate: may a candidate condition model replace the served one? Pure: it is given the
figures of the candidate, the served model and the type-prior baseline on the same held-out
real objects, and returns the decision with its reasons; the caller scores the models
(``training.eval.gate``), records the decision and promotes.

The rule: the candidate's metric must be at least the served model's minus ``margin`` (0: not
worse; negative: better by that much). The baseline never decides, it is reported beside both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

METRICS = ("macro_f1", "accuracy")  # higher is better for both


class GroupFigures(Protocol):
    accuracy: float
    n: int


class Report(Protocol):
    """What the gate reads of a model's figures (``training.data.examples.ConditionReport``)."""

    accuracy: float
    macro_f1: float
    per_condition: dict[str, GroupFigures]

    def to_dict(self) -> dict: ...


@dataclass(frozen=True)
class GateDecision:
    candidate: Report
    served: Report
    baseline: Report
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


def check_rule(metric: str, margin: float) -> None:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if not math.isfinite(margin):
        raise ValueError(f"margin must be a finite number, got {margin!r}")


def decide(
    candidate: Report,
    served: Report,
    baseline: Report,
    *,
    conditions: tuple[str, ...],
    held_out: str,
    baseline_rule: str,
    margin: float = 0.0,
    metric: str = "macro_f1",
) -> GateDecision:
    """The decision on figures measured on ``held_out`` (e.g. "230 held-out real objects").
    ``baseline_rule`` says what the baseline answers, for the reasons; ``conditions`` orders
    the per-condition line."""
    check_rule(metric, margin)
    new, old = getattr(candidate, metric), getattr(served, metric)
    passed = bool(math.isfinite(new) and math.isfinite(old) and new >= old - margin)
    verdict = "PASSED" if passed else "FAILED"
    rule = f"needs >= served - {margin:g}" if margin >= 0 else f"needs >= served + {-margin:g}"
    reasons = [
        f"{verdict}: candidate {metric} {new:.3f} vs served {old:.3f} ({rule}) on {held_out} "
        f"(baseline {getattr(baseline, metric):.3f})"
    ]
    for name in METRICS:
        if name != metric:
            reasons.append(
                f"candidate {name} {getattr(candidate, name):.3f} vs served "
                f"{getattr(served, name):.3f} (baseline {getattr(baseline, name):.3f})"
            )
    per_condition = [
        f"{c} {candidate.per_condition[c].accuracy:.2f}/{served.per_condition[c].accuracy:.2f}/"
        f"{baseline.per_condition[c].accuracy:.2f} (n={baseline.per_condition[c].n})"
        for c in conditions
        if c in baseline.per_condition
    ]
    reasons.append("accuracy per condition, candidate/served/baseline: " + ", ".join(per_condition))
    for who, report in (("candidate", candidate), ("served", served)):
        if getattr(report, metric) <= getattr(baseline, metric):
            reasons.append(
                f"{who} {metric} {getattr(report, metric):.3f} is not above the type-prior baseline's "
                f"{getattr(baseline, metric):.3f} ({baseline_rule})"
            )
    return GateDecision(candidate, served, baseline, metric, float(margin), passed, reasons)
