"""The Review tab: a queue of photos, least certain first; one photo at a time in a box editor
(``gradio_image_annotation``), each label's model probabilities and spatial relations beside it,
and the reviewer's actions, each saved at once with its history. Every handler checks the
reviewer role on the server (``ui.access.require``).

A box's label in the editor is ``#<label id> <type> · <condition>``: the id ties a box back to
its stored label; a box drawn now has no id and gets its type and condition from the editor's
label list.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from gradio_image_annotation import image_annotator

from core.taxonomy import ALLOWED_CONDITIONS, CONDITIONS, OBJECT_TYPES, counted, object_word
from services import review, review_text
from storage.db import Database
from storage.images import survey_names
from storage.review import UNKNOWN, PhotoView
from ui.access import refusal, refusals_shown, refused, require, said_in
from ui.export_panel import build_export_panel
from ui.markdown import as_text
from ui.review_editor import (
    CLASS_LABELS,
    DRAG_ON_NEW_PHOTO_JS,
    EDITOR_LABELS,
    FIT_JS,
    HIDE_ROTATE_JS,
    LABEL_TAG_JS,
    SELECT_JS,
    TAGS_JS,
    TURNED,
    editor_boxes,
    editor_colours,
    editor_value,
    with_new_class,
)
from ui.review_keys import SHORTCUTS_JS, SHORTCUTS_MD

ROLE = "reviewer"
ANY = "(any)"
# Dropdown choices as (what the reviewer reads, the stored type).
TYPE_CHOICES = [(object_word(t), t) for t in OBJECT_TYPES]
TABLE_HEADERS = ["Box", "Object", "Condition", "Status", "Certainty", "Model's condition probabilities", "Where"]
OVERVIEW_HEADERS = ["Photo", "To review", "Reviewed", "Labels", "Least certainty"]
HISTORY_HEADERS = ["When (UTC)", "Who", "Box", "Action", "Before", "After"]


DEFAULT_NEW_CLASS = review_text.label_text("slope_drain", None)


def _selected(photo: PhotoView | None, wanted: int | None, filters: review.Filters) -> int | None:
    if photo is None or not photo.labels:
        return None
    if wanted in [label.label_id for label in photo.labels]:
        return wanted
    # Least certain first: the first pending label the filters show, else the first they show.
    shown = [label for label in photo.labels if review.in_scope(label, filters)] or photo.labels
    pending = [label.label_id for label in shown if label.status == "pending"]
    return (pending or [label.label_id for label in shown])[0]


def render(
    db: Database, data_dir: str | Path, session: review.ReviewSession, message: str, selected: int | None = None
):
    """Every output of the tab for ``session``, in the order of ``outputs`` in ``build_review_tab``."""
    photo = session.photo
    c = review.counts(db, session.filters)
    counts_md = (
        f"**To review:** {counted(c['to_review'], 'label')} on {counted(c['photos_to_review'], 'photo')} · "
        f"**reviewed:** {c['reviewed']} · **total:** {c['total']}"
    )
    if photo is None:
        info = "The queue is empty under these filters." if session.trail or session.pos >= 0 else ""
        return (
            session,
            None,
            counts_md,
            info,
            gr.update(choices=[], value=None),
            gr.update(value=None),
            gr.update(choices=[], value=None),
            [],
            [],
            message or info,
        )
    chosen = _selected(photo, selected, session.filters)
    label = next((lb for lb in photo.labels if lb.label_id == chosen), None)
    info = (
        f"**{as_text(photo.original_name)}** ({photo.width}×{photo.height})"
        + (f" · survey {as_text(photo.survey)}" if photo.survey else "")
        + _place(review.place(db, session), c["photos_to_review"] if session.filters.status == "to review" else None)
    )
    choices = [
        (
            f"#{photo.number(lb.label_id)} {review_text.label_text(lb.object_type, lb.condition)} "
            f"({lb.status}, {lb.certainty:.2f})",
            lb.label_id,
        )
        for lb in photo.labels
    ]
    rows = [
        [
            photo.number(lb.label_id),
            object_word(lb.object_type),
            lb.condition or "?",
            lb.status,
            round(lb.certainty, 3),
            review_text.probs_text(lb.condition_probs),
            review_text.relations_text(lb.relations),
        ]
        for lb in photo.labels
    ]
    return (
        session,
        editor_value(photo, data_dir),
        counts_md,
        info,
        gr.update(choices=choices, value=chosen),
        gr.update(value=label.object_type if label else None),
        gr.update(
            choices=list(ALLOWED_CONDITIONS[label.object_type]) if label else [],
            value=label.condition if label else None,
        ),
        rows,
        review_text.history_rows(db, photo.image_id),
        message,
    )


def _place(n: int | None, of: int | None) -> str:
    """' · photo 3 of 17 in the queue' (of the photos to review), or that it left the queue."""
    if n is None:
        return " · no longer in the queue (reviewed)"
    return f" · photo {n}" + (f" of {of}" if of else "") + " in the queue"


def _filters(survey: str | None, object_type: str | None, condition: str | None, status: str | None) -> review.Filters:
    def value(v):
        return None if v in (None, "", ANY) else v

    try:
        return review.Filters(value(survey), value(object_type), value(condition), status or "to review")
    except ValueError as exc:
        raise refused(str(exc)) from exc


def build_review_tab(db: Database, data_dir: str | Path, max_new_boxes: int = review.MAX_NEW_BOXES) -> None:
    """The tab's components and wiring; call inside a ``gr.Blocks``."""
    state = gr.State(None)
    gr.Markdown(
        "Reviewing needs a **reviewer** or **admin** account. Open the queue, correct boxes, types and "
        "conditions: each change is saved at once, with who made it, and can be undone (a whole save at a "
        "time) and redone."
    )
    with gr.Row():
        survey = gr.Dropdown(
            [ANY, *survey_names(db)], value=ANY, label="Survey", allow_custom_value=True, elem_id="review-survey"
        )
        object_type = gr.Dropdown([(ANY, ANY), *TYPE_CHOICES], value=ANY, label="Object type")
        # "unknown": labels drawn or imported with no condition chosen, reviewed or not
        condition = gr.Dropdown([ANY, *CONDITIONS, UNKNOWN], value=ANY, label="Condition")
        status = gr.Dropdown(list(review.STATUS_CHOICES), value="to review", label="Status")
        load = gr.Button("Open queue", variant="primary", elem_id="review-load")
    counts = gr.Markdown(elem_id="review-counts")
    info = gr.Markdown(elem_id="review-info")
    with gr.Row():
        with gr.Column(scale=3):
            gr.Markdown(
                "**Photo:** drag a box to move it, its corners to resize; draw a new one on empty ground "
                "(the tools under the photo switch between moving and drawing)."
            )
            editor = image_annotator(
                label="Photo",
                show_label=False,  # its floating label would hide the top of the photo
                # A new box is a "new box" until saved, then the class chosen in "New boxes are":
                # no dialog for every box (its label can still be picked: E, or a double click).
                use_default_label=True,
                label_list=EDITOR_LABELS,
                label_colors=editor_colours(),
                image_type="filepath",
                sources=[],
                show_clear_button=False,
                show_remove_button=True,
                boxes_alpha=0.0,  # outlines only: stacked fills hid the very objects being judged
                height=560,
                elem_id="review-editor",
            )
            with gr.Row():
                fit = gr.Button("Fit photo (space)", size="sm", elem_id="review-fit")
                tags = gr.Checkbox(value=True, label="Box labels on the photo", elem_id="review-tags")
                gr.Markdown("Wheel: zoom · drag on empty ground: pan")
        with gr.Column(scale=2):
            new_class = gr.Dropdown(
                CLASS_LABELS,
                value=DEFAULT_NEW_CLASS,
                label="New boxes are (kept from photo to photo)",
                elem_id="review-new-class",
            )
            pick = gr.Dropdown(
                label="Selected label (least certain first)", choices=[], elem_id="review-pick", allow_custom_value=True
            )
            with gr.Row():
                # value=None: empty until a label is selected (Gradio would show the first type)
                kind = gr.Dropdown(TYPE_CHOICES, value=None, label="Object type", elem_id="review-type")
                cond = gr.Dropdown([], label="Condition", elem_id="review-condition", allow_custom_value=True)
            with gr.Row():
                normal = gr.Button("Normal (1)", elem_id="review-normal", size="sm")
                blocked = gr.Button("Blocked (2)", elem_id="review-blocked", size="sm")
                damaged = gr.Button("Damaged (3)", elem_id="review-damaged", size="sm")
            with gr.Row():
                accept = gr.Button("Accept label (a)", elem_id="review-accept", size="sm")
                delete = gr.Button("Delete label (d)", elem_id="review-delete", size="sm", variant="stop")
            with gr.Row():
                label_prev = gr.Button("◀ label (k)", elem_id="review-label-prev", size="sm")
                label_next = gr.Button("label ▶ (j)", elem_id="review-label-next", size="sm")
            with gr.Row():
                save = gr.Button("Save (s)", elem_id="review-save")
                save_next = gr.Button("Save & next (n)", elem_id="review-save-next", variant="primary")
            accept_all = gr.Button("Accept all remaining shown (Shift+A)", elem_id="review-accept-all")
            with gr.Row():
                prev = gr.Button("◀ Previous ([)", elem_id="review-prev", size="sm")
                nxt = gr.Button("Next ▶ (])", elem_id="review-next", size="sm")
                undo = gr.Button("Undo (u)", elem_id="review-undo", size="sm")
                redo = gr.Button("Redo (r)", elem_id="review-redo", size="sm")
            message = gr.Markdown(elem_id="review-message")
    with gr.Accordion("Queue overview: every photo under the filters", open=False) as overview_panel:
        with gr.Row():
            search = gr.Textbox(label="Search by file name", scale=3, elem_id="review-search")
            refresh_overview = gr.Button("Refresh", size="sm", scale=1)
        overview_ids = gr.State([])
        overview_table = gr.Dataframe(
            headers=OVERVIEW_HEADERS,
            label="Click a photo to open it (least certain first; up to 200)",
            interactive=False,
            elem_id="review-overview",
        )
    table = gr.Dataframe(
        headers=TABLE_HEADERS,
        label="Labels on this photo",
        interactive=False,
        wrap=True,
        # Wide enough for each header on one line; "Where" holds a sentence.
        column_widths=["5%", "11%", "10%", "10%", "9%", "22%", "33%"],
    )
    history = gr.Dataframe(
        headers=HISTORY_HEADERS,
        label="History of this photo (newest first)",
        interactive=False,
        wrap=True,
        # Sized for the texts, not from the first rows: before/after hold a whole label.
        column_widths=["16%", "8%", "7%", "9%", "30%", "30%"],
    )
    gr.Markdown(SHORTCUTS_MD)
    build_export_panel(db, data_dir)
    # The box a click on the photo picked, "number@time" (``SELECT_JS`` writes it; nobody types here).
    clicked = gr.Textbox(visible="hidden", elem_id="review-clicked")
    page_js = SHORTCUTS_JS + LABEL_TAG_JS + SELECT_JS + DRAG_ON_NEW_PHOTO_JS + HIDE_ROTATE_JS
    gr.HTML("", js_on_load=page_js, padding=False)

    outputs = [state, editor, counts, info, pick, kind, cond, table, history, message]
    said = said_in(len(outputs))  # a refusal of an action in the message, the photo and lists kept

    def open_queue(s, t, c, st, request: gr.Request):
        require(request, db, ROLE)
        session = review.start(db, _filters(s, t, c, st))
        note = "" if session.photo else "Nothing to review under these filters."
        return render(db, data_dir, session, note)

    def current(session: review.ReviewSession | None) -> review.ReviewSession:
        if session is None or session.photo is None:
            raise refused("Open the queue first: no photo is shown.")
        return session

    def saver(action: str):
        def handler(session, value, selected, object_type, condition, new_class, request: gr.Request):
            user = require(request, db, ROLE)
            session = current(session)
            photo = session.photo
            selected = int(selected) if selected not in (None, "") else None
            if value and value.get("orientation"):
                return render(db, data_dir, session, TURNED, selected)
            boxes = with_new_class(editor_boxes(value, photo), new_class)
            edits = {}
            if selected is not None and object_type:
                wanted = condition or None
                if action in ("normal", "blocked", "damaged"):
                    wanted = action
                    if wanted not in ALLOWED_CONDITIONS.get(object_type, ()):
                        return render(
                            db,
                            data_dir,
                            session,
                            f"{object_word(object_type).capitalize()} cannot be {wanted}: "
                            f"allowed {', '.join(ALLOWED_CONDITIONS[object_type])}.",
                            selected,
                        )
                edits[selected] = review.LabelEdit(object_type, wanted)
            if action in ("accept", "delete") and selected is None:
                return render(db, data_dir, session, "Select a label first.", selected)
            # A condition button on the label's own condition confirms it: accepted, not "no change".
            confirms = action == "accept" or (action in CONDITIONS and selected in edits)
            outcome = review.save(
                db,
                user.username,
                photo,
                boxes,
                edits=edits,
                accept=(selected,) if confirms else (),
                delete=(selected,) if action == "delete" else (),
                accept_rest=action in ("accept_all", "save_next"),
                filters=session.filters,
                max_new_boxes=max_new_boxes,
            )
            session.photo = outcome.photo
            step = review.after_save(outcome, selected, action == "save_next")
            if step.move_on:
                session = review.next_photo(db, session)
            return render(db, data_dir, session, step.message, step.selected)

        return handler

    def move(step: int):
        def handler(session, request: gr.Request):
            require(request, db, ROLE)
            if session is None:
                raise refused("Open the queue first: no photo is shown.")
            session = review.next_photo(db, session) if step > 0 else review.previous_photo(db, session)
            return render(db, data_dir, session, "")

        return handler

    def reverter(revert):
        def handler(session, request: gr.Request):
            user = require(request, db, ROLE)
            session = current(session)
            outcome = revert(db, user.username, session.photo)
            session.photo = outcome.photo
            return render(db, data_dir, session, outcome.message, outcome.changed[0] if outcome.changed else None)

        return handler

    def step_label(step: int):
        def handler(session, selected):
            ids = [lb.label_id for lb in session.photo.labels] if session and session.photo else []
            if not ids:  # no photo, or none of its labels: nothing to step to
                return gr.update(), gr.update(), gr.update()
            i = ids.index(selected) if selected in ids else -step
            return show_label(session, ids[(i + step) % len(ids)])

        return handler

    def show_label(session, selected):
        if session is None or session.photo is None:
            return gr.update(), gr.update(), gr.update()
        label = next((lb for lb in session.photo.labels if lb.label_id == selected), None)
        if label is None:
            return gr.update(), gr.update(), gr.update()
        return (
            gr.update(value=label.label_id),
            gr.update(value=label.object_type),
            gr.update(choices=list(ALLOWED_CONDITIONS[label.object_type]), value=label.condition),
        )

    def type_changed(object_type, condition):
        allowed = list(ALLOWED_CONDITIONS.get(object_type, ()))
        keep = condition if condition in allowed else (allowed[0] if len(allowed) == 1 else None)
        return gr.update(choices=allowed, value=keep)

    filters = [survey, object_type, condition, status]
    load.click(said(open_queue), filters, outputs, api_name="review_open")

    def survey_choices(request: gr.Request):  # listed fresh on each look; every name: reviewers only
        return gr.update() if refusal(request, db, ROLE) else gr.update(choices=[ANY, *survey_names(db)])

    survey.focus(survey_choices, None, survey, api_name="review_surveys")
    action_inputs = [state, editor, pick, kind, cond, new_class]
    for button, action in [
        (save, "save"),
        (save_next, "save_next"),
        (accept, "accept"),
        (delete, "delete"),
        (accept_all, "accept_all"),
        (normal, "normal"),
        (blocked, "blocked"),
        (damaged, "damaged"),
    ]:
        button.click(said(saver(action)), action_inputs, outputs, api_name=f"review_{action}")
    nxt.click(said(move(1)), [state], outputs, api_name="review_next")
    prev.click(said(move(-1)), [state], outputs, api_name="review_previous")
    undo.click(said(reverter(review.undo_last)), [state], outputs, api_name="review_undo")
    redo.click(said(reverter(review.redo_last)), [state], outputs, api_name="review_redo")
    private = {"api_visibility": "private", "queue": False}
    pick.input(lambda s, v: show_label(s, v), [state, pick], [pick, kind, cond], **private)
    label_next.click(step_label(1), [state, pick], [pick, kind, cond], **private)
    label_prev.click(step_label(-1), [state, pick], [pick, kind, cond], **private)
    kind.input(type_changed, [kind, cond], [cond], **private)
    # A condition picked in the list is saved at once, as the 1/2/3 buttons do: a click on another
    # box (which selects it) must not drop it.
    save_handler = saver("save")

    def condition_picked(
        session, value, selected, object_type, condition, new_class, request: gr.Request, event: gr.SelectData = None
    ):
        # The option picked, from the event (the list's own value may not have reached us yet);
        picked = event.value if event is not None else condition
        return save_handler(session, value, selected, object_type, picked, new_class, request)

    # Not an API endpoint: a client sets a condition with /review_save (a select event needs the page).
    cond.select(said(condition_picked), action_inputs, outputs, api_visibility="private")

    def box_clicked(session, click):
        number = str(click or "").partition("@")[0]  # "2@<time>": box 2
        if session is None or session.photo is None or not number.isdigit():
            return gr.update(), gr.update(), gr.update()
        return show_label(session, session.photo.label_id(int(number)))

    def row_clicked(session, event: gr.SelectData):
        if session is None or session.photo is None or not 0 <= event.index[0] < len(session.photo.labels):
            return gr.update(), gr.update(), gr.update()
        return show_label(session, session.photo.labels[event.index[0]].label_id)

    clicked.change(box_clicked, [state, clicked], [pick, kind, cond], **private)
    fit.click(None, js=FIT_JS)
    tags.input(None, [tags], None, js=TAGS_JS)

    def overview_rows(session, s, t, c, st, text, request: gr.Request):
        require(request, db, ROLE)
        filters = session.filters if session is not None else _filters(s, t, c, st)
        rows = review.overview(db, filters, text)
        table_rows = [[r.name, r.to_review, r.reviewed, r.total, round(r.key, 3)] for r in rows]
        return [r.image_id for r in rows], table_rows

    def open_from_overview(session, ids, event: gr.SelectData, request: gr.Request):
        require(request, db, ROLE)
        session = current(session)
        if not 0 <= event.index[0] < len(ids):
            return render(db, data_dir, session, "")
        with refusals_shown():
            session = review.jump_to(db, session, ids[event.index[0]])
        return render(db, data_dir, session, "")

    overview_inputs = [state, *filters, search]
    for trigger in (overview_panel.expand, refresh_overview.click, search.submit):
        trigger(overview_rows, overview_inputs, [overview_ids, overview_table], **private)
    overview_table.select(said(open_from_overview), [state, overview_ids], outputs, **private)
    table.select(row_clicked, [state], [pick, kind, cond], **private)
