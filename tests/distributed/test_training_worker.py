"""A training job on a worker of the ``training`` queue: the app records it and sends it over
Redis; the worker (another data folder: another machine) fine-tunes, publishes the candidate and
puts it in the S3 bucket (real SeaweedFS); promoted, the app serves it, fetched from the bucket."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from core.settings import Settings
from lifecycle import registry
from lifecycle.server import ModelServer, register_configured_models
from services import jobs
from services.tasks import CeleryQueue
from storage.blobs import blobs_for, model_key
from tests.services.test_jobs import conditions, finetune_job  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow


def test_a_training_job_on_a_worker_is_published_to_the_bucket_and_served_by_the_app(
    cluster,
    in_bucket,
    s3_endpoint,
    conditions,  # noqa: F811  (the fixture imported above)
    tmp_path,
    monkeypatch,
):
    for name in ("SLOPE_OBJECT_STORE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        cluster.env[name] = os.environ[name]
    cluster.env["SLOPE_DATA_DIR"] = str(tmp_path / "worker-machine")
    app = Settings.from_env({**cluster.env, "SLOPE_DATA_DIR": str(tmp_path / "app-machine")})
    register_configured_models(cluster.db, app)
    worker = cluster.start_worker("trainer", queues="training")
    cluster.wait_ready()

    run_id = jobs.start_job(cluster.db, app, finetune_job(conditions, steps=4), "ada", CeleryQueue(app))
    run = jobs.wait(cluster.db, run_id, timeout_s=400)
    assert run.status == "succeeded", (run.error, run.log[-2000:])
    assert (run.pid, run.host) == (worker.pid, socket.gethostname())  # it ran in the worker
    version = registry.status(cluster.db).candidates[0].name
    candidate = Path(registry.status(cluster.db).candidates[0].folder)
    assert str(tmp_path / "worker-machine") in str(candidate)  # published on the worker's disk
    monkeypatch.setenv("SLOPE_DATA_DIR", app.data_dir)
    assert blobs_for(app.data_dir)._exists(f"{model_key('condition', version)}/card.json")

    shutil.rmtree(candidate)  # the app's machine never had that disk
    registry.promote(cluster.db, "condition", version, actor="ada", reason="trained on a worker")
    served = ModelServer(app, cluster.db).inspector()
    assert served.models["condition"] == version and "object-cache" in served.condition_model.source
