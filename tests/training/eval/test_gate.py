"""The evaluation gate: the type-prior baseline, the shared scorer, and the promotion rule, with
the shipped condition model on real labelled objects (no stubs)."""

from __future__ import annotations

import pytest
from PIL import Image

from core.conditions import ConditionModel
from core.settings import PROJECT_ROOT
from core.types import LabelledPhoto
from training.baselines.type_prior import BASELINE, baseline_report, type_prior_baseline, type_prior_confidence
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


def test_the_same_model_is_promoted_at_margin_zero_and_not_when_better_is_required(condition_model, split):
    # A second scorer around the same weights: both models are really scored, and agree.
    twin = ConditionModel.from_loaded(
        condition_model.model, condition_model.processor, condition_model.version, condition_model.crop_margin
    )
    twin.temperature = condition_model.temperature  # and the same calibration (from the card)
    decision = gate(twin, condition_model, split.held_out, split.train)
    assert decision.passed
    assert decision.candidate == decision.served
    assert decision.reasons[0].startswith("PASSED: candidate macro_f1")
    assert f"on {len(split.held_out)} held-out real objects" in decision.reasons[0]
    assert any(r.startswith("candidate accuracy") for r in decision.reasons)
    assert any("per condition" in r for r in decision.reasons)

    stricter = gate(condition_model, condition_model, split.held_out, split.train, margin=-0.01, metric="accuracy")
    assert not stricter.passed
    assert stricter.reasons[0].startswith("FAILED: candidate accuracy")
    assert "needs >= served + 0.01" in stricter.reasons[0]


def test_a_model_below_the_type_prior_is_reported(condition_model, val_photos):
    photos = [p for p in val_photos if p.name.startswith(DAMAGED_PHOTOS)]
    assert len(photos) == 2
    # Every object of these two photos is damaged and the model says so for most of them; called
    # "normal" here, the prior learned on these very examples is always right and the model is not.
    examples = [
        ConditionExample(Image.fromarray(c.crop), c.object_type, c.context, "normal")
        for c in crops_from_photos(photos, condition_model.crop_margin)
    ]
    decision = gate(condition_model, condition_model, examples, examples, metric="accuracy")
    assert decision.baseline.accuracy == 1.0
    assert decision.candidate.accuracy < decision.baseline.accuracy
    below = [r for r in decision.reasons if "not above the type-prior baseline" in r]
    assert len(below) == 2 and below[0].startswith("candidate accuracy")
    assert "rock_toe normal" in below[0]
    assert decision.reasons[0].endswith("(baseline 1.000)")
    assert "13 held-out examples" in decision.reasons[0]  # plain examples: not claimed to be real


def test_gate_refuses_a_bad_metric_or_no_held_out(condition_model, split):
    with pytest.raises(ValueError, match="metric"):
        gate(condition_model, condition_model, split.held_out, split.train, metric="ece")
    with pytest.raises(ValueError, match="held-out"):
        gate(condition_model, condition_model, [], split.train)
