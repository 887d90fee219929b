"""The Inspect tab: upload photos (or a zip of a survey), see boxes, conditions and a summary."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from PIL import Image

from core.pipeline import Inspector
from core.report import FINDING_COLUMNS, finding_rows, summarize
from core.settings import PROJECT_ROOT, Settings
from core.sources import expand_sources
from services.inspection import LoadLimits, Progress, inspect_batch
from services.sinks import CollectSink, CsvSink, RenderSink, StoreSink
from storage.db import Database

EXAMPLES_DIR = PROJECT_ROOT / "examples"
DATA_CREDIT_MD = (
    "Example photos and the default detector's training data: slope-infrastructure images from "
    "[Roboflow Universe, conditional-classes / my-first-project-q51lx]"
    "(https://universe.roboflow.com/conditional-classes/my-first-project-q51lx), "
    "[CC BY 4.0](https://creativecommons.org/licenses/by/4.0/). "
    "The default condition model is a tiny Qwen2-VL trained on *synthesized* conditions "
    "(blockage and damage painted onto real object crops): treat its labels as a demonstration "
    "until a model trained on reviewed real conditions is configured."
)
MAX_PHOTOS = 200  # per request: a whole drone survey, but not an unbounded job


@dataclass
class InspectResult:
    gallery: list[tuple[Image.Image, str]]
    rows: list[list]
    summary: str
    report_path: str | None


def inspect_uploads(
    inspector: Inspector,
    settings: Settings,
    paths: list[str] | None,
    conf: float,
    db: Database | None = None,
    user: str = "anonymous",
    survey: str | None = None,
    progress: Progress | None = None,
) -> InspectResult:
    """Inspect every uploaded photo through the one batch path; bad files become lines in the
    summary, not failures. With a ``db``, each inspection is stored for review."""
    if not paths:
        return InspectResult([], [], "Upload one or more slope photos (JPEG, PNG, WebP, BMP, TIFF) or a zip.", None)
    sources, problems = expand_sources(paths, max_bytes=settings.max_upload_bytes, max_photos=MAX_PHOTOS)
    report_path = Path(tempfile.mkdtemp(prefix="inspection-report-")) / "findings.csv"
    collected, drawings = CollectSink(), RenderSink()
    sinks = [collected, drawings, CsvSink(report_path)]
    if db is not None:
        sinks.insert(0, StoreSink(db, settings.data_dir, user, survey))
    result = inspect_batch(
        sources,
        inspector,
        sinks,
        conf=conf,
        limits=LoadLimits(settings.max_image_pixels, settings.max_upload_bytes),
        progress=progress,
    )
    problems += result.problems
    summary = summarize(collected.inspections)
    if problems:
        summary += "\n\n**Problems:**\n" + "\n".join(f"- {p}" for p in problems)
    rows = [row for name, ins in collected.inspections.items() for row in finding_rows(name, ins)]
    return InspectResult(drawings.drawings, rows, summary, str(report_path) if collected.inspections else None)


def build_inspect_tab(get_inspector: Callable[[], Inspector], settings: Settings, db: Database | None = None) -> None:
    """The tab's components and wiring; call inside a ``gr.Blocks``."""
    with gr.Row():
        with gr.Column(scale=1):
            files = gr.File(
                label="Slope photos or a zip of a survey",
                file_count="multiple",
                file_types=["image", ".zip", ".tif", ".tiff", ".webp"],
                type="filepath",
            )
            conf = gr.Slider(0.05, 0.95, value=settings.detector_conf, step=0.05, label="Detector confidence threshold")
            with gr.Row():
                inspector_name = gr.Textbox(label="Inspector", value="anonymous", max_lines=1)
                survey = gr.Textbox(label="Survey (optional)", max_lines=1)
            run = gr.Button("Inspect", variant="primary")
            examples = sorted(str(p) for p in EXAMPLES_DIR.glob("*.jpg"))
            if examples:
                gr.Examples(examples=[[[e]] for e in examples], inputs=[files], label="Example photos")
        with gr.Column(scale=2):
            gallery = gr.Gallery(label="Findings", columns=2, height=560, object_fit="contain", format="png")
            summary = gr.Markdown()
    table = gr.Dataframe(headers=FINDING_COLUMNS, label="Findings", interactive=False, wrap=True)
    report = gr.File(label="Report (CSV)")
    gr.Markdown(DATA_CREDIT_MD)

    def handler(
        paths: list[str] | None,
        threshold: float,
        user: str,
        survey_name: str,
        progress=gr.Progress(),  # noqa: B008 - Gradio injects progress through this default
    ) -> tuple:
        result = inspect_uploads(
            get_inspector(),
            settings,
            paths,
            threshold,
            db=db,
            user=user.strip() or "anonymous",
            survey=survey_name.strip() or None,
            progress=lambda done, total, _name: progress((done, total), desc=f"photo {done} of {total}"),
        )
        return result.gallery, result.summary, result.rows, result.report_path

    run.click(
        handler,
        inputs=[files, conf, inspector_name, survey],
        outputs=[gallery, summary, table, report],
        api_name="inspect",
    )
