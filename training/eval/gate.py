"""The evaluation gate, measured: the candidate, the served model and the type-prior baseline
scored on the same held-out real objects, then ``lifecycle.gate.decide`` says whether the
candidate may replace the served model (not worse on the metric) and why.

One scoring path: the models (``examples.evaluate_conditions``) and the baseline are scored by
``examples.score_answers`` on (truth, answer, confidence) lists.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.conditions import ConditionModel
from core.taxonomy import CONDITIONS
from lifecycle.gate import GateDecision, check_rule, decide
from training.baselines.type_prior import baseline_report, type_prior_baseline, type_prior_confidence
from training.data.examples import ConditionExample, evaluate_conditions


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
    check_rule(metric, margin)
    if not held_out:
        raise ValueError("no held-out examples: nothing to compare the models on")
    candidate_report = evaluate_conditions(candidate, held_out)
    # The same model object scores the same: no second pass (e.g. re-gating the served model).
    served_report = candidate_report if served is candidate else evaluate_conditions(served, held_out)
    prior = type_prior_baseline(train)
    base = baseline_report(prior, held_out, type_prior_confidence(train, prior))
    rule = "the most common condition per type: " + ", ".join(f"{t} {c}" for t, c in prior.items())
    return decide(
        candidate_report,
        served_report,
        base,
        conditions=CONDITIONS,
        held_out=_what(held_out),
        baseline_rule=rule,
        margin=margin,
        metric=metric,
    )
