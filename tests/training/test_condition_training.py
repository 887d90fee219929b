"""The condition-model trainer for a few steps: the candidate folder it publishes, its card, and
what a crash or a clash leaves behind (nothing)."""

import pytest

import training.condition as condition
from core.conditions import ConditionModel
from core.model_card import read_card
from training.artifacts import publish_candidate, staging_folder
from training.condition import ConditionTrainSettings, train_condition_model


def quiet(_: str) -> None:
    pass


def test_a_short_run_publishes_a_loadable_candidate_with_its_card(tiny_data, tmp_path):
    registry = tmp_path / "registry"
    folder = train_condition_model(
        ConditionTrainSettings(
            data_dir=tiny_data, registry=registry, steps=3, batch_size=2, eval_every=2, crop_margin=0.2
        ),
        log=quiet,
    )
    card = read_card(folder)
    assert folder == registry / "condition" / card.version
    assert card.version.startswith("condition-tiny-") and card.kind == "condition"
    assert [p.name for p in (registry / "condition").iterdir()] == [card.version]  # no staging folder left
    assert card.crop_margin == 0.2 and card.parent is None
    assert card.data_hash.startswith("sha256:") and "SYNTHESIZED" in card.data_provenance
    assert "synthesized" in card.metrics_data and "CC BY 4.0" in card.data_credit
    assert [h["step"] for h in card.history] == [2, 3]
    assert card.training["steps"] == 3 and card.training["parameters"] > 0
    assert card.metrics["examples"] > 0 and 0 <= card.metrics["accuracy"] <= 1
    assert card.history[-1]["held_out_accuracy"] == card.metrics["accuracy"]  # the final weights, measured once more
    matrix = card.metrics["confusion"]["matrix"]
    assert sum(map(sum, matrix)) == card.metrics["examples"]
    model = ConditionModel(str(folder))
    assert (model.version, model.crop_margin) == (card.version, 0.2)

    # Continuing from it: a new candidate whose parent is the first.
    child = train_condition_model(
        ConditionTrainSettings(data_dir=tiny_data, registry=registry, steps=1, batch_size=2, init_from=folder),
        log=quiet,
    )
    assert read_card(child).parent == card.version


def test_a_crashing_run_leaves_the_registry_and_the_served_model_untouched(tiny_data, tmp_path, monkeypatch):
    registry = tmp_path / "registry"
    served = registry / "condition" / "served"
    served.mkdir(parents=True)
    (served / "card.json").write_text('{"kind": "condition", "version": "served"}')

    def broken(*args, **kwargs):
        raise RuntimeError("synthetic crash in the middle of training")

    monkeypatch.setattr(condition, "synthesize", broken)
    with pytest.raises(RuntimeError, match="synthetic crash"):
        train_condition_model(
            ConditionTrainSettings(data_dir=tiny_data, registry=registry, steps=3, batch_size=2), log=quiet
        )
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


@pytest.mark.parametrize(
    "values, message",
    [
        ({"steps": 0}, "must be positive"),
        ({"learning_rate": -1.0}, "must be positive"),
        ({"eval_every": 0}, "eval_every"),
        ({"crop_margin": 3.0}, "crop_margin"),
    ],
)
def test_settings_refuse_bad_values(values, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        ConditionTrainSettings(registry=tmp_path, **values)
