"""The Inspect tab: upload photos (or a zip of a survey), see boxes, conditions and a summary."""

from __future__ import annotations

import functools
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from PIL import Image

from core.images import ImageLoadError, capture_time, load_image
from core.pipeline import Inspection, Inspector
from core.render import render
from core.report import FINDING_COLUMNS, finding_rows, findings_csv, summarize
from core.settings import PROJECT_ROOT, Settings
from storage.db import Database
from storage.repository import save_inspection

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


def _expand_uploads(paths: list[str], settings: Settings) -> tuple[list[tuple[str, Callable[[], bytes]]], list[str]]:
    """(name, bytes loader) per photo, zip members included; plus error lines for the rest.
    Loaders read one photo at a time, so a large survey zip is never held in memory whole."""
    items: list[tuple[str, Callable[[], bytes]]] = []
    errors: list[str] = []
    for path in paths:
        name = Path(path).name
        if not zipfile.is_zipfile(path):
            items.append((name, Path(path).read_bytes))
            continue
        try:
            with zipfile.ZipFile(path) as archive:
                members = archive.infolist()
        except (zipfile.BadZipFile, OSError) as exc:
            errors.append(f"{name}: the zip file could not be read ({exc})")
            continue
        for info in members:
            inner = Path(info.filename).name
            if info.is_dir() or inner.startswith(".") or "__MACOSX" in info.filename:
                continue
            if info.file_size > settings.max_upload_bytes:
                errors.append(f"{name}/{inner}: {info.file_size / 1e6:.1f} MB is over the limit")
                continue
            items.append((f"{name}/{inner}", functools.partial(_read_member, path, info.filename)))
    if len(items) > MAX_PHOTOS:
        errors.append(f"{len(items) - MAX_PHOTOS} photo(s) beyond the first {MAX_PHOTOS} were not inspected")
        items = items[:MAX_PHOTOS]
    return items, errors


def _unique(name: str, taken: dict) -> str:
    """Two uploads may share a file name (photo.jpg from two flights): keep both."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name} ({n})"
    return candidate


def _read_member(archive_path: str, member: str) -> bytes:
    with zipfile.ZipFile(archive_path) as archive:
        return archive.read(member)


def inspect_uploads(
    inspector: Inspector,
    settings: Settings,
    paths: list[str] | None,
    conf: float,
    db: Database | None = None,
    user: str = "anonymous",
    survey: str | None = None,
) -> InspectResult:
    """Inspect every uploaded photo; bad files become error lines in the summary, not failures.
    With a ``db``, each inspection is stored (photo, predictions, pending labels for review)."""
    if not paths:
        return InspectResult([], [], "Upload one or more slope photos (JPEG, PNG, WebP, BMP, TIFF) or a zip.", None)
    items, errors = _expand_uploads(paths, settings)
    inspections: dict[str, Inspection] = {}
    gallery: list[tuple[Image.Image, str]] = []
    for name, read in items:
        try:
            data = read()
            image = load_image(
                data, name=name, max_pixels=settings.max_image_pixels, max_bytes=settings.max_upload_bytes
            )
        except ImageLoadError as exc:
            errors.append(str(exc))
            continue
        except (OSError, zipfile.BadZipFile) as exc:
            errors.append(f"{name}: could not be read ({exc})")
            continue
        name = _unique(name, inspections)
        inspection = inspector.inspect(image, conf=conf)
        inspections[name] = inspection
        if db is not None:
            try:
                save_inspection(
                    db, settings.data_dir, data, name, inspection, user, survey=survey, captured_at=capture_time(data)
                )
            except Exception as exc:  # the user still gets the result; the note says it is unsaved
                errors.append(f"{name}: inspected but not saved ({type(exc).__name__}: {exc})")
        gallery.append((render(image, inspection), f"{name}: {len(inspection.findings)} objects"))
    rows = [row for name, ins in inspections.items() for row in finding_rows(name, ins)]
    summary = summarize(inspections)
    if errors:
        summary += "\n\n**Problems:**\n" + "\n".join(f"- {e}" for e in errors)
    report_path = None
    if inspections:
        report_dir = Path(tempfile.mkdtemp(prefix="inspection-report-"))
        report_path = str(report_dir / "findings.csv")
        Path(report_path).write_text(findings_csv(inspections))
    return InspectResult(gallery, rows, summary, report_path)


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

    def handler(paths: list[str] | None, threshold: float, user: str, survey_name: str):
        result = inspect_uploads(
            get_inspector(),
            settings,
            paths,
            threshold,
            db=db,
            user=user.strip() or "anonymous",
            survey=survey_name.strip() or None,
        )
        return result.gallery, result.summary, result.rows, result.report_path

    run.click(
        handler,
        inputs=[files, conf, inspector_name, survey],
        outputs=[gallery, summary, table, report],
        api_name="inspect",
    )
