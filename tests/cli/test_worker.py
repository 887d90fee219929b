"""``slope worker RUN_ID``: what the job runner starts for a queued job (``python -m cli worker``)."""

import pytest

from cli.main import main


@pytest.mark.parametrize("status, code", [("succeeded", 0), ("failed", 1), ("cancelled", 1)])
def test_the_worker_runs_the_job_and_exits_by_its_status(status, code, tmp_path, monkeypatch):
    monkeypatch.setenv("SLOPE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("core.offline.prepare_offline", lambda: None)
    calls = []

    def run_job(db, settings, run_id):
        calls.append((str(settings.data_dir), run_id))
        return status

    monkeypatch.setattr("services.jobs.run_job", run_job)
    assert main(["worker", "7"]) == code
    assert calls == [(str(tmp_path), 7)]
