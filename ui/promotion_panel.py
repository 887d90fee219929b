"""Serving a version is a person's decision, taken with the gate's report in front of them: the
Train tab's "Serve this version…" opens a confirmation (what serves now, what would serve, the
version's gate report), which needs a reason and a tick. The endpoint refuses without both, so
an API client cannot promote in one call either. Every change is an event, listed here and on
the Dashboard.
"""

from __future__ import annotations

import gradio as gr

from core.statuses import ModelStatus
from lifecycle import registry
from storage.db import Database
from storage.errors import NotFoundError

EVENT_HEADERS = ["When (UTC)", "Model", "Change", "From", "To", "By", "Why", "Gate verdict"]
EVENT_WIDTHS = ["10%", "8%", "9%", "15%", "15%", "12%", "12%", "19%"]  # "configured", "configuration" whole
NO_REPORT = (
    "This version has no gate report: nothing measured it against the served model on held-out reviewed "
    "photos (a shipped default, or a model built by hand)."
)


def event_rows(db: Database) -> list[list]:
    return [
        [
            e.at.strftime("%Y-%m-%d %H:%M"),
            e.kind,
            e.action,
            e.from_version or "",
            e.to_version,
            e.actor,
            e.reason,
            (e.gate_report or "").split("\n", 1)[0],
        ]
        for e in registry.events(db)
    ]


def version_choices(db: Database) -> list[str]:
    return [f"{v.kind} {v.name}" for v in registry.versions(db) if v.status != ModelStatus.SERVED]


def _chosen(choice: str | None) -> tuple[str, str]:
    kind, _, name = (choice or "").partition(" ")
    if kind not in registry.KINDS or not name:
        raise NotFoundError("choose a version from the list")
    return kind, name


def preview(db: Database, choice: str | None) -> str:
    """What the confirmation shows: which version would replace which, and its gate report."""
    kind, name = _chosen(choice)
    row = registry.find_version(db, name)
    served = registry.served_version(db, kind)
    report = row.metrics.get("gate_report") or row.metrics.get("gate") or NO_REPORT
    change = "roll back to" if row.served_at is not None else "serve"
    lines = [
        f"**You are about to {change} `{name}` for every inspector**, in place of "
        f"`{served.name if served else 'nothing'}` (from the next request on).",
    ]
    compared = row.metrics.get("compared_with")
    if compared and served is not None and compared != served.name:
        lines += [
            "",
            f"**Its gate compared it with `{compared}`, not with `{served.name}`**: nothing below says it is better.",
        ]
    lines += [
        "",
        "Its gate report:",
        "",
        "\n>\n".join(f"> {line}" for line in report.split("\n")),  # a paragraph per line
    ]
    return "\n".join(lines)


def serve(db: Database, choice: str | None, reason: str, confirmed: bool, actor: str) -> str:
    """Serve the chosen version, only with a reason and the confirmation ticked."""
    if confirmed is not True:
        return "Not served: tick the confirmation first (every inspector gets this version)."
    try:
        kind, name = _chosen(choice)
        row = registry.promote(db, kind, name, actor=actor, reason=reason)
    except FileNotFoundError:  # its message names a server folder
        return "Not served: the files of this version are gone from the server."
    except (NotFoundError, ValueError) as exc:
        return f"Not served: {exc}."
    return f"{row.kind} `{row.name}` serves from the next request on. Recorded: {actor}, “{row.served_reason}”."


def events_table(db: Database | None, show_label: bool = True, elem_id: str | None = None) -> gr.Dataframe:
    return gr.Dataframe(
        value=event_rows(db) if db is not None else [],
        headers=EVENT_HEADERS,
        label="Changes of the served models",
        show_label=show_label,
        elem_id=elem_id,
        interactive=False,
        wrap=True,
        column_widths=EVENT_WIDTHS,
    )


def build_promotion_panel(db: Database, admin):
    """The version picker and its confirmation. ``admin(request)`` checks the caller. Returns the
    picker (the tab refreshes its choices) and the confirmation's event (to chain the refresh)."""
    gr.Markdown("### Serve a version")
    # Custom values allowed: the choices change as jobs add versions; serve() checks the name.
    choice = gr.Dropdown([], label="Version to serve (an older one rolls back)", allow_custom_value=True)
    ask = gr.Button("Serve this version…", elem_id="serve-ask")
    with gr.Group(visible=False) as confirm_box:
        report = gr.Markdown(elem_id="serve-report")
        reason = gr.Textbox(label="Why (kept with the change)", max_length=500, elem_id="serve-reason")
        ticked = gr.Checkbox(False, label="I have read the gate report: serve this version to every inspector")
        with gr.Row():
            confirm = gr.Button("Confirm", variant="stop", elem_id="serve-confirm-button")
            cancel = gr.Button("Cancel")
    message = gr.Markdown()

    def ask_handler(choice: str | None, request: gr.Request):
        admin(request)
        try:
            text = preview(db, choice)
        except NotFoundError as exc:
            return gr.update(visible=False), "", f"Not served: {exc}."
        return gr.update(visible=True), text, ""

    def confirm_handler(choice: str | None, reason: str, ticked: bool, request: gr.Request):
        user = admin(request)
        text = serve(db, choice, reason, ticked, user.username)
        done = not text.startswith("Not served")
        closed = (gr.update(visible=False), "", False) if done else (gr.update(), gr.update(), gr.update())
        return (*closed, text)

    ask.click(ask_handler, inputs=[choice], outputs=[confirm_box, report, message], api_name="serve_preview")
    served = confirm.click(
        confirm_handler,
        inputs=[choice, reason, ticked],
        outputs=[confirm_box, reason, ticked, message],
        api_name="serve_version",
    )
    cancel.click(lambda: (gr.update(visible=False), "", False), outputs=[confirm_box, reason, ticked], api_name=False)
    return choice, served
