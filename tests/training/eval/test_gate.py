"""The evaluation gate: the type-prior baseline, the shared scorer, and the verdict, with the
shipped condition model (and a random-weight one) on real labelled objects (no stubs)."""

from __future__ import annotations

import pytest
from PIL import Image

from core.conditions import ConditionModel
from core.settings import PROJECT_ROOT
from core.types import LabelledPhoto
from lifecycle.gate import FAILED, PASSED, TOO_FEW, GateRule
from training.baselines.type_prior import BASELINE, baseline_report, type_prior_baseline, type_prior_confidence
from training.condition.tiny_qwen2vl import build_model
from training.data.condition_data import DatasetSettings, build_condition_dataset
from training.data.dataset import from_yolo_folder
from training.data.examples import ConditionExample, crops_from_photos, score_answers
from training.eval.gate import gate

CONDITIONS_DATA = PROJECT_ROOT.parent / "shared" / "data" / "slope-conditions"
# Two val photos whose objects are mostly damaged (6 rock toes, 3 of 5 slope drains): a model
# that answers "normal" by habit falls below the most-common-condition baseline here.
DAMAGED_PHOTOS = ("Lagoon2and3_B0_41_V_jpg", "Lagoon2and3_R5_143_V_jpg")


def example(object_type: str, condition: str) -> ConditionExample:
    return ConditionExample(Image.new("RGB", (4, 4)), object_type, "", condition)


@pytest.fixture(scope="module")
def val_photos() -> list[LabelledPhoto]:
    return from_yolo_folder(CONDITIONS_DATA, "val")


@pytest.fixture(scope="module")
def split(val_photos):
    return build_condition_dataset(val_photos, DatasetSettings(held_out_fraction=0.4, oversample=False))


def test_type_prior_on_hand_made_examples():
    train = [
        example("rock_toe", "damaged"),
        example("rock_toe", "normal"),
        example("rock_toe", "damaged"),
        example("slope_drain", "blocked"),
        example("slope_drain", "normal"),  # a tie: the first allowed condition wins
    ]
    prior = type_prior_baseline(train)
    assert prior == {"rock_toe": "damaged", "slope_drain": "normal", "toe_drain": "normal"}  # toe drain: unseen
    assert type_prior_baseline(list(reversed(train))) == prior
    assert type_prior_confidence(train, prior) == pytest.approx(
        {"rock_toe": 2 / 3, "slope_drain": 1 / 2, "toe_drain": 1 / 3}
    )


def test_type_prior_ignores_repeats_and_synthesized_examples(val_photos):
    settings = {"held_out_fraction": 0.4, "synthesized_per_real": 1.0}
    evened = build_condition_dataset(val_photos, DatasetSettings(oversample=True, **settings))
    real = build_condition_dataset(val_photos, DatasetSettings(oversample=False, **settings))
    assert any(e.repeat for e in evened.train)
    real_only = [e for e in real.train if not e.synthesized]
    assert type_prior_baseline(evened.train) == type_prior_baseline(real_only)
    assert type_prior_confidence(evened.train, type_prior_baseline(evened.train)) == pytest.approx(
        type_prior_confidence(real_only, type_prior_baseline(real_only))
    )


def test_baseline_report_on_hand_made_examples():
    prior = {"rock_toe": "damaged", "slope_drain": "normal", "toe_drain": "blocked"}
    held_out = [
        example("rock_toe", "damaged"),  # right
        example("rock_toe", "normal"),  # wrong
        example("slope_drain", "normal"),  # right
        example("toe_drain", "damaged"),  # wrong
    ]
    report = baseline_report(prior, held_out)
    assert report.model == BASELINE and report.examples == 4
    assert report.accuracy == pytest.approx(0.5)
    # per class F1: rock_toe_damaged 2/3, rock_toe 0, slope_drain 1, toe_drain_damaged 0
    assert report.macro_f1 == pytest.approx((2 / 3 + 0 + 1 + 0) / 4)
    assert report.per_condition["normal"].accuracy == pytest.approx(0.5)
    assert report.per_condition["damaged"].accuracy == pytest.approx(0.5)
    assert report.per_object_type["rock_toe"].accuracy == pytest.approx(0.5)
    assert report.ece == pytest.approx(0.5)  # stated certain, right half the time


def test_score_answers_refuses_lists_of_different_lengths():
    with pytest.raises(ValueError, match="truths"):
        score_answers([("rock_toe", "normal")], [], [], "m")


# Minimums these few val photos meet: these tests are about what the gate decides above them.
LOW = GateRule(min_photos=2, min_per_condition=1, min_per_type=1)


def test_a_candidate_identical_to_the_served_model_never_passes(condition_model, split):
    # A second scorer around the same weights: both models are really scored, and agree.
    twin = ConditionModel.from_loaded(
        condition_model.model, condition_model.processor, condition_model.version, condition_model.crop_margin
    )
    twin.temperature = condition_model.temperature  # and the same calibration (from the card)
    decision = gate(twin, condition_model, split.held_out, split.train, LOW)
    assert decision.verdict == FAILED
    assert decision.candidate == decision.served and decision.candidate > decision.baseline
    assert decision.reasons[0].startswith("Failed: not shown better than the served model")
    photos = len(split.held_out_photos)
    assert f"on {len(split.held_out)} held-out real objects on {photos} photos" in decision.reasons[1]
    assert decision.reasons[2].startswith("Accuracy per condition, candidate / served / type prior: normal")


def test_a_clearly_better_candidate_passes(condition_model, split):
    """The shipped model against the same architecture with random weights, as if it served."""
    random = ConditionModel.from_loaded(
        build_model(condition_model.processor, seed=1), condition_model.processor, "random", condition_model.crop_margin
    )
    decision = gate(condition_model, random, split.held_out, split.train, LOW)
    assert decision.verdict == PASSED, decision.report()
    assert decision.interval.low > 0
    reverse = gate(random, condition_model, split.held_out, split.train, LOW)
    assert reverse.verdict == FAILED


def test_one_held_out_object_is_too_few_to_judge(condition_model, split):
    decision = gate(condition_model, condition_model, split.held_out[:1], split.train)
    assert decision.verdict == TOO_FEW and not decision.passed
    assert decision.reasons[0].startswith("Too few to judge, not served")
    assert decision.interval is None


def test_a_model_below_the_type_prior_fails(condition_model, val_photos):
    photos = [p for p in val_photos if p.name.startswith(DAMAGED_PHOTOS)]
    assert len(photos) == 2
    # Every object of these two photos is damaged and the model says so for most of them; called
    # "normal" here, the prior learned on these very examples is always right and the model is not.
    examples = [
        ConditionExample(Image.fromarray(c.crop), c.object_type, c.context, "normal")
        for c in crops_from_photos(photos, condition_model.crop_margin)
    ]
    rule = GateRule(metric="accuracy", min_photos=1, min_per_condition=0, min_per_type=0)
    decision = gate(condition_model, condition_model, examples, examples, rule)
    assert decision.baseline == 1.0 and decision.candidate < 1.0
    assert decision.verdict == FAILED
    assert "is not above the type prior's (1.000)" in decision.reasons[0]
    assert "13 held-out examples" in decision.reasons[1]  # plain examples: not claimed to be real


def test_gate_refuses_no_held_out(condition_model, split):
    with pytest.raises(ValueError, match="held-out"):
        gate(condition_model, condition_model, [], split.train)
