"""The gate's decision alone, on figures it is given and a difference it can resample: no model,
no store."""

import numpy as np
import pytest

from lifecycle.gate import FAILED, PASSED, TOO_FEW, Evidence, GateRule, bootstrap, decide

ENOUGH = Evidence(
    "60 held-out real objects on 20 photos",
    20,
    {"normal": 30, "blocked": 15, "damaged": 15},
    {"rock_toe": 20, "slope_drain": 20, "toe_drain": 20},
)


def per_photo(candidate: list[float], served: list[float]):
    """A difference that is the mean over the resampled photos of per-photo scores."""
    c, s = np.array(candidate), np.array(served)
    return lambda sample: float(c[sample].mean() - s[sample].mean())


def test_too_few_held_out_objects_are_not_judged_and_the_reasons_name_what_is_short():
    one = Evidence("1 held-out real object on 1 photo", 1, {"normal": 1, "blocked": 0, "damaged": 0}, {"rock_toe": 1})
    calls = []
    decision = decide(GateRule(), one, 1.0, 0.0, lambda s: calls.append(s) or 1.0, baseline=0.0, baseline_name="x")
    assert decision.verdict == TOO_FEW and not decision.passed
    assert not calls  # nothing resampled: there is nothing to resample
    assert decision.reasons[0].startswith("Too few to judge, not served")
    assert "photos: 1 of 10" in decision.reasons[0] and "blocked: 0 of 10" in decision.reasons[0]
    assert "rock toe: 1 of 10" in decision.reasons[0]


def test_an_identical_candidate_never_passes():
    scores = list(np.linspace(0.2, 0.9, 20))
    decision = decide(GateRule(), ENOUGH, 0.6, 0.6, per_photo(scores, scores), baseline=0.3, baseline_name="type prior")
    assert decision.verdict == FAILED
    assert (decision.interval.low, decision.interval.high) == (0.0, 0.0)
    assert "not shown better than the served model" in decision.reasons[0]
    assert "its lower end must be above 0" in decision.reasons[0]


def test_a_candidate_better_on_every_photo_passes_and_one_better_by_chance_does_not():
    rng = np.random.default_rng(0)
    served = list(rng.uniform(0.3, 0.6, 20))
    better = [s + 0.2 for s in served]
    decision = decide(GateRule(), ENOUGH, 0.65, 0.45, per_photo(better, served), baseline=0.3, baseline_name="p")
    assert decision.verdict == PASSED
    assert decision.interval.low > 0.15
    assert decision.reasons[0].startswith("Passed: better than the served model beyond chance")
    assert "95% interval over 1000 resamples of the 20 photos: +0.200 to +0.200" in decision.reasons[0]
    # Better on half the photos, worse on the other half: no better beyond chance.
    noisy = [s + (0.3 if i % 2 else -0.28) for i, s in enumerate(served)]
    decision = decide(GateRule(), ENOUGH, 0.46, 0.45, per_photo(noisy, served), baseline=0.3, baseline_name="p")
    assert decision.verdict == FAILED and decision.interval.low < 0 < decision.interval.high


def test_a_candidate_not_above_the_type_prior_fails_whatever_the_served_model():
    served = [0.1] * 20
    decision = decide(
        GateRule(), ENOUGH, 0.25, 0.1, per_photo([0.25] * 20, served), baseline=0.3, baseline_name="type prior"
    )
    assert decision.verdict == FAILED
    assert decision.reasons[0] == (
        "Failed: the candidate's macro-F1 (0.250) is not above the type prior's (0.300), which looks at no pixel."
    )
    assert decision.reasons[1] == (
        "Macro-F1 on 60 held-out real objects on 20 photos: candidate 0.250, served 0.100, type prior 0.300."
    )


def test_the_margin_is_what_the_lower_end_must_clear():
    served = [0.5] * 20
    better = [0.55] * 20
    assert decide(GateRule(margin=0.04), ENOUGH, 0.55, 0.5, per_photo(better, served)).passed
    assert not decide(GateRule(margin=0.06), ENOUGH, 0.55, 0.5, per_photo(better, served)).passed


def test_an_unmeasured_model_never_passes():
    decision = decide(GateRule(), ENOUGH, float("nan"), 0.5, lambda s: 1.0)
    assert decision.verdict == FAILED and "could not be measured" in decision.reasons[0]


def test_the_bootstrap_is_seeded_and_paired():
    difference = per_photo(list(np.linspace(0, 1, 30)), list(np.linspace(0, 1, 30)[::-1]))
    assert bootstrap(30, difference, 500, 0.9, 3) == bootstrap(30, difference, 500, 0.9, 3)
    assert bootstrap(30, difference, 500, 0.9, 3) != bootstrap(30, difference, 500, 0.9, 4)


@pytest.mark.parametrize(
    "rule, message",
    [
        ({"metric": "f2"}, "metric must be one of"),
        ({"margin": float("nan")}, "margin must be a number from 0"),
        ({"margin": -0.1}, "margin must be a number from 0"),  # "may be worse": never the gate's rule
        ({"min_photos": -1}, "min_photos must be a whole number"),
        ({"folds": 1}, "folds must be 0 or at least 2"),
        ({"resamples": 10}, "resamples at least 100"),
        ({"confidence": 1.0}, "confidence must be"),
    ],
)
def test_a_bad_rule_is_refused(rule, message):
    with pytest.raises(ValueError, match=message):
        GateRule(**rule)
