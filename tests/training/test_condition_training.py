"""The condition-model trainer for a few steps: files written, metrics recorded, crashes clean."""

import json

import pytest

import training.condition as condition
from training.condition import ConditionTrainSettings, train_condition_model


def test_a_short_run_writes_a_loadable_model_folder_with_metrics(tiny_data, tmp_path):
    out = tmp_path / "models" / "condition"
    train_condition_model(
        ConditionTrainSettings(data_dir=tiny_data, out=out, steps=3, batch_size=2, eval_every=2), log=lambda _: None
    )
    metadata = json.loads((out / "metadata.json").read_text())
    assert [h["step"] for h in metadata["history"]] == [2, 3]
    held_out = metadata["metrics_heldout_synthesized"]
    assert "synthesized" in held_out["data"] and held_out["examples"] > 0
    assert 0 <= held_out["accuracy"] <= 1
    from core.conditions import ConditionModel

    assert ConditionModel(str(out)).version == metadata["version"]
    assert [p.name for p in out.parent.iterdir()] == ["condition"]  # no staging folder left


def test_a_crashing_run_leaves_the_served_model_untouched(tiny_data, tmp_path, monkeypatch):
    out = tmp_path / "models" / "condition"
    out.mkdir(parents=True)
    (out / "metadata.json").write_text('{"version": "served"}')

    def broken(*args, **kwargs):
        raise RuntimeError("synthetic crash in the middle of training")

    monkeypatch.setattr(condition, "synthesize", broken)
    with pytest.raises(RuntimeError, match="synthetic crash"):
        train_condition_model(
            ConditionTrainSettings(data_dir=tiny_data, out=out, steps=3, batch_size=2), log=lambda _: None
        )
    assert json.loads((out / "metadata.json").read_text()) == {"version": "served"}
    assert [p.name for p in out.parent.iterdir()] == ["condition"]


def test_settings_refuse_bad_values():
    with pytest.raises(ValueError, match="must be positive"):
        ConditionTrainSettings(steps=0)
