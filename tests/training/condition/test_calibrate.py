"""Temperature scaling: the fit recovers a known temperature, and a calibrated candidate of the
shipped condition model keeps its weights and answers while its probabilities follow the card."""

import hashlib

import numpy as np
import pytest

from core.conditions import ConditionModel, condition_prompt
from core.model_card import read_card
from core.taxonomy import ALLOWED_CONDITIONS
from tests.training.condition.test_finetune import PARENT, real_examples
from training.condition.calibrate import calibrate, calibrated_candidate, fit_temperature

pytestmark = pytest.mark.slow  # real training, subprocesses or a browser: `pytest -m "not slow"` skips them


def test_the_fit_finds_the_temperature_that_made_the_scores_overconfident():
    rng = np.random.default_rng(0)
    honest = rng.normal(0, 1.5, size=(4000, 3))  # logits whose softmax is the truth's distribution
    probabilities = np.exp(honest) / np.exp(honest).sum(axis=1, keepdims=True)
    truth = [int(rng.choice(3, p=p)) for p in probabilities]
    overconfident = list(honest * 3.0)  # a model three times too sure
    assert fit_temperature(overconfident, truth) == pytest.approx(3.0, rel=0.1)
    assert fit_temperature(list(honest), truth) == pytest.approx(1.0, rel=0.1)


@pytest.fixture(scope="module")
def held_out():
    examples = real_examples("val", 12, 40)
    assert len(examples) >= 30  # enough to fit a temperature (MIN_EXAMPLES)
    return examples


def test_a_calibrated_candidate_keeps_weights_and_answers_and_softens_as_its_card_says(held_out, tmp_path):
    folder, calibration = calibrated_candidate(PARENT, held_out, "40 val crops", registry=tmp_path / "registry")
    card, parent_card = read_card(folder), read_card(PARENT)
    assert card.parent == parent_card.version and card.version.startswith("condition-calibrated-")
    assert card.temperature == calibration.temperature and calibration.examples == len(held_out)
    assert card.metrics["ece"] == round(calibration.ece_after, 4)
    assert card.metrics["ece_uncalibrated"] == round(calibration.ece_before, 4)
    assert card.metrics_data.startswith("40 val crops; ECE after temperature scaling, cross-fitted")
    digest = lambda path: hashlib.sha256(path.read_bytes()).hexdigest()  # noqa: E731
    assert digest(folder / "model.safetensors") == digest(PARENT / "model.safetensors")

    parent, calibrated = ConditionModel(str(PARENT)), ConditionModel(str(folder))
    assert parent.temperature == parent_card.temperature  # the shipped model is calibrated too
    assert calibrated.temperature == card.temperature
    parent.temperature = 1.0  # its probabilities as trained
    example = held_out[0]
    allowed = ALLOWED_CONDITIONS[example.object_type]
    logits = parent.answer_logits([example.crop], [condition_prompt(example.object_type, example.context)])[0]
    before, after = parent.probabilities(logits, allowed), calibrated.probabilities(logits, allowed)
    assert max(before, key=before.get) == max(after, key=after.get)  # the same answer
    spread = lambda p: max(p.values()) - min(p.values())  # noqa: E731
    assert card.temperature != 1.0 and (spread(after) < spread(before)) == (card.temperature > 1)


def test_calibration_needs_examples():
    with pytest.raises(ValueError, match="needs held-out examples"):
        calibrate(ConditionModel(str(PARENT)), [])


def test_too_few_held_out_objects_keep_the_fallback_temperature(held_out):
    model = ConditionModel(str(PARENT))
    few = calibrate(model, held_out[:5], fallback=2.5)
    assert few.temperature == 2.5 and few.examples == 5
