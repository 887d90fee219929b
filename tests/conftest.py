"""Shared fixtures: the shipped default models (loaded once per session) and the real data."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.offline import prepare_offline
from core.settings import PROJECT_ROOT, Settings

prepare_offline()

DATA_DIR = PROJECT_ROOT.parent / "shared" / "data" / "slopes"
# The per-finding JSON contract of the CLI and ``Inspection.as_dict`` (issue 2).
FINDING_KEYS = {"object_type", "condition", "class_name", "confidence", "condition_probs", "box_xyxy", "relations"}
VAL_IMAGES = sorted((DATA_DIR / "val" / "images").glob("*.jpg"))


@pytest.fixture(autouse=True)
def cheaper_password_hashes(monkeypatch):
    """Real scrypt at a cost a test suite can afford (hundreds of accounts are made): the
    production cost is checked by its own test. Apps started as subprocesses keep the real one."""
    import storage.users

    monkeypatch.setattr(storage.users, "SCRYPT_COST", (2**10, 8, 1))


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def detector(settings):
    from core.detector import Detector

    return Detector(settings.detector_model, conf=settings.detector_conf, iou=settings.detector_iou)


@pytest.fixture(scope="session")
def condition_model(settings):
    from core.conditions import ConditionModel

    return ConditionModel(settings.condition_model)


@pytest.fixture(scope="session")
def inspector(detector, condition_model):
    from core.pipeline import Inspector

    return Inspector(detector, condition_model)


@pytest.fixture(scope="session")
def val_images() -> list[Path]:
    if not VAL_IMAGES:
        pytest.fail(f"the real val photos are missing from {DATA_DIR}")
    return VAL_IMAGES


@pytest.fixture(autouse=True)
def _downloads_in_a_test_folder(tmp_path_factory, monkeypatch):
    """Reports and plots the app hands to browsers go to a test folder, not the machine's."""
    from ui import scratch

    monkeypatch.setattr(scratch, "SCRATCH_DIR", tmp_path_factory.getbasetemp() / "downloads")
