"""Real workers on real services: ``slope worker`` processes taking tasks from Redis
(``TEST_REDIS_URL``, started by ``.ci/services.sh``) and storing into a fresh PostgreSQL
database. Skipped with the reason when Redis is not reachable, unless ``REQUIRE_REDIS`` is set
(CI sets it): then they fail."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT, Settings
from storage.db import Database
from tests.postgres import fresh_postgres_database

STARTED_S = 120  # two workers loading the models on 2 cores


class Cluster:
    """The store, the settings every process shares, and the workers started on them."""

    def __init__(self, db_url: str, data_dir: Path, broker_url: str) -> None:
        self.env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "SLOPE_DATA_DIR": str(data_dir),
            "SLOPE_BROKER_URL": broker_url,
            "SLOPE_TASK_SILENT_S": "2",  # a dead worker's chunk handed on after 2 s of silence
            "SLOPE_CHUNK_PHOTOS": "3",
        }
        self.settings = Settings.from_env(self.env)
        self.db = Database.from_settings(self.settings)
        self.workers: dict[str, subprocess.Popen] = {}
        self.apps: list[subprocess.Popen] = []  # app replicas (tests/distributed/test_replicas.py)
        self.logs = data_dir.parent

    def start_worker(self, name: str, queues: str = "surveys,training") -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("w")
        command = [sys.executable, "-m", "cli", "worker", "--name", name, "--threads", "1", "--queues", queues]
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.workers[name] = process
        return process

    def wait_ready(self) -> None:
        """Every worker loaded its models and listens (Celery logs "ready")."""
        deadline = time.monotonic() + STARTED_S
        for name, process in self.workers.items():
            while "ready." not in (self.logs / f"{name}.log").read_text():
                assert process.poll() is None, (self.logs / f"{name}.log").read_text()[-3000:]
                assert time.monotonic() < deadline, f"worker {name} not ready in {STARTED_S} s"
                time.sleep(0.2)

    def stop(self) -> None:
        processes = [*self.workers.values(), *self.apps]
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        self.db.dispose()


@pytest.fixture
def cluster(broker, tmp_path, monkeypatch):
    monkeypatch.delenv("SLOPE_OBJECT_STORE", raising=False)
    with fresh_postgres_database() as db_url:
        running = Cluster(db_url, tmp_path / "data", broker)
        try:
            yield running
        finally:
            running.stop()
