"""Training jobs in a process of their own: one at a time, followed in the store, cancellable;
a crash or a kill leaves the served models, the labels and the registry folders as they were."""

import os
import signal
import socket
import time
from datetime import timedelta
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT, Settings
from lifecycle.gate import GateRule
from lifecycle.server import register_configured_models
from services import jobs
from services.errors import ServiceError
from services.job_spec import DETECTOR_JOB, JobSpec
from storage import models as m
from storage import registry
from storage import runs as run_store
from storage.db import Database

pytestmark = pytest.mark.slow  # real training, subprocesses or a browser: `pytest -m "not slow"` skips them

CONDITIONS_DIR = PROJECT_ROOT.parent / "shared" / "data" / "slope-conditions"


@pytest.fixture
def store(tmp_path):
    settings = Settings(data_dir=str(tmp_path / "data"))
    db = Database.from_settings(settings)
    register_configured_models(db, settings)
    return settings, db


@pytest.fixture
def conditions(tmp_path):
    """12 real photos with real condition labels (a YOLO folder), so jobs take seconds."""
    folder = tmp_path / "conditions"
    for split in ("train", "val"):
        (folder / split / "images").mkdir(parents=True)
        (folder / split / "labels").mkdir(parents=True)
    for image in sorted((CONDITIONS_DIR / "train" / "images").iterdir())[:12]:
        (folder / "train" / "images" / image.name).write_bytes(image.read_bytes())
        label = CONDITIONS_DIR / "train" / "labels" / f"{image.stem}.txt"
        (folder / "train" / "labels" / label.name).write_text(label.read_text())
    (folder / "data.yaml").write_text((CONDITIONS_DIR / "data.yaml").read_text())
    return folder


def served(db):
    return {kind: registry.served_version(db, kind).name for kind in ("detector", "condition")}


def staging_left(settings):
    return list((Path(settings.data_dir) / "models").glob("*/.staging-*"))


def finetune_job(conditions, steps):
    return JobSpec(
        "condition",
        data=str(conditions),
        dataset={"held_out_fraction": 0.4},
        finetune={"method": "lora", "steps": steps, "batch_size": 4, "eval_every": 1000},
    )


def test_a_quantize_job_runs_in_its_own_process_and_records_its_candidate(store, conditions):
    settings, db = store
    before = served(db)
    run_id = jobs.start_job(
        db,
        settings,
        JobSpec(
            "quantize", data=str(conditions), dataset={"held_out_fraction": 0.4}, quantization="int8", promote=False
        ),
        "ada",
    )
    run = jobs.wait(db, run_id, timeout_s=300)
    assert run.status == "succeeded", run.error
    assert run.pid not in (None, os.getpid())  # it ran in another process
    assert "of the accuracy (needs 99%)" in run.log
    [candidate] = [v for v in registry.versions(db, "condition") if v.quantization == "int8"]
    assert run.produced_version_id == candidate.id
    assert Path(candidate.folder).is_relative_to(Path(settings.data_dir) / "models")  # the job's registry
    assert candidate.status in ("candidate", "rejected") and "accuracy_retention" in candidate.metrics
    assert served(db) == before  # promote was off: nothing changes for the app


def test_jobs_run_one_at_a_time_and_a_cancelled_one_leaves_nothing(store, conditions):
    settings, db = store
    before = served(db)
    run_id = jobs.start_job(db, settings, finetune_job(conditions, steps=400), "ada")
    with pytest.raises(jobs.JobBusyError, match=f"job {run_id} \\(condition\\) is"):
        jobs.start_job(db, settings, JobSpec("quantize"), "bob")
    deadline = time.monotonic() + 240
    while jobs.get_run(db, run_id).progress.get("step", 0) < 2:  # training, not still loading
        assert time.monotonic() < deadline and jobs.get_run(db, run_id).status in jobs.ACTIVE
        time.sleep(0.5)
    jobs.request_cancel(db, run_id)
    run = jobs.wait(db, run_id, timeout_s=120)
    assert run.status == "cancelled"
    assert run.progress["total"] == 400 and run.progress["step"] < 400
    assert [v.name for v in registry.versions(db, "condition")] == [before["condition"]]
    assert staging_left(settings) == []
    assert served(db) == before


def test_a_second_job_is_refused_as_a_service_error_and_records_nothing(store):
    settings, db = store
    busy = run_store.queue_run(db, "condition", {}, "ada")  # queued just now: being started, not orphaned
    with pytest.raises(ServiceError, match=f"job {busy} \\(condition\\) is queued: one job at a time") as refused:
        jobs.start_job(db, settings, JobSpec("quantize"), "bob")
    assert isinstance(refused.value, jobs.JobBusyError)
    assert [run.id for run in jobs.runs(db)] == [busy]


def test_a_crashing_job_fails_with_its_reason(store, tmp_path):
    settings, db = store
    before = served(db)
    run_id = jobs.start_job(db, settings, JobSpec("condition", data=str(tmp_path / "nowhere")), "ada")
    run = jobs.wait(db, run_id, timeout_s=120)
    assert run.status == "failed" and "nowhere" in run.error
    assert served(db) == before and staging_left(settings) == []


def test_a_killed_job_is_marked_failed_at_the_next_start(store, conditions):
    settings, db = store
    before = served(db)
    run_id = jobs.start_job(db, settings, finetune_job(conditions, steps=400), "ada")
    deadline = time.monotonic() + 240
    while jobs.get_run(db, run_id).progress.get("step", 0) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    os.kill(jobs.get_run(db, run_id).pid, signal.SIGKILL)  # as if the machine went down mid-run
    time.sleep(1)
    assert jobs.fail_orphaned_runs(db, settings) == [run_id]
    run = jobs.get_run(db, run_id)
    assert run.status == "failed" and "ended without reporting" in run.error
    assert served(db) == before and staging_left(settings) == []
    jobs.wait(db, jobs.start_job(db, settings, JobSpec("condition", data="/nowhere"), "ada"), timeout_s=120)


def test_a_job_of_another_machine_is_left_to_that_machine(store):
    """App replicas on several machines share the store: a replica cannot see another machine's
    process, so it never fails that machine's job (a pid that means nothing here)."""
    settings, db = store
    run_id = run_store.queue_run(db, "condition", {}, "ada")
    run_store.take_run(db, run_id, 999_999, "another-machine")  # no such process here
    assert jobs.fail_orphaned_runs(db, settings) == []
    assert jobs.get_run(db, run_id).status == "running"
    with pytest.raises(jobs.JobBusyError):  # and it is still the one job at a time
        jobs.start_job(db, settings, JobSpec("condition", data="/nowhere"), "ada")
    with db.write() as session:  # the same run on this machine, its process gone: failed
        session.get(m.TrainingRun, run_id).host = socket.gethostname()
    assert jobs.fail_orphaned_runs(db, settings) == [run_id]


def test_a_job_whose_machine_stopped_saying_it_is_alive_is_failed_from_any_machine(store):
    """A training worker killed with its machine leaves its run 'running', and jobs go one at a
    time: once its beat is older than ``SILENT_S``, any machine fails it and the next job starts."""
    settings, db = store
    run_id = run_store.queue_run(db, "condition", {}, "ada")
    run_store.take_run(db, run_id, 999_999, "a-worker-that-is-gone")
    run_store.beat(db, run_id)
    assert jobs.fail_orphaned_runs(db, settings) == []  # it said so just now
    with db.write() as session:  # ... and then nothing for longer than SILENT_S
        session.get(m.TrainingRun, run_id).beat_at = m.utcnow() - timedelta(seconds=jobs.SILENT_S + 5)
    assert jobs.fail_orphaned_runs(db, settings) == [run_id]
    run = jobs.get_run(db, run_id)
    assert run.status == "failed" and "a-worker-that-is-gone stopped saying it is alive" in run.error
    nxt = jobs.start_job(db, settings, JobSpec("condition", data="/nowhere"), "ada")  # not blocked
    assert jobs.wait(db, nxt, timeout_s=120).status == "failed"  # (no data there: it fails, and ends)


class JobList:
    """A task queue that only remembers the runs it was handed."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.waiting = 0  # the training tasks the broker would say it holds

    def send_job(self, run_id: int) -> None:
        self.sent.append(run_id)

    def jobs_waiting(self) -> int:
        return self.waiting


def test_a_run_whose_task_the_broker_lost_is_sent_again_and_runs_once(store, monkeypatch):
    """Redis restarted without its data: the run queued for a worker would wait for ever, and
    block every later job. Once it has waited ``STARTING_S`` with no training task in the broker,
    it is sent again; a second copy of its task finds it taken and does nothing."""
    settings, db = store
    queue = JobList()
    run_id = jobs.start_job(db, settings, JobSpec("condition", data="/nowhere"), "ada", queue=queue)
    queue.sent.clear()
    assert jobs.send_again_lost_jobs(db, queue) == []  # just sent: a worker may be taking it
    with db.write() as session:
        row = session.get(m.TrainingRun, run_id)
        row.created_at = row.created_at - timedelta(seconds=jobs.STARTING_S + 1)
    queue.waiting = 1
    assert jobs.send_again_lost_jobs(db, queue) == []  # its task is in the broker: no training worker yet
    queue.waiting = 0
    assert jobs.send_again_lost_jobs(db, queue) == [run_id] == queue.sent
    monkeypatch.setitem(jobs.JOBS, "condition", f"{__name__}:_a_second_of_work")
    assert jobs.run_job(db, settings, run_id) == "succeeded"
    with pytest.raises(RuntimeError, match="not queued"):  # the lost task, had it come back after all
        jobs.run_job(db, settings, run_id)
    assert jobs.send_again_lost_jobs(db, queue) == []


def _a_lost_file(spec, context):
    raise FileNotFoundError(2, "No such file or directory", "/srv/slope/data/images/3a/3a13.jpg")


def test_an_unforeseen_failure_is_a_sentence_not_its_text_and_a_refusal_stays_as_written(store, monkeypatch):
    """The Train tab shows a run's error: a server path or SQL must not reach it."""
    settings, db = store
    monkeypatch.setitem(jobs.JOBS, "condition", f"{__name__}:_a_lost_file")
    run_id = run_store.queue_run(db, "condition", {}, "ada")
    assert jobs.run_job(db, settings, run_id) == "failed"
    error = jobs.get_run(db, run_id).error
    assert error.startswith("something went wrong on the server (error ") and "/srv" not in error
    run_id = jobs.start_job(db, settings, JobSpec("condition", data="/nowhere"), "ada")
    assert jobs.wait(db, run_id, timeout_s=120).error == "/nowhere is not a YOLO folder (it has no data.yaml)"


BEATS_SEEN: list = []


def _a_second_of_work(spec, context):
    """A job (``JOBS`` entry in the test below) that reads its run's beat every 0.1 s for a second."""
    for _ in range(10):
        BEATS_SEEN.append(jobs.get_run(context.db, context.run_id).beat_at)
        time.sleep(0.1)


def test_a_running_job_says_it_is_alive_while_it_runs(store, monkeypatch):
    settings, db = store
    monkeypatch.setattr(jobs, "BEAT_S", 0.2)
    monkeypatch.setitem(jobs.JOBS, "condition", f"{__name__}:_a_second_of_work")
    BEATS_SEEN.clear()
    run_id = run_store.queue_run(db, "condition", {}, "ada")
    assert jobs.run_job(db, settings, run_id) == "succeeded"
    assert len(set(BEATS_SEEN)) >= 3  # taken, then a beat every 0.2 s during the second it ran


def test_unknown_kinds_and_bad_settings_are_refused_before_anything_is_recorded():
    with pytest.raises(ValueError, match="unknown job kind 'gpu'"):
        JobSpec("gpu")
    with pytest.raises(ValueError, match="margin must be a number from 0"):
        JobSpec("condition", gate={"margin": float("nan")})
    with pytest.raises(ValueError, match="GateRule has no field min_objects"):
        JobSpec("condition", gate={"min_objects": 3})
    with pytest.raises(ValueError, match="quantization must be one of int8, nf4"):
        JobSpec("quantize", quantization="int4")


def test_a_spec_round_trips_through_its_run_row_and_refuses_unknown_fields():
    spec = JobSpec("condition", finetune={"steps": 5}, gate={"margin": 0.01, "min_per_type": 20}, promote=True)
    assert JobSpec.from_dict("condition", spec.to_dict()) == spec
    assert spec.gate_rule() == GateRule(margin=0.01, min_per_type=20)
    assert "kind" not in spec.to_dict()  # the row's own column says it
    with pytest.raises(ValueError, match="unknown fields: hourz"):
        JobSpec.from_dict("detector", {"hourz": 1})


def test_a_job_never_promotes_unless_asked_and_a_detector_is_judged_on_map50():
    assert JobSpec("condition").promote is False and JobSpec("detector").promote is False
    assert JobSpec("detector", gate={"metric": "accuracy"}).gate_rule().metric == "map50"
    assert JobSpec("condition").gate_rule() == GateRule()


def test_a_detector_job_has_its_short_defaults_in_one_place_and_takes_only_its_fields():
    assert JobSpec("detector").detector_settings() == DETECTOR_JOB
    given = JobSpec("detector", detector={"hours": 0.5, "imgsz": 64})
    assert given.detector_settings() == {**DETECTOR_JOB, "hours": 0.5, "imgsz": 64}
    assert JobSpec.from_dict("detector", given.to_dict()) == given
    with pytest.raises(ValueError, match="hours must be a positive number"):
        JobSpec("detector", detector={"hours": 0})
    with pytest.raises(ValueError, match="a detector job takes hours, epochs, imgsz, batch, workers, not data_dir"):
        JobSpec("detector", detector={"data_dir": "/elsewhere"})


def test_settings_a_spec_is_given_are_checked_by_their_dataclasses_when_it_is_made():
    with pytest.raises(ValueError, match="FinetuneSettings has no field stepz"):
        JobSpec("condition", finetune={"stepz": 5})
    with pytest.raises(ValueError, match="method must be one of"):
        JobSpec("condition", finetune={"method": "magic"})
    with pytest.raises(ValueError, match="held_out_fraction must be between 0 and 1"):
        JobSpec("condition", dataset={"held_out_fraction": 2})
    spec = JobSpec("condition", finetune={"steps": 7})
    settings = spec.finetune_settings(use_class_weights=False, steps=1)  # the given value wins over the job's
    assert (settings.steps, settings.use_class_weights) == (7, False)
