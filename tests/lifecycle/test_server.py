"""The served models are a record: promoting a version swaps them for the next request."""

import shutil
from datetime import UTC, datetime

import pytest

from core.images import load_image
from core.model_card import read_card
from core.settings import Settings
from lifecycle.server import ModelServer, register_configured_models
from storage import registry
from storage.db import Database


@pytest.fixture
def store(tmp_path):
    settings = Settings(data_dir=str(tmp_path / "data"))
    return settings, Database.from_settings(settings)


def candidate_copy(settings: Settings, tmp_path, version: str):
    """A condition-model candidate: the shipped weights under another version name."""
    folder = tmp_path / "registry" / "condition" / version
    shutil.copytree(settings.condition_model, folder)
    card = read_card(folder).replace(version=version, parent=read_card(settings.condition_model).version)
    card.write(folder)
    return card, folder


def test_configured_defaults_become_version_zero_once(store):
    settings, db = store
    register_configured_models(db, settings)
    register_configured_models(db, settings)
    served = {v.kind: v for v in registry.versions(db) if v.status == "served"}
    assert set(served) == {"detector", "condition"}
    assert len(registry.versions(db)) == 2
    assert served["condition"].name == read_card(settings.condition_model).version
    assert "real labelled objects" in served["condition"].metrics["measured_on"]
    # when the model was built, as its card says, not when this store first saw it
    built = datetime.fromisoformat(read_card(settings.detector_model).created)
    assert served["detector"].created_at.replace(tzinfo=UTC) == built  # SQLite keeps UTC without a zone


def test_a_promotion_reaches_the_next_request_without_a_restart(store, inspector, val_images, tmp_path):
    settings, db = store
    register_configured_models(db, settings)
    server = ModelServer(settings, db, inspector)
    assert server.inspector() is inspector  # nothing promoted: the injected models serve
    card, folder = candidate_copy(settings, tmp_path, "condition-tiny-candidate")
    registry.record_version(db, card, folder)
    assert server.inspector() is inspector  # a candidate is not served
    registry.serve(db, "condition", card.version, "test", "a test")

    swapped = server.inspector()
    assert swapped is not inspector
    assert swapped.models == {"detector": inspector.detector.version, "condition": "condition-tiny-candidate"}
    inspection = swapped.inspect(load_image(val_images[0]))
    assert inspection.models["condition"] == "condition-tiny-candidate"
    assert server.inspector() is swapped  # loaded once, not per request
    statuses = {v.name: v.status for v in registry.versions(db, "condition")}
    assert statuses == {"condition-tiny-candidate": "served", read_card(settings.condition_model).version: "retired"}

    registry.serve(db, "condition", read_card(settings.condition_model).version, "test", "roll back")
    assert server.inspector().models["condition"] == inspector.condition_model.version


def test_a_broken_promoted_folder_keeps_the_current_models_serving(store, inspector, tmp_path):
    settings, db = store
    register_configured_models(db, settings)
    server = ModelServer(settings, db, inspector)
    card, folder = candidate_copy(settings, tmp_path, "condition-tiny-broken")
    (folder / "model.safetensors").write_bytes(b"not weights")
    registry.record_version(db, card, folder)
    registry.serve(db, "condition", card.version, "test", "a test")
    assert server.inspector() is inspector
    assert "condition-tiny-broken" in registry.served_version(db, "condition").name
    assert server.load_error is not None


def test_an_explicitly_configured_model_is_promoted_at_start(store, tmp_path):
    settings, db = store
    register_configured_models(db, settings)
    card, folder = candidate_copy(settings, tmp_path, "condition-tiny-configured")
    configured = Settings(data_dir=settings.data_dir, condition_model=str(folder))
    register_configured_models(db, configured)
    assert registry.served_version(db, "condition").name == "condition-tiny-configured"
    register_configured_models(db, settings)  # back to the default: the registry's choice stands
    assert registry.served_version(db, "condition").name == "condition-tiny-configured"


def test_promoting_an_unknown_or_missing_version_is_refused(store, tmp_path):
    settings, db = store
    with pytest.raises(LookupError, match="no condition version named 'nope'"):
        registry.serve(db, "condition", "nope", "test", "a test")
    card, folder = candidate_copy(settings, tmp_path, "condition-tiny-gone")
    registry.record_version(db, card, folder)
    shutil.rmtree(folder)
    with pytest.raises(FileNotFoundError, match="is gone"):
        registry.serve(db, "condition", card.version, "test", "a test")


def test_a_served_folder_gone_at_start_falls_back_to_the_configured_models(store, tmp_path):
    settings, db = store
    register_configured_models(db, settings)
    card, folder = candidate_copy(settings, tmp_path, "condition-tiny-moved")
    registry.record_version(db, card, folder)
    registry.serve(db, "condition", card.version, "test", "a test")
    shutil.rmtree(folder)  # e.g. the data volume was not mounted
    server = ModelServer(settings, db)
    assert server.inspector().models["condition"] == read_card(settings.condition_model).version
    assert server.load_error == f"FileNotFoundError: the served condition folder {folder} is missing"
