"""Per-request files are deleted after their lifetime, so a long-running server keeps no old
uploads or reports (and the public demo keeps no visitor's photos past the hour)."""

import os
import time

from core.settings import Settings
from ui import scratch


def test_a_new_folder_deletes_the_expired_ones_and_keeps_the_rest(tmp_path, monkeypatch):
    monkeypatch.setattr(scratch, "SCRATCH_DIR", tmp_path / "downloads")
    monkeypatch.setattr(scratch, "_pruned_at", {})
    old = scratch.scratch_folder("inspection-report")
    (old / "findings.csv").write_text("image\n")
    recent = scratch.scratch_folder("analysis")
    day_and_a_bit = time.time() - scratch.LIFETIME_S - 60
    os.utime(old, (day_and_a_bit, day_and_a_bit))
    assert scratch.scratch_folder("analysis") and old.exists()  # pruned less than a minute ago
    scratch._pruned_at.clear()  # a minute later
    new = scratch.scratch_folder("inspection-report")
    assert not old.exists() and recent.exists() and new.exists()
    assert new.name.startswith("inspection-report-") and new.parent == tmp_path / "downloads"
    # the demo's hour-long lifetime removes the same folder an hour after it was made
    hour_and_a_bit = time.time() - scratch.DEMO_LIFETIME_S - 60
    os.utime(recent, (hour_and_a_bit, hour_and_a_bit))
    scratch.scratch_folder("inspection-report", scratch.lifetime_s(Settings(demo_mode=True)))
    assert not recent.exists() and new.exists()


def test_gradio_empties_its_cache_on_the_same_lifetime():
    assert scratch.gradio_cache_policy(Settings()) == (4 * 3600, 24 * 3600)
    assert scratch.gradio_cache_policy(Settings(demo_mode=True)) == (600, 3600)


def test_pruning_on_its_own_empties_an_idle_server(tmp_path, monkeypatch):
    monkeypatch.setattr(scratch, "SCRATCH_DIR", tmp_path / "downloads")
    old = scratch.scratch_folder("inspection-report")
    hour_and_a_bit = time.time() - scratch.DEMO_LIFETIME_S - 60
    os.utime(old, (hour_and_a_bit, hour_and_a_bit))
    scratch.prune(scratch.DEMO_LIFETIME_S)  # what keep_pruning runs every 10 minutes in the demo
    assert list((tmp_path / "downloads").iterdir()) == []
