"""The Review tab's export panel: reviewers and admins download the reviewed labels of one
survey or of the whole store, in the format a training tool wants."""

from __future__ import annotations

import shutil
from pathlib import Path

import gradio as gr

from services.export import FORMATS, export_zip
from storage.db import Database
from storage.images import survey_names
from ui.access import guard, refusals_shown, said_in
from ui.scratch import made_private, private_folder

WHOLE_STORE = "(the whole store)"
EXPORTS = private_folder("slope-exports")
EXPORTS_KEPT = 10  # the newest exports stay on disk; Gradio serves its own copy of each


def build_export_panel(db: Database, data_dir: str | Path) -> None:
    reviewer = guard(db, "reviewer")
    with gr.Accordion("Export reviewed labels", open=False) as panel:
        with gr.Row():
            survey = gr.Dropdown([WHOLE_STORE], value=WHOLE_STORE, label="Survey", elem_id="export-survey")
            fmt = gr.Dropdown(list(FORMATS), value=next(iter(FORMATS)), label="Format", elem_id="export-format")
            button = gr.Button("Export (zip)", elem_id="export-run")
        download = gr.File(label="Download", interactive=False, elem_id="export-file")
        message = gr.Markdown(elem_id="export-message")

    def surveys(request: gr.Request):
        reviewer(request)
        return gr.update(choices=[WHOLE_STORE, *survey_names(db)])

    def run(chosen_survey, choice, request: gr.Request):
        reviewer(request)
        made_private(EXPORTS)
        _prune(EXPORTS, EXPORTS_KEPT - 1)
        with refusals_shown():
            archive, line = export_zip(
                db, data_dir, choice, None if chosen_survey in (None, WHOLE_STORE) else chosen_survey, EXPORTS
            )
        return str(archive), line

    panel.expand(surveys, None, survey)
    # A refusal (nothing reviewed to export) in the message: raised, it marked the download "Error".
    button.click(said_in(2)(run), [survey, fmt], [download, message], api_name="export_reviewed")


def _prune(folder: Path, keep: int) -> None:
    exports = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime)
    for old in exports[: max(0, len(exports) - keep)]:
        shutil.rmtree(old, ignore_errors=True)
