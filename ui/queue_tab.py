"""The Queued surveys tab (only where a task queue is configured, ``SLOPE_BROKER_URL``): hand a
whole survey to the workers, follow every queued survey chunk by chunk from any app replica, and
cancel one. The photos are inspected by ``slope worker`` processes, not by this app."""

from __future__ import annotations

import gradio as gr

from core.settings import Settings
from core.statuses import ChunkStatus
from core.taxonomy import counted
from services.survey_queue import (
    ask_for_report,
    cancel_queued_survey,
    queue_survey,
    queued_survey,
    queued_surveys,
)
from services.tasks import CeleryQueue
from storage.db import Database
from storage.queue import ChunkState, QueuedSurveyState
from ui.access import refusals_shown, refused, require
from ui.markdown import as_text

SURVEY_HEADERS = ["No.", "Survey", "Queued by", "Queued (UTC)", "Photos", "Inspected", "Failed", "Chunks", "State"]
CHUNK_HEADERS = ["Chunk", "Photos", "State", "Worker", "Attempts", "Inspected", "Failed", "Problems"]
MAX_QUEUED_PHOTOS = 20_000  # one request: a week of drone surveys, not an unbounded job
CHUNK_ORDER = [ChunkStatus.RUNNING, ChunkStatus.QUEUED, ChunkStatus.DONE, ChunkStatus.FAILED, ChunkStatus.CANCELLED]


def state_word(state: QueuedSurveyState) -> str:
    if not state.staged:
        return "Taking in the photos"
    if state.open:
        return "Cancelling" if state.cancel_requested else ("Running" if state.chunks.get("running") else "Queued")
    if state.chunks.get("cancelled"):
        return "Cancelled"
    return "Done, with problems" if state.failed or state.chunks.get("failed") or state.problems else "Done"


def survey_rows(states: list[QueuedSurveyState]) -> list[list]:
    return [
        [
            s.id,
            s.survey or "(none)",
            s.created_by,
            s.created_at.strftime("%Y-%m-%d %H:%M"),
            s.photos,
            s.inspected,
            s.failed,
            ", ".join(f"{s.chunks[k]} {k}" for k in CHUNK_ORDER if s.chunks.get(k)) or "none",
            state_word(s),
        ]
        for s in states
    ]


def chunk_rows(chunks: list[ChunkState]) -> list[list]:
    return [
        [
            f"{c.position + 1} of {len(chunks)}",
            c.photos,
            str(c.status).capitalize(),
            c.worker or "",
            c.attempts,
            c.inspected,
            c.failed,
            "; ".join(c.problems),
        ]
        for c in chunks
    ]


def build_queue_tab(settings: Settings, db: Database) -> None:
    """The tab's components and wiring; call inside a ``gr.Blocks`` (and a ``gr.Tab``)."""
    gr.Markdown(
        "Hand a whole survey to the workers: the photos are inspected in chunks by `slope worker` processes, "
        "stored for review as they are done, and followed here from any of the app's servers."
    )
    with gr.Row():
        files = gr.File(
            label="Slope photos or zips of a survey", file_count="multiple", type="filepath", elem_id="queue-files"
        )
        with gr.Column():
            survey = gr.Textbox(label="Survey name", max_lines=1)
            with gr.Row():
                site = gr.Textbox(label="Site", max_lines=1)
                date = gr.Textbox(label="Date (YYYY-MM-DD)", max_lines=1, placeholder="e.g. 2026-11-23")
            queue_button = gr.Button("Queue the survey", variant="primary")
    message = gr.Markdown(elem_id="queue-message")
    surveys = gr.Dataframe(
        headers=SURVEY_HEADERS,
        label="Queued surveys (click one for its chunks)",
        interactive=False,
        wrap=True,
        elem_id="queued-surveys",
    )
    chosen = gr.State(None)  # the queued survey whose chunks show
    chunks_title = gr.Markdown("Click a queued survey for its chunks.")
    chunks = gr.Dataframe(headers=CHUNK_HEADERS, label="Chunks", interactive=False, wrap=True, elem_id="queue-chunks")
    with gr.Row():
        report_button = gr.Button("Report of this survey", size="sm")
        cancel_button = gr.Button("Cancel this survey", variant="stop", size="sm")
    with gr.Row():
        html_report = gr.File(label="Report (HTML)", elem_id="queue-html-report")
        csv_report = gr.File(label="Findings (CSV)", elem_id="queue-csv-report")
    timer = gr.Timer(2.0)

    def shown(queued_id: int | None, request: gr.Request) -> tuple:
        try:
            require(request, db, "inspector")
        except gr.Error:  # the timer keeps asking: answer quietly
            return [], "Log in to see the queued surveys.", []
        rows = survey_rows(queued_surveys(db))
        if queued_id is None:
            return rows, "Click a queued survey for its chunks.", []
        state, parts = queued_survey(db, queued_id)
        title = f"**Survey {state.id}** ({as_text(state.survey or 'no name')}): {state_word(state)}"
        if state.problems:  # sources refused, or the taking in cut off (services.survey_queue.end_cut_off)
            title += "\n\nNot queued:" + "".join(f"\n- {as_text(p)}" for p in state.problems[:20])
        return rows, title, chunk_rows(parts)

    def queue(paths: list[str] | None, name: str, site_name: str, when: str, request: gr.Request):
        user = require(request, db, "inspector").username
        if not paths:
            raise refused("Choose the survey's photos (or zips) first.", "Queued surveys")
        if not (name or "").strip():
            raise refused("A queued survey needs a name: its photos are filed under it.", "Queued surveys")
        try:
            with refusals_shown():
                state = queue_survey(
                    db, settings, CeleryQueue(settings), paths, name, user, site=site_name, date=when,
                    max_photos=MAX_QUEUED_PHOTOS,
                )  # fmt: skip
        except ValueError as exc:
            raise refused(str(exc), "Queued surveys") from None
        problems = "".join(f"\n- {p}" for p in state.problems[:20])
        chunks = sum(state.chunks.values())
        text = f"Queued survey {state.id}: {counted(state.photos, 'photo')} in {counted(chunks, 'chunk')}."
        # The files are cleared: they are queued, and the next survey starts from none.
        return text + (f"\n\nNot queued:{problems}" if problems else ""), state.id, None

    def pick(evt: gr.SelectData, rows) -> int | None:
        row = evt.index[0] if isinstance(evt.index, list | tuple) else None
        return int(rows.iloc[row, 0]) if row is not None and row < len(rows) else None

    def cancel(queued_id: int | None, request: gr.Request) -> str:
        user = require(request, db, "inspector").username
        if queued_id is None:
            raise refused("Click the queued survey to cancel first.", "Queued surveys")
        with refusals_shown():
            stopped = cancel_queued_survey(db, settings, queued_id, user)
        return f"Survey {queued_id} cancelled: {stopped} chunks stopped (photos already inspected stay stored)."

    def report(queued_id: int | None, request: gr.Request):
        user = require(request, db, "inspector").username
        if queued_id is None:
            raise refused("Click a queued survey first.", "Queued surveys")
        with refusals_shown():
            files = ask_for_report(db, settings, CeleryQueue(settings), queued_id, user)
        if files is None:
            return (
                f"A worker is making the report of survey {queued_id}: press the button again in a moment.",
                None,
                None,
            )
        return f"The report of survey {queued_id}.", str(files[0]), str(files[1])

    outputs = [surveys, chunks_title, chunks]
    timer.tick(shown, inputs=[chosen], outputs=outputs, show_progress="hidden", api_name=False)
    queue_button.click(queue, [files, survey, site, date], [message, chosen, files], api_name="queue_survey").then(
        shown, [chosen], outputs, api_name=False
    )
    surveys.select(pick, [surveys], [chosen], api_name=False).then(shown, [chosen], outputs, api_name=False)
    report_button.click(report, [chosen], [message, html_report, csv_report], api_name="queued_survey_report")
    cancel_button.click(cancel, [chosen], [message], api_name="cancel_queued_survey").then(
        shown, [chosen], outputs, api_name=False
    )
