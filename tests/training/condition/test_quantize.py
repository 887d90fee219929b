"""Quantized candidates (bitsandbytes on CPU): a folder of their own, measured against the parent."""

import pytest

from core.conditions import ConditionModel
from core.model_card import read_card
from tests.conftest import DATA_DIR
from training.condition.quantize import accuracy_retention, quantize_candidate
from training.data.dataset import from_yolo_folder
from training.data.examples import crops_from_photos, held_out_examples


@pytest.fixture(scope="module")
def held_out(settings):
    photos = from_yolo_folder(DATA_DIR, "val")[:4]
    return held_out_examples(crops_from_photos(photos, 0.15), seed=1)


@pytest.mark.parametrize("kind", ["int8", "nf4"])
def test_a_quantized_candidate_is_smaller_loads_and_says_what_it_keeps(settings, held_out, tmp_path, kind):
    result = quantize_candidate(
        settings.condition_model, kind, held_out, "synthesized test examples", registry=tmp_path, min_retention=0.5
    )
    card = read_card(result.folder)
    parent = read_card(settings.condition_model)
    assert result.folder == tmp_path / "condition" / f"{parent.version}+{kind}"
    assert card.parent == parent.version and card.crop_margin == parent.crop_margin
    assert card.metrics["size_bytes"] < 0.6 * card.metrics["parent_size_bytes"]
    assert card.metrics["accuracy_retention"] == pytest.approx(result.retention)
    assert result.servable == (result.retention >= 0.5)
    reloaded = ConditionModel(str(result.folder))
    assert reloaded.quantization == kind and reloaded.version == card.version
    assert reloaded.model.get_memory_footprint() == card.metrics["memory_bytes"]


def test_bad_requests_are_refused(settings, held_out, tmp_path):
    with pytest.raises(ValueError, match="unknown quantization 'int3'"):
        quantize_candidate(settings.condition_model, "int3", held_out, "x", registry=tmp_path)
    with pytest.raises(ValueError, match="needs held-out examples"):
        quantize_candidate(settings.condition_model, "int8", [], "x", registry=tmp_path)
    assert not (tmp_path / "condition").exists() or not any((tmp_path / "condition").iterdir())


def test_retention_is_the_share_of_the_parents_accuracy_kept():
    assert accuracy_retention(0.8, 0.78) == pytest.approx(0.975)
    assert accuracy_retention(0.5, 0.6) == pytest.approx(1.2)
    assert accuracy_retention(0.0, 0.0) == 1.0  # nothing to lose: a tiny held-out set must not read as 0%
