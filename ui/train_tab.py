"""The Train tab, for maintainers: start an improvement job (fine-tune on the reviewed labels,
gated against the served model), follow it, stop it; see every version on record and serve any
of them after a confirmation (``ui.promotion_panel``: promotion, or roll back by serving an
older one).

Jobs run in their own process (``services.jobs``), so the app keeps answering while one trains.
"""

from __future__ import annotations

import gradio as gr

from core.model_card import model_version, readable_data
from core.settings import Settings
from lifecycle import registry
from lifecycle.gate import GateRule
from lifecycle.server import ModelServer
from services import jobs
from services.errors import ServiceError
from services.job_spec import DETECTOR_JOB, JobSpec
from storage.db import Database
from storage.labels import labels_fingerprint
from training.condition.finetune_settings import FinetuneSettings
from ui.access import guard
from ui.accounts_panel import build_accounts_panel
from ui.promotion_panel import build_promotion_panel, event_rows, events_table, version_choices

RUN_HEADERS = ["Run", "Job", "Status", "Progress", "Started by", "Started", "Ended", "Produced", "Error"]
VERSION_HEADERS = ["Kind", "Version", "Status", "Created (UTC)", "Figures"]
VERSION_WIDTHS = ["9%", "24%", "9%", "12%", "46%"]
JOB_LABELS = {
    "Fine-tune the condition model": "condition",
    "Fine-tune the detector": "detector",
    "Quantize the served condition model": "quantize",
}


def served_markdown(server: ModelServer) -> str:
    served = server.served()
    lines = [
        "### Served now",
        f"- Detector: `{model_version(served.detector)}`",
        f"- Condition model: `{model_version(served.condition)}`",
    ]
    if server.load_error:
        lines.append(f"\n**The version on record could not be loaded; the previous one serves:** {server.load_error}")
    return "\n".join(lines)


def dataset_markdown(db: Database, settings: Settings) -> str:
    """What a condition job would learn from: reviewed labels per class, the held-out photos
    (split by photo, the same fixed rule the job uses), and whether the gate could judge on them."""
    from collections import Counter

    from core.taxonomy import class_name, class_words, counted
    from training.data.condition_data import DatasetSettings, split_by_photo
    from training.data.dataset import from_database

    photos = from_database(db, settings.data_dir)
    known = [(p, o) for p in photos for o in p.objects if o.condition is not None and o.object_type != "vegetation"]
    if not known:
        return "### Reviewed data\nNo reviewed label has a condition yet: review or import some first."
    counts = Counter(class_name(o.object_type, o.condition) for _, o in known)
    defaults = DatasetSettings()
    _, held_out = split_by_photo(photos, defaults.held_out_fraction, defaults.held_out_seed)
    held = {p.name for p in held_out}
    held_known = [(p, o) for p, o in known if p.name in held]
    verdict = _gate_outlook(held_known, known)
    return (
        f"### Reviewed data\n{counted(len(known), 'reviewed object')} with a condition on "
        f"{counted(len({p.name for p, _ in known}), 'photo')}; held out for the gate: "
        f"{counted(len(held_known), 'object')} on {counted(len(held), 'photo')} (split by photo, fixed): "
        f"{verdict}\n\n" + " · ".join(f"{class_words(name)} {n}" for name, n in sorted(counts.items()))
    )


def _gate_outlook(held: list, every: list) -> str:
    """Whether the gate, at its default minimums, could judge a candidate on these (photo, object)."""
    from training.eval.gate import evidence

    def shortfalls(pairs: list) -> list[str]:
        found = evidence([p.name for p, _ in pairs], [(o.object_type, o.condition) for _, o in pairs], "")
        return found.shortfalls(rule)

    rule = GateRule()
    if not (short := shortfalls(held)):
        return "enough for the gate to judge on this split."
    if not shortfalls(every):
        return f"short of the gate's minimums on this split ({', '.join(short)}): it judges by {rule.folds} folds."
    return f"too few for the gate even with every photo ({', '.join(shortfalls(every))}): review more photos."


_FULL_BAR = "<progress value='1' max='1' style='width:100%'></progress>"


def progress_html(db: Database) -> str:
    """A bar for the running job (or the last one), with its latest figures."""
    latest = jobs.runs(db, limit=1)
    if not latest:
        return "<p>No job has run yet.</p>"
    run = latest[0]
    head = f"<p>Job {run.id} ({run.kind}): <b>{run.status}</b>"
    if "total" not in run.progress:
        # A job without steps (quantize): a moving bar while it runs, a full one once it ended.
        bar = "<progress style='width:100%'></progress>" if run.status in jobs.ACTIVE else _FULL_BAR
        return f"{head}</p>{bar}"
    step = run.progress.get("step", 0)
    # A time-limited detector run re-plans its epochs as it goes: never show "19 of 18".
    total = max(step, run.progress.get("total") or 1)
    figures = ", ".join(
        f"{k.replace('_', ' ')} {v:.3f}"
        for k, v in run.progress.items()
        if k not in ("step", "total") and isinstance(v, float)
    )
    return (
        f"{head}, step {step} of {total}"
        + (f" · {figures}" if figures else "")
        + f"</p><progress value='{step}' max='{total}' style='width:100%'></progress>"
    )


def run_rows(db: Database) -> list[list]:
    names = {v.id: v.name for v in registry.versions(db)}
    rows = []
    for run in jobs.runs(db):
        progress = run.progress or {}
        done = progress.get("step", 0)
        step = f"{done} / {max(done, progress.get('total') or 0)}" if "total" in progress else "–"
        rows.append(
            [
                run.id,
                run.kind,
                run.status + (" (stop requested)" if run.cancel_requested and run.status in jobs.ACTIVE else ""),
                step,
                run.created_by,
                _when(run.started_at),
                _when(run.finished_at),
                names.get(run.produced_version_id, ""),
                run.error or "",
            ]
        )
    return rows


def latest_log(db: Database) -> str:
    latest = jobs.runs(db, limit=1)
    return latest[0].log if latest else ""


def version_rows(db: Database) -> list[list]:
    return [[v.kind, v.name, v.status, _when(v.created_at), _figures(v.metrics)] for v in registry.versions(db)]


def start(
    db: Database,
    settings: Settings,
    label: str,
    method: str,
    steps: float,
    hours: float,
    margin: float,
    promote: bool,
    actor: str,
) -> str:
    kind = JOB_LABELS[label]
    # Checked here rather than by the fields' minimum, whose message names no field.
    if kind == "condition" and (steps is None or steps < 1):
        return "Not started: Steps (condition model) must be a whole number of at least 1."
    if kind == "detector" and (hours is None or hours < 0.01):
        return "Not started: Hours (detector) must be at least 0.01."
    try:
        given = {"promote": bool(promote), "gate": {"margin": float(margin)}}
        if kind == "condition":
            spec = JobSpec(kind, finetune={"method": method, "steps": int(steps)}, **given)
        else:
            spec = JobSpec(kind, detector={"hours": float(hours)}, **given)
        # With a task queue the job runs on a worker of the training queue, else in a process here.
        queue = None
        if settings.broker_url:
            from services.tasks import CeleryQueue  # Celery is loaded only where there is a broker

            queue = CeleryQueue(settings)
        run_id = jobs.start_job(db, settings, spec, actor, queue)
    except (ServiceError, ValueError) as exc:
        return f"Not started: {getattr(exc, 'message', exc)}"
    where = "on a worker (`slope worker`)" if settings.broker_url else "in its own process"
    return f"Job {run_id} started ({label.lower()}). It runs {where}; follow it below."


def cancel(db: Database) -> str:
    active = [r for r in jobs.runs(db) if r.status in jobs.ACTIVE]
    if not active:
        return "No job is running."
    jobs.request_cancel(db, active[0].id)
    return f"Job {active[0].id} was asked to stop; it stops after its current step and leaves nothing behind."


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


# How the figures of a card read to a person (the rest: the key with spaces).
FIGURE_NAMES = {
    "map50": "mAP@0.5",
    "map50_95": "mAP@0.5:0.95",
    "macro_f1": "macro-F1",
    "ece": "calibration error (ECE)",
    "ece_uncalibrated": "ECE before calibration",
    "normal_vs_problem": "normal vs problem",
}


def _figures(metrics: dict) -> str:
    """The gate's verdict where there was one, else the headline figures and their data."""
    if "gate" in metrics:
        return metrics["gate"]
    figures = ", ".join(
        f"{FIGURE_NAMES.get(k, k.replace('_', ' '))} {v:.3f}" for k, v in metrics.items() if isinstance(v, float)
    )
    measured = readable_data(str(metrics.get("measured_on") or ""))
    return f"{figures} ({measured})" if figures and measured else figures


NOT_ADMIN = "### Training\nLog in with an admin account to train, promote or roll back models."


def build_train_tab(settings: Settings, server: ModelServer, db: Database) -> None:
    """Every handler checks for an admin on the server; the page fills in on its first refresh
    (every 2 s), so nothing is shown to who may not see it."""
    admin = guard(db, "admin")
    served = gr.Markdown(NOT_ADMIN)
    dataset = gr.Markdown()
    with gr.Row():
        with gr.Column():
            gr.Markdown("### Improve a model from the reviewed labels")
            label = gr.Radio(list(JOB_LABELS), value=next(iter(JOB_LABELS)), label="Job")
            with gr.Row():
                method = gr.Dropdown(
                    [("LoRA adapters", "lora"), ("Full fine-tune", "full")],
                    value="lora",
                    label="Method (condition model)",
                )
                steps = gr.Number(FinetuneSettings.steps, precision=0, label="Steps (condition model)")
                hours = gr.Number(DETECTOR_JOB["hours"], label="Hours (detector)")
            with gr.Row():
                margin = gr.Number(
                    GateRule.margin,
                    minimum=0,
                    maximum=0.99,
                    label="Gate margin: how much better than the served model a candidate must be shown to be "
                    "(macro-F1, or mAP@0.5 for the detector; 0: better beyond chance)",
                )
                promote = gr.Checkbox(
                    settings.auto_promote,
                    label="Serve the candidate without asking me if it passes the gate",
                )
            with gr.Row():
                start_button = gr.Button("Start job", variant="primary", elem_id="train-start")
                cancel_button = gr.Button("Stop the running job")
            message = gr.Markdown()
        with gr.Column():
            choice, served_event = build_promotion_panel(db, admin)
    bar = gr.HTML()
    runs_table = gr.Dataframe(
        headers=RUN_HEADERS,
        label="Jobs",
        interactive=False,
        wrap=True,
        column_widths=["5%", "9%", "10%", "8%", "8%", "13%", "13%", "22%", "12%"],
    )
    log = gr.Textbox(label="Log of the latest job", lines=8, max_lines=20, autoscroll=True)
    versions = gr.Dataframe(
        headers=VERSION_HEADERS,
        label="Model versions",
        interactive=False,
        wrap=True,
        column_widths=VERSION_WIDTHS,
    )
    events = events_table(None)
    build_accounts_panel(db)
    timer = gr.Timer(2.0)
    # The reviewed-data summary reads and hashes every reviewed photo: built again only when the
    # labels changed, not on every tick of the timer.
    summary: dict[str, object] = {"key": None, "text": ""}

    def reviewed_data() -> str:
        key = labels_fingerprint(db)
        if key != summary["key"]:
            summary["key"], summary["text"] = key, dataset_markdown(db, settings)
        return str(summary["text"])

    def refresh(request: gr.Request):
        try:
            admin(request)
        except gr.Error:  # the timer keeps asking; answer quietly with the login hint
            return NOT_ADMIN, "", "", [], "", [], gr.update(choices=[]), []
        return (
            served_markdown(server),
            reviewed_data(),
            progress_html(db),
            run_rows(db),
            latest_log(db),
            version_rows(db),
            gr.update(choices=version_choices(db)),
            event_rows(db),
        )

    def start_handler(label, method, steps, hours, margin, promote, request: gr.Request) -> str:
        user = admin(request)
        return start(db, settings, label, method, steps, hours, margin, promote, actor=user.username)

    def cancel_handler(request: gr.Request) -> str:
        admin(request)
        return cancel(db)

    outputs = [served, dataset, bar, runs_table, log, versions, choice, events]
    timer.tick(refresh, outputs=outputs, show_progress="hidden")
    start_button.click(
        start_handler, inputs=[label, method, steps, hours, margin, promote], outputs=[message], api_name="start_job"
    ).then(refresh, outputs=outputs)
    cancel_button.click(cancel_handler, outputs=[message], api_name="cancel_job").then(refresh, outputs=outputs)
    served_event.then(refresh, outputs=outputs)
