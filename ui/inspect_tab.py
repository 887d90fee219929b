"""The Inspect tab: upload photos (or a zip of a survey), see boxes, conditions and a summary."""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from PIL import Image

from core.images import ImageLoadError, load_image
from core.pipeline import Inspection, Inspector
from core.render import render
from core.report import FINDING_COLUMNS, finding_rows, findings_csv, summarize
from core.settings import PROJECT_ROOT, Settings

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


def _expand_uploads(paths: list[str], settings: Settings) -> tuple[list[tuple[str, bytes | str]], list[str]]:
    """(name, path-or-bytes) per photo, zips opened in memory; plus error lines for the rest."""
    items: list[tuple[str, bytes | str]] = []
    errors: list[str] = []
    for path in paths:
        name = Path(path).name
        if zipfile.is_zipfile(path):
            try:
                with zipfile.ZipFile(path) as archive:
                    for info in archive.infolist():
                        inner = Path(info.filename).name
                        if info.is_dir() or inner.startswith(".") or "__MACOSX" in info.filename:
                            continue
                        if info.file_size > settings.max_upload_bytes:
                            errors.append(f"{name}/{inner}: {info.file_size / 1e6:.0f} MB is over the limit")
                            continue
                        items.append((f"{name}/{inner}", archive.read(info)))
            except (zipfile.BadZipFile, OSError) as exc:
                errors.append(f"{name}: the zip file could not be read ({exc})")
        else:
            items.append((name, path))
    if len(items) > MAX_PHOTOS:
        errors.append(f"{len(items) - MAX_PHOTOS} photo(s) beyond the first {MAX_PHOTOS} were not inspected")
        items = items[:MAX_PHOTOS]
    return items, errors


def inspect_uploads(
    inspector: Inspector, settings: Settings, paths: list[str] | None, conf: float
) -> InspectResult:
    """Inspect every uploaded photo; bad files become error lines in the summary, not failures."""
    if not paths:
        return InspectResult(
            [], [], "Upload one or more slope photos (JPEG, PNG, WebP, BMP, TIFF) or a zip.", None
        )
    items, errors = _expand_uploads(paths, settings)
    inspections: dict[str, Inspection] = {}
    gallery: list[tuple[Image.Image, str]] = []
    for name, source in items:
        try:
            image = load_image(
                source, name=name, max_pixels=settings.max_image_pixels, max_bytes=settings.max_upload_bytes
            )
        except ImageLoadError as exc:
            errors.append(str(exc))
            continue
        inspection = inspector.inspect(image, conf=conf)
        inspections[name] = inspection
        gallery.append((render(image, inspection), f"{name}: {len(inspection.findings)} objects"))
    rows = [row for name, ins in inspections.items() for row in finding_rows(name, ins)]
    summary = summarize(inspections)
    if errors:
        summary += "\n\n**Not inspected:**\n" + "\n".join(f"- {e}" for e in errors)
    report_path = None
    if inspections:
        report_dir = Path(tempfile.mkdtemp(prefix="inspection-report-"))
        report_path = str(report_dir / "findings.csv")
        Path(report_path).write_text(findings_csv(inspections))
    return InspectResult(gallery, rows, summary, report_path)


def build_inspect_tab(get_inspector: Callable[[], Inspector], settings: Settings) -> None:
    """The tab's components and wiring; call inside a ``gr.Blocks``."""
    with gr.Row():
        with gr.Column(scale=1):
            files = gr.File(
                label="Slope photos or a zip of a survey",
                file_count="multiple",
                file_types=["image", ".zip", ".tif", ".tiff", ".webp"],
                type="filepath",
            )
            conf = gr.Slider(
                0.05, 0.95, value=settings.detector_conf, step=0.05, label="Detector confidence threshold"
            )
            run = gr.Button("Inspect", variant="primary")
            examples = sorted(str(p) for p in EXAMPLES_DIR.glob("*.jpg"))
            if examples:
                gr.Examples(examples=[[[e]] for e in examples], inputs=[files], label="Example photos")
        with gr.Column(scale=2):
            gallery = gr.Gallery(label="Findings", columns=2, height="auto", format="png")
            summary = gr.Markdown()
    table = gr.Dataframe(headers=FINDING_COLUMNS, label="Findings", interactive=False, wrap=True)
    report = gr.File(label="Report (CSV)")
    gr.Markdown(DATA_CREDIT_MD)

    def handler(paths: list[str] | None, threshold: float):
        result = inspect_uploads(get_inspector(), settings, paths, threshold)
        return result.gallery, result.summary, result.rows, result.report_path

    run.click(handler, inputs=[files, conf], outputs=[gallery, summary, table, report], api_name="inspect")
