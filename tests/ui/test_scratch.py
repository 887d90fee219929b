"""Per-request files are deleted after their lifetime, so a long-running server keeps no old
uploads or reports (and the public demo keeps no visitor's photos past the hour)."""

import os
import shutil
import time
from pathlib import Path

import gradio as gr
from gradio.route_utils import delete_files_created_by_app

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


def test_gradio_empties_its_cache_within_the_lifetime_before_the_folders_go():
    assert scratch.gradio_cache_policy(Settings()) == (2 * 3600, 18 * 3600)
    assert scratch.gradio_cache_policy(Settings(demo_mode=True)) == (300, 2700)
    for settings in (Settings(), Settings(demo_mode=True)):
        every, age = scratch.gradio_cache_policy(settings)
        assert age + every < scratch.lifetime_s(settings)  # every file it tracks, gone before its folder


def test_a_file_handed_out_is_deleted_and_forgotten_by_gradio_then_its_folder_goes(tmp_path, monkeypatch):
    """Gradio keeps the path of every file it handed out until its own cleanup deletes it; a file
    deleted under it stays in its sets for ever (a busy server's memory grows with every answer)."""
    monkeypatch.setattr(scratch, "SCRATCH_DIR", tmp_path / "cache" / "downloads")
    with gr.Blocks() as demo:
        report = gr.File()
    report.GRADIO_CACHE = str(tmp_path / "cache")  # the scratch folder is in Gradio's cache, as served
    kept, gone = scratch.scratch_folder("kept"), scratch.scratch_folder("gone")
    for folder in (kept, gone):
        (folder / "findings.csv").write_text("image\n")
        assert report.move_resource_to_block_cache(folder / "findings.csv") == str(folder / "findings.csv")

    def tracked():
        return {Path(path).parent for files in demo.temp_file_sets for path in files}

    assert tracked() == {kept, gone}
    # Deleted by us first (what the folders' pruning did before Gradio's cleanup came): remembered for ever
    shutil.rmtree(gone)
    delete_files_created_by_app(demo, 0)
    assert tracked() == {gone}
    # Gradio's cleanup first, then the folder's pruning: deleted and forgotten
    assert not (kept / "findings.csv").exists()
    long_ago = time.time() - scratch.LIFETIME_S - 60
    os.utime(kept, (long_ago, long_ago))
    scratch.prune(scratch.LIFETIME_S)
    assert not kept.exists()


def test_pruning_on_its_own_empties_an_idle_server(tmp_path, monkeypatch):
    monkeypatch.setattr(scratch, "SCRATCH_DIR", tmp_path / "downloads")
    old = scratch.scratch_folder("inspection-report")
    hour_and_a_bit = time.time() - scratch.DEMO_LIFETIME_S - 60
    os.utime(old, (hour_and_a_bit, hour_and_a_bit))
    scratch.prune(scratch.DEMO_LIFETIME_S)  # what keep_pruning runs every 10 minutes in the demo
    assert list((tmp_path / "downloads").iterdir()) == []
