import shutil

import pytest

from core.model_card import read_card
from core.settings import Settings
from lifecycle.server import register_configured_models
from storage import registry
from storage.db import Database

# The training commands' tests use the training tests' small data sets.
from tests.training.conftest import small_val, tiny_conditions, tiny_data  # noqa: F401


@pytest.fixture
def store(tmp_path, monkeypatch, settings) -> Database:
    """A fresh store (SLOPE_DATA_DIR in tmp_path) with the shipped models on record as served."""
    monkeypatch.setenv("SLOPE_DATA_DIR", str(tmp_path / "data"))
    db = Database.from_settings(Settings.from_env())
    register_configured_models(db, settings)
    return db


def record_condition_copy(db: Database, settings: Settings, folder, version: str) -> None:
    """A copy of the shipped condition model, on record as the candidate ``version``."""
    shutil.copytree(settings.condition_model, folder)
    card = read_card(folder).replace(version=version)
    card.write(folder)
    registry.record_version(db, card, folder)
