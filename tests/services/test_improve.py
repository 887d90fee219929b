"""The improvement use cases end to end, in-process: reviewed labels in the store -> candidate ->
gate against the served model -> recorded, and served only when it passes."""

from dataclasses import replace
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT, Settings
from core.statuses import ModelStatus, RunStatus
from lifecycle.server import ModelServer, register_configured_models
from services.improve import improve_condition, improve_detector
from services.job_spec import JobSpec
from services.jobs import JobContext
from storage import models as m
from storage import registry
from storage.db import Database
from storage.formats.yolo_import import import_yolo_folder

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
    with db.write() as session:
        run = m.TrainingRun(kind="condition", status=RunStatus.RUNNING, settings={}, log="", created_by="ada")
        session.add(run)
        session.flush()
        run_id = run.id
    return settings, db, JobContext(db, settings, run_id, actor="ada")


def test_a_condition_candidate_is_gated_recorded_and_served_only_if_it_passes(reviewed_store):
    settings, db, context = reviewed_store
    shipped = registry.served_version(db, "condition").name
    job = JobSpec(
        "condition",
        dataset={"held_out_fraction": 0.4},
        finetune={"method": "full", "steps": 3, "batch_size": 4},
        margin=1.0,  # any candidate passes: this test is about what happens then
    )
    version = improve_condition(job, context)
    record = next(v for v in registry.versions(db, "condition") if v.name == version)
    assert set(record.metrics) >= {"candidate_macro_f1", "served_macro_f1", "baseline_macro_f1", "gate"}
    assert record.metrics["gate"].startswith("PASSED")
    assert Path(record.folder).parent == Path(settings.data_dir) / "models" / "condition"  # the job's registry
    served = registry.served_version(db, "condition")
    assert (served.name, served.served_by) == (version, "ada")  # who started the job promoted it
    assert served.served_reason.startswith(f"job {context.run_id} passed its gate: PASSED")
    assert ModelServer(settings, db).inspector().condition_model.version == version
    assert "promoted: served from the next request on" in db_log(db, context)
    assert "too few to judge a model by" not in db_log(db, context)  # 33 held-out objects

    registry.serve(db, "condition", shipped, "test", "a test")
    # must beat served by 1.0: impossible; and on 2 held-out photos, which the log warns of
    version = improve_condition(replace(job, margin=-1.0, dataset={"held_out_fraction": 0.15}), context)
    assert "too few to judge a model by" in db_log(db, context)
    record = next(v for v in registry.versions(db, "condition") if v.name == version)
    assert record.status == ModelStatus.REJECTED and record.metrics["gate"].startswith("FAILED")
    assert registry.served_version(db, "condition").name == shipped


def test_a_detector_candidate_is_measured_against_the_served_one_on_held_out_photos(reviewed_store):
    settings, db, context = reviewed_store
    shipped = registry.served_version(db, "detector").name
    version = improve_detector(
        JobSpec("detector", detector={"hours": 0.001, "epochs": 1, "imgsz": 64, "batch": 4, "workers": 0}), context
    )
    record = next(v for v in registry.versions(db, "detector") if v.name == version)
    assert {"candidate_map50", "served_map50"} <= set(record.metrics)
    assert Path(record.folder).parent == Path(settings.data_dir) / "models" / "detector"  # the job's registry
    passed = record.metrics["candidate_map50"] >= record.metrics["served_map50"]
    assert record.status == (ModelStatus.SERVED if passed else ModelStatus.REJECTED)
    assert registry.served_version(db, "detector").name == (version if passed else shipped)


def db_log(db, context) -> str:
    with db.read() as session:
        return session.get(m.TrainingRun, context.run_id).log
