"""The registry's use cases: a version recorded from its card, judged by its gate, promoted and
rolled back with who and why kept on its record."""

import shutil

import pytest

from core.model_card import read_card
from core.settings import Settings
from core.statuses import ModelStatus
from lifecycle import registry
from lifecycle.server import CONFIGURATION, register_configured_models
from storage.db import Database
from storage.errors import NotFoundError, ServedChanged


@pytest.fixture
def store(tmp_path):
    """A fresh store serving the shipped models, as the app's first start leaves it."""
    settings = Settings(data_dir=str(tmp_path / "data"))
    register_configured_models(db := Database.from_settings(settings), settings)
    return settings, db


def published(settings: Settings, tmp_path, version: str):
    """A condition-model folder with its card, as a training run publishes it."""
    folder = tmp_path / "registry" / "condition" / version
    shutil.copytree(settings.condition_model, folder)
    read_card(folder).replace(version=version, parent=read_card(settings.condition_model).version).write(folder)
    return folder


def test_a_version_is_recorded_from_its_card_as_a_candidate_once(store, tmp_path):
    settings, db = store
    folder = published(settings, tmp_path, "condition-tiny-a")
    card = registry.record(db, folder, quantization="int8")
    assert card.version == "condition-tiny-a"
    assert registry.record(db, folder).version == card.version  # again: nothing changes
    row = registry.find_version(db, "condition-tiny-a")
    assert (row.status, row.quantization, row.folder) == (ModelStatus.CANDIDATE, "int8", str(folder))
    assert [v.name for v in registry.status(db).candidates] == ["condition-tiny-a"]
    with pytest.raises(FileNotFoundError, match="no card.json"):
        registry.record(db, tmp_path)


def test_the_gate_keeps_its_figures_and_rejects_what_it_fails(store, tmp_path):
    settings, db = store
    for name, passed in (("condition-tiny-pass", True), ("condition-tiny-fail", False)):
        registry.record(db, published(settings, tmp_path, name))
        registry.judge(db, "condition", name, passed, {"gate": f"{name} judged"})
    assert registry.find_version(db, "condition-tiny-pass").status == ModelStatus.CANDIDATE
    failed = registry.find_version(db, "condition-tiny-fail")
    assert failed.status == ModelStatus.REJECTED and failed.metrics["gate"] == "condition-tiny-fail judged"
    assert [v.name for v in registry.status(db).candidates] == ["condition-tiny-pass"]


def test_promote_and_rollback_record_who_and_why(store, tmp_path):
    settings, db = store
    shipped = registry.served_version(db, "condition")
    assert (shipped.served_by, shipped.status) == (CONFIGURATION, ModelStatus.SERVED)
    registry.record(db, published(settings, tmp_path, "condition-tiny-b"))

    row = registry.promote(db, "condition", "condition-tiny-b", actor="ada", reason="passed its gate")
    assert (row.name, row.served_by, row.served_reason) == ("condition-tiny-b", "ada", "passed its gate")
    assert registry.status(db).served["condition"].name == "condition-tiny-b"
    assert registry.find_version(db, shipped.name).status == ModelStatus.RETIRED

    back = registry.rollback(db, "condition", actor="bob", reason="worse on the new survey")
    assert (back.name, back.served_by, back.served_reason) == (shipped.name, "bob", "worse on the new survey")
    assert registry.find_version(db, "condition-tiny-b").status == ModelStatus.RETIRED
    status = registry.status(db)
    assert {kind: v.name for kind, v in status.served.items()}["condition"] == shipped.name


def test_every_change_of_the_served_model_is_an_event_with_its_gate_report(store, tmp_path):
    settings, db = store
    shipped = registry.served_version(db, "condition").name
    registry.record(db, published(settings, tmp_path, "condition-tiny-c"))
    registry.judge(db, "condition", "condition-tiny-c", True, {"gate": "Passed: x", "gate_report": "Passed: x\ny"})
    registry.promote(db, "condition", "condition-tiny-c", actor="ada", reason="better on blocked drains")
    registry.rollback(db, "condition", actor="bob", reason="slower on the laptop")
    back, forward, *configured = registry.events(db)
    assert (forward.action, forward.from_version, forward.to_version) == ("promoted", shipped, "condition-tiny-c")
    assert (forward.actor, forward.reason, forward.gate_report) == ("ada", "better on blocked drains", "Passed: x\ny")
    assert (back.action, back.from_version, back.to_version, back.actor) == (
        "rolled back",
        "condition-tiny-c",
        shipped,
        "bob",
    )
    assert back.at >= forward.at
    # The first start put the shipped models into service: on record too.
    assert {(e.kind, e.action, e.from_version) for e in configured} == {
        ("condition", "configured", None),
        ("detector", "configured", None),
    }


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_change_without_a_reason_is_refused_and_changes_nothing(store, tmp_path, reason):
    settings, db = store
    shipped = registry.served_version(db, "condition").name
    registry.record(db, published(settings, tmp_path, "condition-tiny-d"))
    with pytest.raises(ValueError, match="needs a reason"):
        registry.promote(db, "condition", "condition-tiny-d", actor="ada", reason=reason)
    with pytest.raises(ValueError, match="needs a reason"):
        registry.rollback(db, "condition", actor="ada", reason=reason)
    assert registry.served_version(db, "condition").name == shipped
    assert len(registry.events(db)) == 2  # the two configured at start


def test_nothing_to_roll_back_to_and_unknown_versions_are_refused(store):
    _, db = store
    with pytest.raises(NotFoundError, match="nothing to roll back to"):
        registry.rollback(db, "detector", actor="ada", reason="why not")
    with pytest.raises(NotFoundError, match="no condition version named 'nope'"):
        registry.promote(db, "condition", "nope", actor="ada", reason="why not")


def test_a_promotion_replacing_a_named_version_is_refused_once_another_serves(store, tmp_path):
    """What a job uses: its candidate replaces only the version it was compared with; the admin's
    preview says so too when another serves by now."""
    from ui.promotion_panel import preview

    settings, db = store
    shipped = registry.served_version(db, "condition")
    for name in ("condition-tiny-c", "condition-tiny-d"):
        registry.record(db, published(settings, tmp_path, name))
    registry.judge(db, "condition", "condition-tiny-d", True, {"gate": "Passed", "compared_with": shipped.name})
    registry.promote(db, "condition", "condition-tiny-c", actor="ada", reason="by hand", replacing=shipped.name)
    events = len(registry.events(db))
    with pytest.raises(ServedChanged, match=f"condition-tiny-c is served now, not {shipped.name}"):
        registry.promote(db, "condition", "condition-tiny-d", actor="job", reason="passed", replacing=shipped.name)
    assert registry.served_version(db, "condition").name == "condition-tiny-c"
    assert len(registry.events(db)) == events  # nothing recorded for the refused one
    warning = f"compared it with `{shipped.name}`, not with `condition-tiny-c`"
    assert warning in preview(db, "condition condition-tiny-d")
