"""The condition dataset builder, on photos of the real 9-class data (real condition labels)."""

from __future__ import annotations

from collections import Counter

import pytest
from PIL import Image

from core.conditions import condition_prompt
from core.settings import PROJECT_ROOT
from core.taxonomy import ALLOWED_CONDITIONS
from core.types import LabelledBox, LabelledPhoto
from training.data.condition_data import (
    ConditionDataset,
    DatasetSettings,
    build_condition_dataset,
    class_weights,
    kfold_by_photo,
    split_by_photo,
)
from training.data.dataset import from_yolo_folder
from training.data.examples import ConditionExample

CONDITIONS_DATA = PROJECT_ROOT.parent / "shared" / "data" / "slope-conditions"


@pytest.fixture(scope="module")
def all_photos() -> list[LabelledPhoto]:
    """Every photo of the real 9-class data (headers only: cheap)."""
    photos = from_yolo_folder(CONDITIONS_DATA)
    assert len(photos) == 217
    return photos


@pytest.fixture(scope="module")
def val_photos() -> list[LabelledPhoto]:
    """The 12 val photos (84 objects): enough for every condition, small enough to crop fast."""
    return from_yolo_folder(CONDITIONS_DATA, "val")


@pytest.fixture(scope="module")
def dataset(val_photos) -> ConditionDataset:
    return build_condition_dataset(val_photos, DatasetSettings(held_out_fraction=0.4, synthesized_per_real=0.5))


def example_key(e) -> tuple:
    return e.photo, e.object_type, e.context, e.condition, e.crop.tobytes()


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"held_out_fraction": 0.0}, "held_out_fraction"),
        ({"held_out_fraction": 1.0}, "held_out_fraction"),
        ({"synthesized_per_real": -1.0}, "synthesized_per_real"),
        ({"synthesized_per_real": float("inf")}, "synthesized_per_real"),
        ({"crop_margin": 3.0}, "crop_margin"),
        ({"oversample": "yes"}, "oversample"),
        ({"held_out_seed": 1.5}, "held_out_seed"),
    ],
)
def test_settings_name_bad_values(changes, named):
    with pytest.raises(ValueError, match=named):
        DatasetSettings(**changes)


# ------------------------------------------------------------------ the photo split


def test_split_by_photo_is_disjoint_deterministic_and_near_the_fraction(all_photos):
    train, held_out = split_by_photo(all_photos, 0.2, 0)
    train_names, held_names = {p.name for p in train}, {p.name for p in held_out}
    assert not train_names & held_names
    assert train_names | held_names == {p.name for p in all_photos}
    assert 0.12 < len(held_out) / len(all_photos) < 0.28  # a hash share, not an exact count
    again = split_by_photo(list(reversed(all_photos)), 0.2, 0)[1]
    assert {p.name for p in again} == held_names  # order of the input does not matter
    other_seed = {p.name for p in split_by_photo(all_photos, 0.2, 1)[1]}
    assert other_seed != held_names


def test_a_photo_keeps_its_side_when_the_data_grows(all_photos):
    # More reviewed photos must not move the photos already held out into train.
    held_full = {p.name for p in split_by_photo(all_photos, 0.2, 0)[1]}
    subset = all_photos[::2]
    held_subset = {p.name for p in split_by_photo(subset, 0.2, 0)[1]}
    assert held_subset == held_full & {p.name for p in subset}


def test_byte_identical_photos_land_together_and_tiny_sets_get_both_sides(val_photos):
    a, b = val_photos[0], val_photos[1]
    twin = LabelledPhoto("twin-of-" + a.name, a.path, "train", a.width, a.height, a.objects)
    for seed in range(5):
        train, held_out = split_by_photo([a, twin, b], 0.5, seed)
        assert len(train) >= 1 and len(held_out) >= 1
        assert (a in held_out) == (twin in held_out)
    train, held_out = split_by_photo([a, b], 0.01, 0)  # a share too small for two photos
    assert len(train) == len(held_out) == 1


def test_kfold_holds_out_each_photo_exactly_once(all_photos):
    folds = kfold_by_photo(all_photos, 5, 0)
    assert len(folds) == 5
    held = Counter(p.name for _, held_out in folds for p in held_out)
    assert set(held) == {p.name for p in all_photos} and set(held.values()) == {1}
    for train, held_out in folds:
        assert not {p.name for p in train} & {p.name for p in held_out}
        assert len(train) + len(held_out) == len(all_photos)
    sizes = [len(h) for _, h in folds]
    assert max(sizes) - min(sizes) <= 1
    assert [[p.name for p in h] for _, h in kfold_by_photo(all_photos, 5, 0)] == [[p.name for p in h] for _, h in folds]
    with pytest.raises(ValueError, match="k must"):
        kfold_by_photo(all_photos, 1, 0)


# ------------------------------------------------------------------ the dataset


def test_examples_follow_their_photos_and_held_out_is_real_only(dataset):
    assert dataset.train and dataset.held_out
    assert not set(dataset.train_photos) & set(dataset.held_out_photos)
    assert {e.photo for e in dataset.train} <= set(dataset.train_photos)
    assert {e.photo for e in dataset.held_out} <= set(dataset.held_out_photos)
    assert not any(e.synthesized for e in dataset.held_out)
    # each held-out object once: no repeats
    assert len({example_key(e) for e in dataset.held_out}) == len(dataset.held_out)
    assert all(e.object_type != "vegetation" for e in dataset.train + dataset.held_out)
    assert sum(dataset.held_out_counts.values()) == len(dataset.held_out)
    assert "SYNTHESIZED" in dataset.provenance and "held-out" in dataset.provenance


def test_synthesized_examples_are_train_only_and_in_the_asked_amount(dataset):
    real = [e for e in dataset.train if not e.synthesized]
    synthesized = [e for e in dataset.train if e.synthesized]
    real_count = sum(dataset.real_train_counts.values())
    assert len(synthesized) == round(0.5 * real_count)
    assert {e.photo for e in synthesized} <= set(dataset.train_photos)
    assert all(e.condition in ALLOWED_CONDITIONS[e.object_type] for e in synthesized)
    assert len(real) >= real_count  # real examples plus their repeats


def test_held_out_does_not_depend_on_training_settings(val_photos, dataset):
    other = build_condition_dataset(
        val_photos, DatasetSettings(held_out_fraction=0.4, seed=7, oversample=False, synthesized_per_real=0.0)
    )
    assert other.held_out_photos == dataset.held_out_photos
    assert [example_key(e) for e in other.held_out] == [example_key(e) for e in dataset.held_out]
    assert other.held_out_hash == dataset.held_out_hash and other.data_hash == dataset.data_hash
    assert not any(e.synthesized for e in other.train)
    assert other.train_counts == other.real_train_counts  # no oversampling, no synthesis


def test_oversampling_evens_the_conditions_of_each_type(val_photos):
    built = build_condition_dataset(val_photos, DatasetSettings(held_out_fraction=0.4))
    real = Counter((e.object_type, e.condition) for e in built.train if not e.synthesized)
    for object_type, allowed in ALLOWED_CONDITIONS.items():
        present = [real[(object_type, c)] for c in allowed if real[(object_type, c)]]
        assert len(set(present)) <= 1, (object_type, present)
    before = built.real_train_counts
    assert sum(e.repeat for e in built.train) == len(built.train) - sum(before.values())
    assert sum(built.train_counts.values()) > sum(before.values())  # the val labels are skewed


def test_objects_without_a_condition_are_left_out(val_photos):
    labelled = val_photos[0]
    unknown = LabelledPhoto(
        "unknown-" + labelled.name,
        labelled.path,
        "train",
        labelled.width,
        labelled.height,
        tuple(LabelledBox(o.box, o.object_type, None) for o in labelled.objects),
    )
    built = build_condition_dataset([unknown, *val_photos[1:4]], DatasetSettings(held_out_fraction=0.5))
    assert all(e.photo != unknown.name for e in built.train + built.held_out)


def test_class_weights_on_a_hand_made_set():
    blank = Image.new("RGB", (4, 4))
    examples = [ConditionExample(blank, "toe_drain", "", c) for c in ["normal"] * 6 + ["damaged"] * 3 + ["blocked"]]
    weights = class_weights(examples)
    # n / (C * n_c) with n = 10, C = 3
    assert weights == pytest.approx({"normal": 10 / 18, "damaged": 10 / 9, "blocked": 10 / 3})
    assert sum(weights[e.condition] for e in examples) / len(examples) == pytest.approx(1.0)
    assert class_weights(examples[:9]) == pytest.approx({"normal": 9 / 12, "damaged": 9 / 6})  # absent: no weight


def test_to_hf_round_trips_the_counts(dataset):
    hf = dataset.to_hf()
    assert set(hf) == {"train", "held_out"}
    assert len(hf["train"]) == len(dataset.train) and len(hf["held_out"]) == len(dataset.held_out)
    for split, counts in (("train", dataset.train_counts), ("held_out", dataset.held_out_counts)):
        assert Counter(hf[split]["condition"]) == {c: n for c, n in counts.items() if n}
    assert sum(hf["train"]["synthesized"]) == sum(e.synthesized for e in dataset.train)
    assert not any(hf["held_out"]["synthesized"])
    row, first = hf["held_out"][0], dataset.held_out[0]
    assert row["prompt"] == condition_prompt(first.object_type, first.context)
    assert row["photo"] == first.photo and row["image"].size == first.crop.size


def test_no_photos_or_duplicate_names_are_refused(val_photos):
    with pytest.raises(ValueError, match="no photos"):
        build_condition_dataset([], DatasetSettings())
    with pytest.raises(ValueError, match="unique"):
        build_condition_dataset([val_photos[0], val_photos[0]], DatasetSettings())


def test_crops_of_a_full_size_upload_are_squashed_as_the_app_serves_them(val_photos, tmp_path):
    """A reviewed photo uploaded at 1280x720 gives the same crops (and boxes inside them) as
    the 312 px photo it was made from, so the model learns what serving shows it."""
    from dataclasses import replace

    from training.data.examples import crops_from_photos

    photo = val_photos[0]
    path = tmp_path / "wide.jpg"
    Image.open(photo.path).resize((1280, 720)).save(path, quality=95)
    sx, sy = 1280 / photo.width, 720 / photo.height
    boxes = tuple(replace(o, box=(o.box[0] * sx, o.box[1] * sy, o.box[2] * sx, o.box[3] * sy)) for o in photo.objects)
    wide = replace(photo, path=path, width=1280, height=720, objects=boxes)
    small, large = crops_from_photos([photo], 0.15), crops_from_photos([wide], 0.15)
    assert len(small) == len(large) > 0
    for a, b in zip(small, large, strict=True):
        # Crop bounds are whole pixels of either photo: up to a pixel apart on each side.
        assert abs(a.crop.shape[0] - b.crop.shape[0]) <= 2 and abs(a.crop.shape[1] - b.crop.shape[1]) <= 2
        assert max(abs(p - q) for p, q in zip(a.box, b.box, strict=True)) <= 2
    as_cut = crops_from_photos([wide], 0.15, photo_side=None)[0]
    assert as_cut.crop.shape[1] > 3 * small[0].crop.shape[1]  # without squashing: 4x wider
