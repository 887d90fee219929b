"""The improvement use cases end to end, in-process: reviewed labels in the store -> candidate ->
gate against the served model -> recorded, and served only when it passes."""

import shutil
from pathlib import Path

import pytest

from core.model_card import read_card
from core.settings import PROJECT_ROOT, Settings
from core.statuses import ModelStatus, RunStatus
from lifecycle import registry as lifecycle_registry
from lifecycle.gate import FAILED, PASSED, TOO_FEW, Evidence, GateRule, decide
from lifecycle.server import register_configured_models
from services.improve import _conclude, improve_condition, improve_detector, quantize_version
from services.job_spec import JobSpec
from services.jobs import JobContext
from storage import models as m
from storage import registry
from storage.db import Database
from storage.formats.yolo_import import import_yolo_folder
from storage.users import add_user, update_user

pytestmark = pytest.mark.slow  # real training, subprocesses or a browser: `pytest -m "not slow"` skips them

SHARED = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture
def reviewed_store(tmp_path):
    """A store holding a few real photos with reviewed boxes and real conditions."""
    settings = Settings(data_dir=str(tmp_path / "data"))
    db = Database.from_settings(settings)
    register_configured_models(db, settings)
    folder = tmp_path / "conditions"
    source = SHARED / "slope-conditions"
    for split, count in (("train", 10), ("val", 4)):
        for sub in ("images", "labels"):
            (folder / split / sub).mkdir(parents=True)
        for image in sorted((source / split / "images").iterdir())[:count]:
            (folder / split / "images" / image.name).write_bytes(image.read_bytes())
            label = f"{image.stem}.txt"
            (folder / split / "labels" / label).write_text((source / split / "labels" / label).read_text())
    (folder / "data.yaml").write_text((source / "data.yaml").read_text())
    import_yolo_folder(db, settings.data_dir, folder)
    add_user(db, "ada", "admin", "a long password")  # who starts the jobs
    with db.write() as session:
        run = m.TrainingRun(kind="condition", status=RunStatus.RUNNING, settings={}, log="", created_by="ada")
        session.add(run)
        session.flush()
        run_id = run.id
    return settings, db, JobContext(db, settings, run_id, actor="ada")


def test_too_few_reviewed_objects_are_not_judged_and_nothing_is_served(reviewed_store):
    """14 reviewed photos fall short of the default minimums even all together: the candidate is
    kept, not judged, and not served although the job asked to promote what passes."""
    settings, db, context = reviewed_store
    shipped = registry.served_version(db, "condition").name
    job = JobSpec(
        "condition",
        promote=True,
        dataset={"held_out_fraction": 0.15},
        finetune={"method": "full", "steps": 3, "batch_size": 4},
    )
    version = improve_condition(job, context)
    record = next(v for v in registry.versions(db, "condition") if v.name == version)
    assert record.status == ModelStatus.CANDIDATE and record.metrics["gate_verdict"] == TOO_FEW
    assert record.metrics["gate"].startswith("Too few to judge, not served")
    assert "no folds: even every reviewed photo together falls short" in db_log(db, context)
    assert "kept as a candidate, not judged" in db_log(db, context)
    assert Path(record.folder).parent == Path(settings.data_dir) / "models" / "condition"  # the job's registry
    assert registry.served_version(db, "condition").name == shipped


def test_a_small_held_out_split_is_judged_by_folds_over_every_photo(reviewed_store):
    settings, db, context = reviewed_store
    shipped = registry.served_version(db, "condition").name
    job = JobSpec(
        "condition",
        promote=True,
        dataset={"held_out_fraction": 0.15},  # 2 of 14 photos: short of 4
        finetune={"method": "full", "steps": 3, "batch_size": 4},
        gate={"min_photos": 4, "min_per_condition": 2, "min_per_type": 2, "folds": 3},
    )
    version = improve_condition(job, context)
    log = db_log(db, context)
    assert "fold 2 of 3" in log and "fold 3 of 3" in log
    record = next(v for v in registry.versions(db, "condition") if v.name == version)
    assert record.metrics["gate_verdict"] in (PASSED, FAILED)  # judged, this time
    report = record.metrics["gate_report"]
    assert "held-out real objects, each held out once in 3 folds on 14 photos" in report
    assert {"candidate_macro_f1", "served_macro_f1", "type_prior_macro_f1", "difference_low"} <= set(record.metrics)
    passed = record.metrics["gate_verdict"] == PASSED
    assert registry.served_version(db, "condition").name == (version if passed else shipped)


@pytest.mark.parametrize("promote", [False, True])
def test_a_passed_candidate_waits_for_a_person_unless_the_job_may_promote(reviewed_store, tmp_path, promote):
    settings, db, context = reviewed_store
    shipped = registry.served_version(db, "condition")
    folder = tmp_path / "candidate"
    shutil.copytree(shipped.folder, folder)
    read_card(folder).replace(version="condition-better", parent=shipped.name).write(folder)
    lifecycle_registry.record(db, folder)
    evidence = Evidence("60 held-out real objects on 20 photos", 20)
    decision = decide(GateRule(min_per_condition=0, min_per_type=0), evidence, 0.7, 0.5, lambda sample: 0.2)
    assert decision.passed
    _conclude(context, "condition", "condition-better", decision, JobSpec("condition", promote=promote), shipped.name)
    served = registry.served_version(db, "condition")
    if promote:
        assert (served.name, served.served_by) == ("condition-better", "ada")  # who started the job
        event = lifecycle_registry.events(db)[0]
        assert (event.action, event.from_version, event.to_version) == ("promoted", shipped.name, "condition-better")
        assert event.reason.startswith(f"job {context.run_id} asked to serve what passes its gate: Passed")
        assert event.gate_report.startswith("Passed: better than the served model beyond chance")
    else:
        assert served.name == shipped.name
        assert "waits for a person to serve it" in db_log(db, context)


def test_a_job_never_replaces_a_version_its_candidate_was_not_compared_with(reviewed_store, tmp_path):
    """A person served another version while the job ran (jobs take hours): the candidate beat
    only the one served when it started, so it waits for a person rather than replacing this one."""
    settings, db, context = reviewed_store
    shipped = registry.served_version(db, "condition")
    for name in ("condition-by-a-person", "condition-better"):
        shutil.copytree(shipped.folder, tmp_path / name)
        read_card(tmp_path / name).replace(version=name, parent=shipped.name).write(tmp_path / name)
        lifecycle_registry.record(db, tmp_path / name)
    lifecycle_registry.promote(db, "condition", "condition-by-a-person", actor="root", reason="served by hand")
    decision = decide(
        GateRule(min_per_condition=0, min_per_type=0), Evidence("60 objects", 20), 0.7, 0.5, lambda s: 0.2
    )
    _conclude(context, "condition", "condition-better", decision, JobSpec("condition", promote=True), shipped.name)
    assert registry.served_version(db, "condition").name == "condition-by-a-person"
    better = registry.find_version(db, "condition-better")
    assert (better.status, better.metrics["compared_with"]) == (ModelStatus.CANDIDATE, shipped.name)
    assert f"passed its gate against {shipped.name}, but condition-by-a-person is served now" in db_log(db, context)


def test_a_job_whose_starter_is_no_longer_an_admin_serves_nothing(reviewed_store, tmp_path):
    """An admin started a job that may promote, and was disabled while it ran: it passes, waits."""
    settings, db, context = reviewed_store
    add_user(db, "root", "admin", "a long password")  # the store keeps an enabled admin
    update_user(db, "ada", disabled=True)
    shipped = registry.served_version(db, "condition")
    shutil.copytree(shipped.folder, tmp_path / "condition-better")
    read_card(tmp_path / "condition-better").replace(version="condition-better").write(tmp_path / "condition-better")
    lifecycle_registry.record(db, tmp_path / "condition-better")
    decision = decide(
        GateRule(min_per_condition=0, min_per_type=0), Evidence("60 objects", 20), 0.7, 0.5, lambda s: 0.2
    )
    _conclude(context, "condition", "condition-better", decision, JobSpec("condition", promote=True), shipped.name)
    assert registry.served_version(db, "condition").name == shipped.name
    assert "condition-better passed its gate, not served: Account 'ada' is disabled" in db_log(db, context)


def test_a_quantized_copy_of_a_rejected_version_is_rejected_and_not_served(reviewed_store, tmp_path):
    settings, db, context = reviewed_store
    shipped = registry.served_version(db, "condition")
    shutil.copytree(shipped.folder, tmp_path / "condition-worse")
    read_card(tmp_path / "condition-worse").replace(version="condition-worse").write(tmp_path / "condition-worse")
    lifecycle_registry.record(db, tmp_path / "condition-worse")
    lifecycle_registry.judge(db, "condition", "condition-worse", False, {"gate": "Failed: worse than the served"})
    job = JobSpec("quantize", version="condition-worse", quantization="int8", promote=True)
    copy = registry.find_version(db, quantize_version(job, context))
    assert (copy.status, copy.metrics["compared_with"]) == (ModelStatus.REJECTED, "condition-worse")
    assert copy.metrics["gate"].endswith("but condition-worse was rejected by its gate")
    assert registry.served_version(db, "condition").name == shipped.name


def test_a_detector_job_with_too_few_held_out_photos_is_refused_before_training(reviewed_store):
    settings, db, context = reviewed_store
    job = JobSpec("detector", detector={"hours": 0.001, "epochs": 1, "imgsz": 64, "batch": 4, "workers": 0})
    with pytest.raises(ValueError, match="too few to judge: [0-9] held-out reviewed photos, the gate needs 10"):
        improve_detector(job, context)
    assert [v.status for v in registry.versions(db, "detector")] == [ModelStatus.SERVED]  # nothing trained


def test_a_detector_candidate_is_measured_against_the_served_one_on_held_out_photos(reviewed_store):
    settings, db, context = reviewed_store
    shipped = registry.served_version(db, "detector").name
    job = JobSpec(
        "detector",
        promote=True,
        detector={"hours": 0.001, "epochs": 1, "imgsz": 64, "batch": 4, "workers": 0},
        gate={"min_photos": 1},
    )
    version = improve_detector(job, context)
    record = next(v for v in registry.versions(db, "detector") if v.name == version)
    assert {"candidate_map50", "served_map50", "gate_report"} <= set(record.metrics)
    assert "reviewed boxes on" in record.metrics["gate_report"]
    assert Path(record.folder).parent == Path(settings.data_dir) / "models" / "detector"  # the job's registry
    passed = record.metrics["gate_verdict"] == PASSED
    assert record.status == (ModelStatus.SERVED if passed else ModelStatus.REJECTED)
    assert registry.served_version(db, "detector").name == (version if passed else shipped)


def db_log(db, context) -> str:
    with db.read() as session:
        return session.get(m.TrainingRun, context.run_id).log
