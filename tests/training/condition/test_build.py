"""The condition-model build for a few steps: distillation into the vision tower, teaching by the
CNN fitted on the real conditions, the candidate folder it publishes and its card, and what a
crash or a clash leaves behind (nothing)."""

import numpy as np
import pytest

import training.condition.build as condition
from core.conditions import TRAINING_PHOTO_SIDE, ConditionModel
from core.model_card import read_card
from core.settings import MODELS_DIR, PROJECT_ROOT
from lifecycle.folders import publish_candidate, settings_for_card, shown_path, staging_folder
from training.condition.build import ConditionTrainSettings, distil_photos, train_condition_model
from training.condition.distill import DistilSettings, _keep_margin, augmented_views, distil_data, distil_vision_tower
from training.condition.tiny_qwen2vl import build_model, build_processor
from training.data.dataset import from_yolo_folder
from training.data.examples import crops_from_photos

pytestmark = pytest.mark.slow  # real training, subprocesses or a browser: `pytest -m "not slow"` skips them


def quiet(_: str) -> None:
    pass


def small(conditions, boxes, registry, **values) -> ConditionTrainSettings:
    return ConditionTrainSettings(
        data_dir=conditions,
        distil_data=boxes,
        registry=registry,
        **{"steps": 2, "batch_size": 2, "distil_steps": 2, "distil_views": 1, "views": 2, "cnn_epochs": 1, **values},
    )


def test_a_short_build_publishes_a_loadable_candidate_with_its_card(tiny_conditions, tmp_path):
    conditions, boxes = tiny_conditions
    registry, kept = tmp_path / "registry", tmp_path / "distilled"
    folder = train_condition_model(small(conditions, boxes, registry, crop_margin=0.2, keep_distilled=kept), quiet)
    card = read_card(folder)
    assert folder == registry / "condition" / card.version
    assert card.version.startswith("condition-full-") and card.kind == "condition"
    assert [p.name for p in (registry / "condition").iterdir()] == [card.version]  # no staging folder left
    assert card.crop_margin == 0.2
    assert "EfficientNet-Lite0" in card.architecture and "fine-tuned (full)" in card.architecture
    # Taught on two views of every object of the 2 distillation photos and the train photos (the
    # held-out photos never reach the teacher or the model).
    assert "taught:" in card.data_provenance and "2 photos without condition labels" in card.data_provenance
    assert f"held-out: {card.metrics['examples']} real labelled objects" in card.data_provenance
    assert "real labelled objects" in card.metrics_data and "CC BY 4.0" in card.data_credit
    assert card.training["steps"] == 2 and card.train_settings["use_class_weights"] == "False"
    assert card.metrics["examples"] > 0 and 0 <= card.metrics["accuracy"] <= 1

    # The distilled parent was kept, with its own card, and the candidate names it as its parent.
    distilled = read_card(kept)
    assert card.parent == distilled.version and distilled.version.startswith("condition-distilled-")
    assert distilled.training["distil_steps"] == 2 and [h["step"] for h in distilled.history] == [1, 2]
    assert "no condition is read" in distilled.data_provenance
    assert ConditionModel(str(folder)).crop_margin == 0.2
    # Its crops came from photos of the training square, so it is served crops cut that way.
    assert card.photo_side == distilled.photo_side == TRAINING_PHOTO_SIDE

    # Starting from the kept tower skips distillation: same parent.
    again = train_condition_model(small(conditions, boxes, registry, distilled=kept), quiet)
    assert read_card(again).parent == distilled.version


def test_distillation_photos_leave_out_every_condition_photo(tiny_conditions):
    conditions, boxes = tiny_conditions
    condition_photos = from_yolo_folder(conditions)
    pool = distil_photos(boxes, condition_photos)
    assert len(pool) == 2 and not {p.name for p in pool} & {p.name for p in condition_photos}
    with pytest.raises(ValueError, match="besides the condition photos"):
        distil_photos(conditions, condition_photos)


def test_distillation_lowers_the_error_on_the_teacher_features(tiny_conditions):
    """A few dozen steps on a handful of views: the tower reproduces the teacher better than the
    mean does (the standardized loss starts near 1 and must fall)."""
    _, boxes = tiny_conditions
    settings = DistilSettings(steps=40, batch_size=8, views=2, learning_rate=3e-3)
    data = distil_data(from_yolo_folder(boxes), settings)
    assert data.targets.shape == (len(data.images), 1280)
    np.testing.assert_allclose(data.targets.mean(0), 0, atol=1e-4)
    processor = build_processor()
    model = build_model(processor)
    before = model.model.language_model.state_dict()
    history = distil_vision_tower(model, processor, data, settings, log=quiet)
    assert history[-1]["loss"] < 0.9 * history[0]["loss"]
    after = model.model.language_model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)  # only the vision tower learns


def test_views_keep_the_object_and_vary(tiny_conditions):
    _, boxes = tiny_conditions
    crops = crops_from_photos(from_yolo_folder(boxes), 0.4)
    views = augmented_views(crops[:3], 4, np.random.default_rng(0))
    assert len(views) == 12 and all(v.ndim == 3 and v.dtype == np.uint8 for v in views)
    assert len({v.tobytes() for v in views}) == 12
    image = np.zeros((100, 80, 3), np.uint8)
    assert _keep_margin(image, (20, 30, 60, 70), 0.0).shape == (40, 40, 3)
    assert _keep_margin(image, (20, 30, 60, 70), 1.0).shape == (100, 80, 3)


def test_a_crashing_run_leaves_the_registry_and_the_served_model_untouched(tiny_conditions, tmp_path, monkeypatch):
    conditions, boxes = tiny_conditions
    registry = tmp_path / "registry"
    served = registry / "condition" / "served"
    served.mkdir(parents=True)
    (served / "card.json").write_text('{"kind": "condition", "version": "served"}')

    def broken(*args, **kwargs):
        raise RuntimeError("synthetic crash in the middle of training")

    monkeypatch.setattr(condition, "distil_vision_tower", broken)
    with pytest.raises(RuntimeError, match="synthetic crash"):
        train_condition_model(small(conditions, boxes, registry), quiet)
    assert [p.name for p in (registry / "condition").iterdir()] == ["served"]
    assert [p.name for p in served.iterdir()] == ["card.json"]
    assert read_card(served).version == "served"


def test_a_version_folder_is_never_overwritten(tmp_path):
    from core.model_card import ModelCard

    registry = tmp_path / "registry"
    card = ModelCard(kind="condition", version="condition-tiny-1")
    first = publish_candidate(staging_folder(registry, "condition"), registry, card)
    (first / "weights").write_text("first")
    staging = staging_folder(registry, "condition")
    with pytest.raises(FileExistsError, match="never overwritten"):
        publish_candidate(staging, registry, card.replace(architecture="another"))
    assert (first / "weights").read_text() == "first" and read_card(first) == card


def test_the_registry_defaults_to_the_data_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("SLOPE_DATA_DIR", str(tmp_path))
    assert ConditionTrainSettings().registry == tmp_path / "models"


def test_cards_name_data_beside_the_project_by_a_relative_path():
    assert shown_path(PROJECT_ROOT.parent / "shared" / "data" / "slopes") == "../shared/data/slopes"
    assert shown_path(PROJECT_ROOT / "data" / "photos") == "data/photos"
    for kind in ("detector", "condition"):  # the shipped cards do not name the machine they were built on
        card = read_card(MODELS_DIR / kind)
        assert str(PROJECT_ROOT.parent) not in card.data + card.metrics_data
        assert "../shared/data/" in card.metrics_data


def test_every_trainer_writes_its_settings_into_the_card_alike():
    from training.condition.finetune_settings import FinetuneSettings
    from training.detector.build import DetectorTrainSettings

    detector = settings_for_card(DetectorTrainSettings(data_dir=PROJECT_ROOT.parent / "shared" / "data" / "slopes"))
    assert detector["data_dir"] == "../shared/data/slopes" and "init_from" not in detector  # None: left out
    finetune = settings_for_card(FinetuneSettings(target_modules=("q_proj", "v_proj")))
    assert finetune["target_modules"] == "q_proj, v_proj" and finetune["steps"] == str(FinetuneSettings().steps)
    assert all(isinstance(v, str) for v in (detector | finetune).values())


@pytest.mark.parametrize(
    "values, message",
    [
        ({"steps": 0}, "must be positive"),
        ({"learning_rate": -1.0}, "must be positive"),
        ({"crop_margin": 3.0}, "crop_margin"),
        ({"views": 0}, "views and cnn_epochs"),
        ({"cnn_epochs": 0}, "views and cnn_epochs"),
        ({"distil_views": 0}, "views"),
    ],
)
def test_settings_refuse_bad_values(values, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        ConditionTrainSettings(registry=tmp_path, **values)
