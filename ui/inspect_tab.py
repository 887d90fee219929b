"""The Inspect tab: upload photos (or a zip of a survey), see boxes, conditions and a summary."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
from PIL import Image

from core.pipeline import Inspector
from core.report.rows import TABLE_COLUMNS, short_name, summarize, table_rows
from core.settings import PROJECT_ROOT, Settings
from core.taxonomy import counted
from core.types import Inspection
from services.inspection import PhotoOutcome
from services.sinks import RenderSink
from services.survey import run_survey, survey_date, survey_text
from services.survey_report import open_upload
from storage.db import Database
from storage.inspections import uploads_of
from ui.access import OPEN_ACCOUNT, download_owner, refusals_shown, refused, require
from ui.scratch import lifetime_s, scratch_folder
from ui.styles import fitted_table_css, style_js
from ui.zero_gpu import on_zero_gpu

EXAMPLES_DIR = PROJECT_ROOT / "examples"
DATA_CREDIT_MD = (
    "Example photos and the default models' training data (boxes, and the real condition labels of "
    "217 photos): slope-infrastructure images from "
    "[Roboflow Universe, conditional-classes / my-first-project-q51lx]"
    "(https://universe.roboflow.com/conditional-classes/my-first-project-q51lx), "
    "[CC BY 4.0](https://creativecommons.org/licenses/by/4.0/). "
    "The default condition model is a tiny Qwen2-VL trained on those real labels; how often it is right "
    "on photos it never saw, beside the most common condition of each object type, is on the Dashboard: "
    "check its conditions before acting on them."
)
MAX_PHOTOS = 200  # per request: a whole drone survey, but not an unbounded job
# The threads batches run on while the page's threads show their progress: as many as the Inspect
# event serves at once (``Settings.inspect_concurrency``), so a batch whose page stopped listening
# (a closed tab) still runs to its end and the next waits for a thread rather than crowding the
# cores. Callers outside the app (benches) share this one thread.
_ONE_AT_A_TIME = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inspect-batch")


# Width per column (TABLE_COLUMNS order): the position text gets the room, the photo name no more
# than it needs, each probability a narrow column. In pixels, not shares of the frame: on a phone
# the table scrolls sideways instead of squeezing its columns to one letter a line.
TABLE_WIDTHS = ["236px", "48px", "104px", "140px", "80px", "80px", "84px", "96px", "330px"]  # 1198 px
# A frame narrower than that (a tablet: 960 px at 1024, 704 at 800) scrolled the table sideways,
# hiding the last columns: there it fits the frame, the position taking what the others leave, and
# under 900 px the position goes on a line of its own under the rest of its row.
FITTED_WIDTHS = ["144px", "44px", "90px", "100px", "66px", "72px", "72px", "80px", "auto"]
TWO_LINE_WIDTHS = ["24.5%", "6.5%", "13.5%", "13%", "9.5%", "10.5%", "10.5%", "12%", "100%"]
TABLE_FIT_JS = style_js(
    "slope-inspect-table-fit",
    fitted_table_css("inspect-table", TABLE_WIDTHS, FITTED_WIDTHS, TWO_LINE_WIDTHS, TABLE_COLUMNS[-1]),
)


# Gradio's gallery preview blurs the thumbnail grid behind it (backdrop-filter): where the photo
# does not fill the frame, the first thumbnail showed through as a smudge beside it.
NO_BLUR_JS = style_js(
    "slope-inspect-no-blur", "#inspect-gallery .preview { backdrop-filter: none !important; background: white; }"
)
UPLOAD_HEADERS = ["Photo", "Survey", "Uploaded (UTC)", "Objects", "To review"]


@dataclass
class InspectResult:
    gallery: list[tuple[str, str]]  # (drawing file, caption)
    rows: list[list]  # TABLE_COLUMNS
    summary: str
    report_path: str | None
    html_path: str | None = None
    photos: list[str] = field(default_factory=list)  # the full name of each gallery item, in order
    row_photos: list[str] = field(default_factory=list)  # the full photo name of each row


class _ShownSink(RenderSink):
    """The drawings, and the inspection of each, as the batch makes them: the page shows every
    photo as soon as it is drawn, before it is stored and put in the reports (read from the
    handler's thread while the batch runs; ``drawn`` is set at each)."""

    def __init__(self, drawn: threading.Event) -> None:
        super().__init__()
        self.shown: list[tuple[str, Inspection]] = []  # in step with ``drawings``
        self.drawn = drawn

    def add(self, outcome: PhotoOutcome) -> None:
        before = len(self.drawings)
        super().add(outcome)
        if len(self.drawings) > before:
            self.shown.append((outcome.name, outcome.inspection))
            self.drawn.set()


def inspect_uploads(*args, **kwargs) -> InspectResult:
    """``inspect_uploads_live``'s last answer: the whole result, reports included."""
    result = None
    for result in inspect_uploads_live(*args, **kwargs):  # noqa: B007 - the last one is the answer
        pass
    return result


def inspect_uploads_live(
    inspector: Inspector,
    settings: Settings,
    paths: list[str] | None,
    conf: float,
    db: Database | None = None,
    user: str = "anonymous",
    survey: str | None = None,
    site: str | None = None,
    date: str | None = None,
    every_s: float = 0.4,
    batches: Executor = _ONE_AT_A_TIME,
    owner: str | None = None,
) -> Iterator[InspectResult]:
    """Inspect every uploaded photo through the survey use case (``services.survey.run_survey``),
    answering as it goes: a result with the photos inspected so far (at most every ``every_s``
    seconds), one with every photo while the reports are written, then the whole result with the
    reports. Bad files become lines in the summary, not failures. With a ``db``, each inspection is
    stored for review, under ``survey`` (with its site and date) when named. The batch runs on a
    thread of ``batches``; its drawings and reports go to ``owner`` only (``ui.scratch``)."""
    if not paths:
        yield InspectResult([], [], "Upload one or more slope photos (JPEG, PNG, WebP, BMP, TIFF) or a zip.", None)
        return
    moved = threading.Event()  # a photo is drawn or done, or the batch is
    shown = _ShownSink(moved)
    out = scratch_folder("inspection-report", lifetime_s(settings), owner)
    counts = [0, 0]  # photos done, photos in all: the batch's progress

    def progress(done: int, total: int, _name: str) -> None:
        counts[:] = [done, total]
        moved.set()

    batch = batches.submit(
        run_survey,
        db,
        settings,
        inspector,
        paths,
        survey,
        user,
        site=site,
        date=date,  # refused before anything is inspected
        conf=conf,
        max_photos=MAX_PHOTOS,
        progress=progress,
        sinks=[shown],
        report_to=out,
    )
    batch.add_done_callback(lambda _: moved.set())
    gallery: list[tuple[str, str]] = []  # each drawing written once, as it arrives
    said, last = 0, float("-inf")  # the first photo shows as soon as it is done
    while not batch.done():
        moved.wait(every_s)
        moved.clear()
        done, total = counts
        # Each answer shows the photos drawn so far (the first at once, one photo too: storing it
        # and writing its report took about 35 of its 150 ms), every photo at once when the last is done.
        all_done = done == total > 0
        drawn = len(shown.shown)
        if drawn > said and not batch.done() and (all_done or time.monotonic() - last >= every_s):
            said, last = drawn, time.monotonic()
            gallery += _drawn(shown, len(gallery), out)
            note = "writing the reports" if all_done else f"photo {drawn} of {total} inspected"
            yield _result(shown, gallery, f"{summarize(dict(shown.shown))}\n\n*Working: {note}...*")
    run = batch.result()  # its failure, raised here, in the page's thread
    gallery += _drawn(shown, len(gallery), out)
    summary = summarize(run.inspections)
    if run.batch.reused:
        summary += (
            f"\n\n{counted(run.batch.reused, 'photo')} had been inspected by these models before: their stored "
            "findings are shown (reviewers' corrections are in the Review tab)."
        )
    if run.problems:
        summary += "\n\n**Problems:**\n" + "\n".join(f"- {p}" for p in run.problems)
    report = str(run.report.csv) if run.report else None
    html = str(run.report.html) if run.report else None
    yield _result(shown, gallery, summary, report, html)


def _drawn(shown: _ShownSink, start: int, folder: Path) -> list[tuple[str, str]]:
    """The drawings from ``start`` on, written as files, captioned with the short name."""
    count = len(shown.shown)  # read once: the batch may add more meanwhile
    drawings = [
        (image, f"{short_name(name)}: {_objects(len(inspection.findings))}")
        for (image, _), (name, inspection) in zip(shown.drawings[start:count], shown.shown[start:count], strict=True)
    ]
    return saved_drawings(drawings, folder, start)


def _result(
    shown: _ShownSink,
    gallery: list[tuple[str, str]],
    summary: str,
    report: str | None = None,
    html: str | None = None,
) -> InspectResult:
    photos = [name for name, _ in shown.shown[: len(gallery)]]
    owned = [(name, row) for name, inspection in shown.shown[: len(gallery)] for row in table_rows(name, inspection)]
    rows = [row for _, row in owned]
    return InspectResult(list(gallery), rows, summary, report, html, photos, [name for name, _ in owned])


def _objects(n: int) -> str:
    return "no objects detected" if n == 0 else f"{n} object{'s' if n > 1 else ''}"


def saved_drawings(drawings: list[tuple[Image.Image, str]], folder: Path, start: int = 0) -> list[tuple[str, str]]:
    """(file, caption) of each drawing written once as JPEG (quality 90) into ``folder``, numbered
    from ``start``: Gradio serves a file as it is, where it encodes a PIL image again for every
    answer (as PNG: 170 ms and 0.5 MB a 720 px drawing; as this JPEG 2 ms and 0.1 MB, lines and
    numbers still sharp)."""
    files = []
    for k, (image, caption) in enumerate(drawings, start):
        path = folder / f"drawing-{k}.jpg"
        image.save(path, "JPEG", quality=90)
        files.append((str(path), caption))
    return files


def rows_of_photo(result: InspectResult, index: int | None) -> list[list]:
    """The table rows of the ``index``-th gallery photo (all rows for None or an unknown index)."""
    if index is None or not 0 <= index < len(result.photos):
        return result.rows
    wanted = result.photos[index]
    return [row for row, name in zip(result.rows, result.row_photos, strict=True) if name == wanted]


def survey_fields_checked(_paths, _threshold, survey_name: str, site_name: str, date_text: str) -> list[dict]:
    """The Inspect event's validator: the survey's name, site and date checked before anything is
    inspected, a refusal shown on its own field. Raised by the handler, it marked the gallery, the
    table and the reports "Error", hiding the last results."""

    def checked(check: Callable[[], object]) -> dict:
        try:
            check()
        except ValueError as exc:
            return gr.validate(False, str(exc))
        return gr.validate(True, "")

    return [
        *(gr.validate(True, "") for _ in range(2)),  # the photos and the threshold: the handler's to judge
        checked(lambda: survey_text(survey_name, "survey name")),
        checked(lambda: survey_text(site_name, "site")),
        checked(lambda: survey_date(date_text)),
    ]


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1e9:g} GB" if n_bytes >= 1e9 else f"{n_bytes / 1e6:g} MB"


def build_inspect_tab(get_inspector: Callable[[], Inspector], settings: Settings, db: Database | None = None) -> None:
    """The tab's components and wiring; call inside a ``gr.Blocks``."""
    with gr.Row():
        with gr.Column(scale=1):
            files = gr.File(
                label="Slope photos, or a survey zip",  # short: a long label hid under the icons on a tablet
                file_count="multiple",
                file_types=["image", ".zip", ".tif", ".tiff", ".webp"],
                type="filepath",
            )
            gr.Markdown(
                f"Up to {_size(settings.max_upload_bytes)} a photo (JPEG, PNG, WebP, BMP, TIFF), "
                f"{_size(settings.largest_upload)} a zip.",
                elem_id="inspect-limits",
            )
            conf = gr.Slider(0.05, 0.95, value=settings.detector_conf, step=0.05, label="Detector confidence threshold")
            with gr.Row():
                survey = gr.Textbox(label="Survey name (optional)", max_lines=1, scale=2)
                site = gr.Textbox(label="Site", max_lines=1, scale=2)
                date = gr.Textbox(label="Date (YYYY-MM-DD)", max_lines=1, scale=1, placeholder="e.g. 2026-11-23")
            run = gr.Button("Inspect", variant="primary")
            examples = sorted(str(p) for p in EXAMPLES_DIR.glob("*.jpg"))
            if examples:
                gr.Examples(examples=[[[e]] for e in examples], inputs=[files], label="Example photos")
        with gr.Column(scale=2):
            # Results open in preview (selected_index=0 in the handler): one whole photo inside the
            # frame, the others as a strip below. A grid with fit_columns widens a single photo
            # to a full-width square taller than the frame, which hid its bottom (where toe
            # drains and rock toes are), so the grid keeps small fixed columns.
            gallery = gr.Gallery(
                label="Findings (box numbers match the table; click a photo to show only its rows)",
                columns=4,
                fit_columns=False,
                height=620,
                object_fit="contain",
                preview=True,
                allow_preview=True,
                format="jpeg",  # what the drawings are (saved_drawings): nothing to convert
                elem_id="inspect-gallery",
            )
            summary = gr.Markdown()
    table = gr.Dataframe(
        headers=TABLE_COLUMNS,
        label="Findings",
        interactive=False,
        wrap=True,
        column_widths=TABLE_WIDTHS,
        elem_id="inspect-table",
    )
    gr.Markdown(
        "Normal, Blocked, Damaged: the condition model's probability of each; **–**: that condition does not "
        "apply to the object (a rock toe is never blocked; vegetation is only ever normal). Detector conf.: how "
        "sure the detector is that the box holds that object.",
        elem_id="inspect-table-key",
    )
    show_all = gr.Button("Show the findings of every photo", size="sm")
    with gr.Accordion("My uploads", open=False) as mine_panel:
        mine_button = gr.Button("Refresh the list", size="sm")
        mine = gr.Dataframe(
            headers=UPLOAD_HEADERS,
            label="Click a photo for its findings, drawn, and its report (from the store)",
            interactive=False,
            wrap=True,
            elem_id="my-uploads",
        )
        mine_ids = gr.State([])
    with gr.Row():
        report = gr.File(label="Report (CSV: every finding, with survey, inspector, date and model versions)")
        html_report = gr.File(
            label="Report (HTML: annotated photos, findings, a narrative per photo)", elem_id="inspect-html-report"
        )
    gr.Markdown(DATA_CREDIT_MD)
    gr.HTML("", js_on_load=NO_BLUR_JS + TABLE_FIT_JS, padding=False)
    state = gr.State(None)  # the last InspectResult without its images: what the table filters
    batches = ThreadPoolExecutor(max_workers=settings.inspect_concurrency, thread_name_prefix="inspect-batch")

    @on_zero_gpu
    def handler(
        paths: list[str] | None,
        threshold: float,
        survey_name: str,
        site_name: str,
        date_text: str,
        request: gr.Request,
    ) -> Iterator[tuple]:
        # Who inspects is the logged-in account, checked on the server (open while no account exists).
        user = require(request, db, "inspector").username if db is not None else OPEN_ACCOUNT
        try:  # refused before any photo is inspected
            when = survey_date(date_text)
            survey_name, site_name = survey_text(survey_name, "survey name"), survey_text(site_name, "site")
        except ValueError as exc:
            raise refused(str(exc), "Survey") from None
        with refusals_shown():  # e.g. another inspector's survey: its site and date are theirs
            # Each photo shows as soon as it is inspected; the reports come with the last answer.
            for result in inspect_uploads_live(
                get_inspector(),
                settings,
                paths,
                threshold,
                db=db,
                user=user,
                survey=survey_name,
                site=site_name,
                date=when,
                batches=batches,
                owner=download_owner(request),
            ):
                kept = InspectResult(
                    [],
                    result.rows,
                    result.summary,
                    result.report_path,
                    result.html_path,
                    result.photos,
                    result.row_photos,
                )
                yield result.gallery, result.summary, result.rows, result.report_path, result.html_path, kept

    def only_photo(kept: InspectResult | None, evt: gr.SelectData) -> gr.Dataframe:
        if kept is None:
            return gr.Dataframe()
        index = evt.index if isinstance(evt.index, int) else None
        name = kept.photos[index] if index is not None and index < len(kept.photos) else None
        return gr.Dataframe(value=rows_of_photo(kept, index), label=f"Findings: {name}" if name else "Findings")

    def every_photo(kept: InspectResult | None) -> gr.Dataframe:
        return gr.Dataframe(value=kept.rows if kept is not None else [], label="Findings")

    run.click(
        handler,
        inputs=[files, conf, survey, site, date],
        outputs=[gallery, summary, table, report, html_report, state],
        api_name="inspect",
        concurrency_limit=settings.inspect_concurrency,
        validator=survey_fields_checked,
    ).then(
        # A separate step, so /inspect's API output stays the plain list of drawings.
        lambda kept: gr.Gallery(selected_index=0 if kept is not None and kept.photos else None),
        inputs=[state],
        outputs=[gallery],
        api_name=False,
        queue=False,  # a plain request: nothing to wait for, no event stream to open
    )

    def my_uploads(request: gr.Request) -> tuple[list[list], list[tuple[int, str]]]:
        if db is None:
            return [], []
        user = require(request, db, "inspector")
        uploads = uploads_of(db, user.username)
        rows = [
            [u.name, u.survey or "", u.uploaded_at.strftime("%Y-%m-%d %H:%M"), u.labels, u.to_review] for u in uploads
        ]
        return rows, [(u.image_id, u.name) for u in uploads]

    def open_mine(uploads: list[tuple[int, str]], event: gr.SelectData, request: gr.Request):
        """The photo, its summary, table, reports and kept result: all of one photo, so its box
        numbers and its rows agree (the page no longer shows the last inspection's)."""
        user = require(request, db, "inspector")
        if not 0 <= event.index[0] < len(uploads):
            return (gr.update(),) * 6
        image_id, name = uploads[event.index[0]]
        out = scratch_folder("upload-report", lifetime_s(settings), download_owner(request))
        with refusals_shown():
            drawing, files, inspection = open_upload(db, settings.data_dir, image_id, user.username, out)
        shown = saved_drawings([(drawing, short_name(name))], out) if drawing is not None else []
        rows = table_rows(name, inspection) if inspection is not None else []
        summary = summarize({name: inspection}) if inspection is not None else f"{name} was stored, never inspected."
        kept = InspectResult([], rows, summary, str(files.csv), str(files.html), [name], [name] * len(rows))
        return shown, summary, rows, str(files.csv), str(files.html), kept

    mine_button.click(my_uploads, outputs=[mine, mine_ids], api_name="my_uploads")
    mine_panel.expand(my_uploads, outputs=[mine, mine_ids], api_name=False)  # listed when opened
    mine.select(open_mine, [mine_ids], [gallery, summary, table, report, html_report, state], api_name=False)
    gallery.select(only_photo, inputs=[state], outputs=[table], api_name=False)
    show_all.click(every_photo, inputs=[state], outputs=[table], api_name=False)
    # Results belong to the files they came from: new files clear them before anything is read.
    files.change(
        lambda: (None, "", None, None, None, None),
        outputs=[gallery, summary, table, report, html_report, state],
        api_name=False,
    )
