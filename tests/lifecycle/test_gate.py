"""The gate's decision alone, on figures it is given: no model, no store."""

from dataclasses import dataclass, field

import pytest

from lifecycle.gate import decide


@dataclass
class Group:
    accuracy: float
    n: int


@dataclass
class Figures:
    accuracy: float
    macro_f1: float
    per_condition: dict = field(default_factory=lambda: {"normal": Group(0.5, 10), "damaged": Group(0.5, 6)})

    def to_dict(self) -> dict:
        return {"accuracy": self.accuracy, "macro_f1": self.macro_f1}


BASELINE = Figures(0.55, 0.30)


def judge(candidate, served, **rule):
    return decide(
        candidate,
        served,
        BASELINE,
        conditions=("normal", "blocked", "damaged"),
        held_out="40 held-out real objects",
        baseline_rule="rock_toe damaged",
        **rule,
    )


@pytest.mark.parametrize(
    "candidate, served, margin, passed",
    [
        (0.70, 0.70, 0.0, True),  # not worse is enough
        (0.69, 0.70, 0.0, False),
        (0.69, 0.70, 0.02, True),  # within the margin
        (0.71, 0.70, -0.02, False),  # must beat the served model by 0.02
        (0.73, 0.70, -0.02, True),
        (float("nan"), 0.70, 1.0, False),  # an unmeasured candidate never passes
    ],
)
def test_the_rule_is_metric_at_least_served_minus_margin(candidate, served, margin, passed):
    decision = judge(Figures(0.7, candidate), Figures(0.7, served), margin=margin)
    assert decision.passed is passed
    assert decision.reasons[0].startswith("PASSED" if passed else "FAILED")
    assert "on 40 held-out real objects (baseline 0.300)" in decision.reasons[0]


def test_the_reasons_say_when_a_model_does_not_beat_the_baseline():
    decision = judge(Figures(0.5, 0.25), Figures(0.6, 0.45), margin=1.0)
    assert decision.passed
    assert any(
        r.startswith("candidate macro_f1 0.250 is not above the type-prior baseline's 0.300 (rock_toe damaged)")
        for r in decision.reasons
    )
    assert (
        decision.reasons[2] == "accuracy per condition, candidate/served/baseline: "
        "normal 0.50/0.50/0.50 (n=10), damaged 0.50/0.50/0.50 (n=6)"
    )


@pytest.mark.parametrize(
    "rule, message", [({"metric": "f2"}, "metric must be one of"), ({"margin": float("inf")}, "finite")]
)
def test_a_bad_rule_is_refused(rule, message):
    with pytest.raises(ValueError, match=message):
        judge(Figures(0.7, 0.7), Figures(0.7, 0.7), **rule)
