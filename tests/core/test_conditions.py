"""The shipped condition model, through the real Qwen2-VL classes, on real photo crops."""

from pathlib import Path

import numpy as np
import pytest

from core.conditions import (
    DEFAULT_CROP_MARGIN,
    TRAINING_PHOTO_SIDE,
    ConditionModel,
    _first_token_ids,
    condition_prompt,
    crop_with_margin,
    squashed,
)
from core.images import load_image
from core.taxonomy import ALLOWED_CONDITIONS

BOXES = np.array(
    [[20, 30, 90, 200], [10, 150, 210, 200], [100, 10, 200, 120], [5, 5, 60, 60], [120, 100, 220, 220]],
    dtype=np.float32,
)
TYPES = ["slope_drain", "toe_drain", "rock_toe", "vegetation", "slope_drain"]
CONTEXTS = [
    "top-left of the photo",
    "bottom-center of the photo, at the foot of a slope drain",
    "top-right of the photo",
    "top-left of the photo",
    "bottom-right of the photo",
]


@pytest.fixture(scope="module")
def photo(val_images):
    return load_image(val_images[0])


def test_probabilities_cover_exactly_the_allowed_conditions_and_sum_to_one(condition_model, photo):
    results = condition_model.classify(photo, BOXES, TYPES, CONTEXTS)
    assert len(results) == len(TYPES)
    for object_type, probs in zip(TYPES, results, strict=True):
        assert tuple(probs) == ALLOWED_CONDITIONS[object_type]
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-6)
        assert all(0.0 <= p <= 1.0 for p in probs.values())


def test_batched_equals_one_by_one(condition_model, photo):
    batched = condition_model.classify(photo, BOXES, TYPES, CONTEXTS)
    for i in range(len(TYPES)):
        alone = condition_model.classify(photo, BOXES[i : i + 1], TYPES[i : i + 1], CONTEXTS[i : i + 1])[0]
        for condition, p in alone.items():
            assert batched[i][condition] == pytest.approx(p, abs=1e-4)


def test_one_forward_pass_per_batch_and_vegetation_never_reaches_the_model(condition_model, photo):
    before = condition_model.forward_passes
    condition_model.classify(photo, BOXES, TYPES, CONTEXTS)
    assert condition_model.forward_passes == before + 1  # 4 scored crops, one pass, not 4 x labels
    only_vegetation = condition_model.classify(photo, BOXES[3:4], ["vegetation"], ["top-left of the photo"])
    assert only_vegetation == [{"normal": 1.0}]
    assert condition_model.forward_passes == before + 1


def test_deterministic_and_depends_on_the_image(condition_model, photo):
    first = condition_model.classify(photo, BOXES[:1], TYPES[:1], CONTEXTS[:1])
    again = condition_model.classify(photo, BOXES[:1], TYPES[:1], CONTEXTS[:1])
    assert first == again
    blank = photo.point(lambda _: 128)
    assert condition_model.classify(blank, BOXES[:1], TYPES[:1], CONTEXTS[:1]) != first


def test_save_and_reload_gives_equal_outputs(condition_model, photo, tmp_path):
    condition_model.model.save_pretrained(tmp_path)
    condition_model.processor.save_pretrained(tmp_path)
    (tmp_path / "card.json").write_bytes((Path(condition_model.source) / "card.json").read_bytes())  # its temperature
    reloaded = ConditionModel(str(tmp_path))
    np.testing.assert_allclose(
        reloaded.classify(photo, BOXES, TYPES, CONTEXTS)[0]["normal"],
        condition_model.classify(photo, BOXES, TYPES, CONTEXTS)[0]["normal"],
        atol=1e-6,
    )
    crops = [crop_with_margin(photo, b, 0.15) for b in BOXES[:3]]
    prompts = [condition_prompt(t, c) for t, c in zip(TYPES[:3], CONTEXTS[:3], strict=True)]
    np.testing.assert_allclose(
        reloaded.answer_logits(crops, prompts), condition_model.answer_logits(crops, prompts), atol=1e-5
    )


def test_generation_is_deterministic(condition_model, photo):
    crop, prompt = crop_with_margin(photo, BOXES[0], 0.15), condition_prompt("slope_drain", CONTEXTS[0])
    text = condition_model.generate_text(crop, prompt, max_new_tokens=8)
    assert isinstance(text, str)
    assert text == condition_model.generate_text(crop, prompt, max_new_tokens=8)


def test_crop_margin_comes_from_the_card(condition_model, settings, tmp_path):
    import shutil

    from core.model_card import read_card

    assert condition_model.crop_margin == read_card(settings.condition_model).crop_margin
    copy = tmp_path / "condition"
    shutil.copytree(settings.condition_model, copy)
    read_card(copy).replace(crop_margin=0.4).write(copy)
    assert ConditionModel(str(copy)).crop_margin == 0.4
    (copy / "card.json").unlink()
    assert ConditionModel(str(copy)).crop_margin == DEFAULT_CROP_MARGIN  # a card-less checkpoint


def test_crops_of_a_large_photo_are_cut_as_from_the_photo_squashed_to_the_training_square(condition_model, photo):
    """A 16:9 photo at full size: the model is shown what it would see of the same photo
    squashed to a 312 px square (how its training photos came), not wider, sharper objects."""
    assert condition_model.photo_side == TRAINING_PHOTO_SIDE  # from the shipped card
    wide = photo.resize((1280, 720))  # the 312 px photo un-stretched and enlarged
    box = np.array([20, 30, 90, 200]) * np.array([1280 / 312, 720 / 312] * 2)
    crop = condition_model.crop(wide, box)
    as_trained = crop_with_margin(photo, [20, 30, 90, 200], condition_model.crop_margin)
    assert abs(crop.width - as_trained.width) <= 2 and abs(crop.height - as_trained.height) <= 2  # whole pixels
    assert crop_with_margin(wide, box, condition_model.crop_margin).width > 3 * as_trained.width  # as cut


def test_squashing_leaves_training_sized_photos_alone_and_keeps_thin_boxes_croppable(photo):
    crop = crop_with_margin(photo, [50, 50, 150, 100], 0.1)
    assert squashed(crop, photo.size, TRAINING_PHOTO_SIDE) is crop  # a 312 px square: as cut
    assert squashed(crop, (224, 224), TRAINING_PHOTO_SIDE) is crop  # smaller squares are never enlarged
    assert squashed(crop, (4000, 3000), None) is crop  # a card-less checkpoint: as cut
    thin = squashed(crop.crop((0, 0, 3, 60)), (4000, 3000), TRAINING_PHOTO_SIDE)
    assert thin.size == (2, 6)  # 3 px of 4000 would be 0.2 px: still a crop the processor takes


def test_a_card_that_does_not_say_how_photos_were_squashed_gets_crops_as_cut(settings, photo, tmp_path):
    import shutil

    from core.model_card import read_card

    copy = tmp_path / "condition"
    shutil.copytree(settings.condition_model, copy)
    read_card(copy).replace(photo_side=None).write(copy)
    wide = photo.resize((1280, 720))
    model = ConditionModel(str(copy))
    assert model.photo_side is None
    assert model.crop(wide, [100, 100, 300, 200]).size == crop_with_margin(wide, [100, 100, 300, 200], 0.15).size
    assert ConditionModel(settings.condition_model, squash=False).photo_side is None


def test_crop_keeps_a_margin_and_refuses_empty_boxes(photo):
    crop = crop_with_margin(photo, [50, 50, 150, 100], 0.1)
    assert crop.size == (120, 60)
    assert crop_with_margin(photo, [0, 0, 40, 40], 0.5).size == (60, 60)  # clipped at the edge
    with pytest.raises(ValueError, match="is empty"):
        crop_with_margin(photo, [500, 500, 600, 600], 0.1)


def test_prompt_offers_only_the_allowed_conditions():
    assert "blocked" not in condition_prompt("rock_toe", "x")
    assert "normal, blocked or damaged" in condition_prompt("toe_drain", "x")


class _CharTokenizer:
    def encode(self, text, add_special_tokens=False):
        return [ord(text[0]) % 2]  # 'normal' and 'blocked'/'damaged' collide


def test_a_tokenizer_whose_condition_words_collide_is_refused():
    with pytest.raises(ValueError, match="share a first token"):
        _first_token_ids(_CharTokenizer())


@pytest.mark.parametrize("kind", ["int8", "nf4"])
def test_bitsandbytes_quantized_model_is_smaller_and_close(condition_model, photo, settings, kind):
    quantized = ConditionModel(settings.condition_model, quantization=kind)
    assert quantized.version.endswith(f"+{kind}")
    assert quantized.model.get_memory_footprint() < 0.6 * condition_model.model.get_memory_footprint()
    for a, b in zip(
        quantized.classify(photo, BOXES, TYPES, CONTEXTS),
        condition_model.classify(photo, BOXES, TYPES, CONTEXTS),
        strict=True,
    ):
        assert a.keys() == b.keys()
        assert all(abs(a[k] - b[k]) < 0.1 for k in a)
    with pytest.raises(ValueError, match="unknown quantization"):
        ConditionModel(settings.condition_model, quantization="int3")
