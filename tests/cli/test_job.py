"""``slope job RUN_ID``: what the job runner starts for a recorded job (``python -m cli job``)."""

import pytest

from cli.main import main


@pytest.mark.parametrize("status, code", [("succeeded", 0), ("failed", 1), ("cancelled", 1)])
def test_slope_job_runs_the_job_and_exits_by_its_status(status, code, tmp_path, monkeypatch):
    monkeypatch.setenv("SLOPE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("core.offline.prepare_offline", lambda: None)
    calls = []

    def run_job(db, settings, run_id):
        calls.append((str(settings.data_dir), run_id))
        return status

    monkeypatch.setattr("services.jobs.run_job", run_job)
    assert main(["job", "7"]) == code
    assert calls == [(str(tmp_path), 7)]


def test_slope_worker_without_a_broker_says_what_to_set(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SLOPE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SLOPE_BROKER_URL", raising=False)
    assert main(["worker"]) == 2
    assert "set SLOPE_BROKER_URL" in capsys.readouterr().err


def test_slope_worker_takes_only_the_queues_there_are(capsys):
    with pytest.raises(SystemExit):
        main(["worker", "--queues", "surveys,gpu"])
    assert "give surveys, training, or surveys,training" in capsys.readouterr().err
