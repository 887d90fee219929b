"""The Review tab: a queue of photos, least certain first; one photo at a time in a box editor
(``gradio_image_annotation``), each label's model probabilities and spatial relations beside it,
and the reviewer's actions, each saved at once with its history. Every handler checks the
reviewer role on the server (``services.auth.require``).

A box's label in the editor is ``#<label id> <type> · <condition>``: the id ties a box back to
its stored label; a box drawn now has no id and gets its type and condition from the editor's
label list.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tempfile
from pathlib import Path

import gradio as gr
from gradio_image_annotation import image_annotator
from PIL import Image, ImageOps
from sqlalchemy import select

from core.taxonomy import ALLOWED_CONDITIONS, CONDITIONS, OBJECT_TYPES, object_word, parse_class_name
from services import review
from services.auth import require
from storage import models as m
from storage.db import Database
from storage.repository import PhotoView
from ui.styles import style_js

ROLE = "reviewer"
ANY = "(any)"
COLOURS = {"normal": (22, 163, 74), "blocked": (245, 158, 11), "damaged": (220, 38, 38), None: (100, 116, 139)}
CLASS_LABELS = [review.label_text(t, c) for t in OBJECT_TYPES for c in (*ALLOWED_CONDITIONS[t], None)]
_BOX_LABEL = re.compile(r"^\s*(?:#(\d+)\s+)?([a-z_ ]+?)\s*·\s*([a-z]+|\?)\s*$")
# Dropdown choices as (what the reviewer reads, the stored type).
TYPE_CHOICES = [(object_word(t), t) for t in OBJECT_TYPES]
TABLE_HEADERS = ["Box", "Object", "Condition", "Status", "Certainty", "Model's condition probabilities", "Where"]
HISTORY_HEADERS = ["When (UTC)", "Who", "Box", "Action", "Before", "After"]
# The editor draws a photo at its own size when it fits (it only ever shrinks one), so a small
# photo (the 224-px crops of a Roboflow export) would show as a stamp with its box labels piled on
# each other. Such a photo is shown enlarged by a whole factor to at least this long side; its
# boxes are scaled with it, and back when saved.
DISPLAY_MIN_SIDE = 640
# A full-resolution drone photo (4000 x 3000, several MB) is shown shrunk to this long side: the
# editor is narrower than that, and the browser loads a fraction of the bytes.
DISPLAY_MAX_SIDE = 2048
# The editor writes a box's label in a tag 20 canvas px above the box, so the label of a box at
# the photo's top edge (a slope drain often runs from edge to edge) would be drawn off the canvas.
# The shown photo gets a blank band on top, this share of its long side: room for the tag while
# the editor gives the shown photo's long side at least 340 px.
LABEL_BAND_SHARE = 0.06
LABEL_BAND_COLOUR = (226, 232, 240)
SHOWN_DIR = Path(tempfile.gettempdir()) / "slope-review-photos"
SHOWN_KEEP = 400  # shown copies kept (the most recently written; ~0.7 MB each at most)

# Keys -> the button (elem_id) they click. Ignored while typing in a field or while the box editor
# has the focus (it has keys of its own: Delete removes the selected box there).
SHORTCUTS = {
    "1": ("review-normal", "condition normal (saves)"),
    "2": ("review-blocked", "condition blocked (saves)"),
    "3": ("review-damaged", "condition damaged (saves)"),
    "a": ("review-accept", "accept the selected label"),
    "d": ("review-delete", "delete the selected label"),
    "s": ("review-save", "save boxes and the selected label's type/condition"),
    "n": ("review-save-next", "save, accept the rest of the photo, next photo"),
    "Enter": ("review-save-next", "same as n"),
    "A": ("review-accept-all", "(Shift+A) accept all remaining on the photo"),
    "j": ("review-label-next", "select the next label"),
    "k": ("review-label-prev", "select the previous label"),
    "]": ("review-next", "next photo without saving"),
    "[": ("review-prev", "previous photo without saving"),
    "u": ("review-undo", "undo the photo's last change"),
}
SHORTCUTS_MD = (
    "**Keys:** "
    + " · ".join(f"`{key}` {text}" for key, (_, text) in SHORTCUTS.items() if key != "Enter")
    + " · `Enter` = `n`. Keys work when no field or the box editor has the focus (click the page background)."
)
_KEYMAP_JS = "{" + ", ".join(f"{key!r}: {elem!r}" for key, (elem, _) in SHORTCUTS.items()) + "}"
SHORTCUTS_JS = f"""
if (!window.__slopeReviewKeys) {{
  window.__slopeReviewKeys = true;
  const keys = {_KEYMAP_JS};
  document.addEventListener("keydown", (e) => {{
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
    const t = e.target;
    if (t && (t.closest("input, textarea, select, [contenteditable=true], #review-editor, .modal")
              || (e.key === "Enter" && t.closest("button")))) return;
    const id = keys[e.key];
    const button = id && document.getElementById(id);
    if (!button || button.offsetParent === null) return;  // the Review tab is not shown
    e.preventDefault();
    button.click();
  }});
}}
"""
# The editor's rotate buttons turn the boxes' coordinates with the photo, while the store, the
# reports and training keep the upright photo: saving after a turn wrote every box of the photo
# wrong. The buttons are hidden here, and a save from a turned editor is refused (``TURNED``).
HIDE_ROTATE_JS = style_js(
    "slope-review-no-rotate", '#review-editor button[aria-label^="Rotate"] { display: none !important; }'
)
TURNED = (
    "Nothing saved: the photo was turned in the editor, and boxes are reviewed on the upright photo. "
    "It is shown upright again."
)

# gradio_image_annotation 0.5.6 draws a box's label in a tag that starts at the box's left edge
# (Box.render: a white fillRect 20 px high, a strokeRect over it, then fillText 5 px in), so the
# tag of a box near the right edge of a photo that fills the editor ran off the canvas. This shifts
# such a tag left onto the canvas, in the review editor only; a later version of the component
# that draws tags otherwise is left as it draws them.
LABEL_TAG_JS = """
if (!window.__slopeReviewTags) {
  window.__slopeReviewTags = true;
  const P = CanvasRenderingContext2D.prototype;
  const fillRect = P.fillRect, strokeRect = P.strokeRect, fillText = P.fillText;
  let shift = 0, pending = 0;  // the open tag's shift, for its stroke and its text
  P.fillRect = function (x, y, w, h) {
    pending = 0;
    if (h === 20 && this.fillStyle === "#ffffff" && this.canvas.closest?.("#review-editor")) {
      shift = Math.max(-x, Math.min(0, this.canvas.width - (x + w)));
      pending = 2;
      x += shift;
    }
    return fillRect.call(this, x, y, w, h);
  };
  P.strokeRect = function (x, y, w, h) {
    if (pending === 2 && h === 20) { pending = 1; x += shift; } else pending = 0;
    return strokeRect.call(this, x, y, w, h);
  };
  P.fillText = function (text, x, ...rest) {
    if (pending === 1) x += shift;
    pending = 0;
    return fillText.call(this, text, x, ...rest);
  };
}
"""


def _rgb(condition: str | None) -> str:
    return "rgb({}, {}, {})".format(*COLOURS.get(condition, COLOURS[None]))


def _hex(condition: str | None) -> str:
    return "#{:02x}{:02x}{:02x}".format(*COLOURS.get(condition, COLOURS[None]))


def display_scale(photo: PhotoView) -> float:
    """How many times larger the editor shows ``photo``: a whole factor for a small photo, less
    than 1 for a huge one, else 1."""
    long_side = max(photo.width, photo.height, 1)
    if long_side < DISPLAY_MIN_SIDE:
        return float(math.ceil(DISPLAY_MIN_SIDE / long_side))
    return min(1.0, DISPLAY_MAX_SIDE / long_side)


def label_band(photo: PhotoView) -> int:
    """Height in shown pixels of the blank band above the photo, room for box labels."""
    return math.ceil(LABEL_BAND_SHARE * max(photo.width, photo.height) * display_scale(photo))


def display_image(photo: PhotoView, data_dir: str | Path) -> str:
    """The file the editor shows: the stored photo at ``display_scale`` under a label band."""
    path = Path(data_dir) / photo.path
    scale, band = display_scale(photo), label_band(photo)
    size = (round(photo.width * scale), round(photo.height * scale))
    # Named by the photo's full path: two surveys may hold photos with the same file name.
    key = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    out = SHOWN_DIR / f"{path.stem}-{key}-{size[0]}x{size[1]}-top{band}.jpg"
    if not out.is_file():
        SHOWN_DIR.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image).convert("RGB")
            if image.size != size:
                image = image.resize(size, Image.Resampling.LANCZOS)
        shown = Image.new("RGB", (size[0], size[1] + band), LABEL_BAND_COLOUR)
        shown.paste(image, (0, band))
        part = out.with_suffix(f".{os.getpid()}.part")
        shown.save(part, "JPEG", quality=95)
        part.replace(out)  # whole or absent, with several sessions at once
        _forget_old_copies(SHOWN_KEEP)
    return str(out)


def _forget_old_copies(keep: int) -> None:
    """Delete all but the ``keep`` newest shown copies: a survey of thousands of photos would
    otherwise leave a copy of each in the temp folder."""

    def written(copy: Path) -> int:
        try:
            return copy.stat().st_mtime_ns
        except FileNotFoundError:  # another session deleted it just now
            return 0

    copies = sorted(SHOWN_DIR.glob("*.jpg"), key=written)
    for old in copies[: max(0, len(copies) - keep)]:
        old.unlink(missing_ok=True)


def editor_value(photo: PhotoView | None, data_dir: str | Path) -> dict | None:
    if photo is None:
        return None
    scale, band = display_scale(photo), label_band(photo)
    return {
        "image": display_image(photo, data_dir),
        "boxes": [
            {
                "xmin": label.box[0] * scale,
                "ymin": label.box[1] * scale + band,
                "xmax": label.box[2] * scale,
                "ymax": label.box[3] * scale + band,
                "label": f"#{photo.number(label.label_id)} {review.label_text(label.object_type, label.condition)}",
                "color": _rgb(label.condition),
            }
            for label in photo.labels
        ],
    }


def editor_boxes(value: dict | None, photo: PhotoView) -> list[review.EditorBox] | None:
    """The editor's boxes as ``EditorBox``es, in ``photo``'s pixels (the photo as loaded, which
    ``editor_value`` showed scaled and under a label band; a box dragged into the band ends at the
    photo's edge), each "#number" read back as the label it numbers on ``photo``; None when the
    editor holds no photo (then box edits are ignored rather than read as "every box removed")."""
    if not value or not value.get("image"):
        return None
    scale, band = display_scale(photo), label_band(photo)
    limits = (photo.width, photo.height) * 2
    boxes = []
    for box in value.get("boxes") or []:
        match = _BOX_LABEL.match(box.get("label") or "")
        label_id = object_type = condition = None
        if match:
            label_id = photo.label_id(int(match[1])) if match[1] else None
            object_type = _type_of(match[2])
            condition = match[3] if match[3] in CONDITIONS else None
        shown = (box["xmin"], float(box["ymin"]) - band, box["xmax"], float(box["ymax"]) - band)
        coords = tuple(min(max(float(v) / scale, 0.0), limit) for v, limit in zip(shown, limits, strict=True))
        boxes.append(review.EditorBox(label_id, coords, object_type, condition))
    return boxes


def _type_of(words: str) -> str | None:
    try:
        return parse_class_name(words)[0]
    except ValueError:
        return None


def _selected(photo: PhotoView | None, wanted: int | None) -> int | None:
    if photo is None or not photo.labels:
        return None
    ids = [label.label_id for label in photo.labels]
    if wanted in ids:
        return wanted
    pending = [label.label_id for label in photo.labels if label.status == "pending"]
    return (pending or ids)[0]  # labels come least certain first


def render(
    db: Database, data_dir: str | Path, session: review.ReviewSession, message: str, selected: int | None = None
):
    """Every output of the tab for ``session``, in the order of ``outputs`` in ``build_review_tab``."""
    photo = session.photo
    c = review.counts(db, session.filters)
    counts_md = (
        f"**To review:** {_count(c['to_review'], 'label')} on {_count(c['photos_to_review'], 'photo')} · "
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
    chosen = _selected(photo, selected)
    label = next((lb for lb in photo.labels if lb.label_id == chosen), None)
    info = (
        f"**{photo.original_name}** ({photo.width}×{photo.height})"
        + (f" · survey {photo.survey}" if photo.survey else "")
        + f" · photo {session.pos + 1} of this session · image id {photo.image_id}"
    )
    choices = [
        (
            f"#{photo.number(lb.label_id)} {review.label_text(lb.object_type, lb.condition)} "
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
            review.probs_text(lb.condition_probs),
            review.relations_text(lb.relations),
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
        review.history_rows(db, photo.image_id),
        message,
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _filters(survey: str | None, object_type: str | None, condition: str | None, status: str | None) -> review.Filters:
    def value(v):
        return None if v in (None, "", ANY) else v

    try:
        return review.Filters(value(survey), value(object_type), value(condition), status or "to review")
    except ValueError as exc:
        raise gr.Error(str(exc)) from exc


def survey_names(db: Database) -> list[str]:
    with db.read() as session:
        return list(session.scalars(select(m.Survey.name).order_by(m.Survey.name)))


def build_review_tab(db: Database, data_dir: str | Path) -> None:
    """The tab's components and wiring; call inside a ``gr.Blocks``."""
    state = gr.State(None)
    gr.Markdown(
        "Reviewing needs a **reviewer** or **admin** account. Open the queue, correct boxes, types and "
        "conditions: each change is saved at once, with who made it, and can be undone."
    )
    with gr.Row():
        survey = gr.Dropdown(
            [ANY, *survey_names(db)], value=ANY, label="Survey", allow_custom_value=True, elem_id="review-survey"
        )
        object_type = gr.Dropdown([(ANY, ANY), *TYPE_CHOICES], value=ANY, label="Object type")
        condition = gr.Dropdown([ANY, *CONDITIONS], value=ANY, label="Condition")
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
                label_list=CLASS_LABELS,
                label_colors=[_hex(t.split(" · ")[1] if not t.endswith("?") else None) for t in CLASS_LABELS],
                image_type="filepath",
                sources=[],
                show_clear_button=False,
                show_remove_button=True,
                boxes_alpha=0.0,  # outlines only: stacked fills hid the very objects being judged
                height=560,
                elem_id="review-editor",
            )
        with gr.Column(scale=2):
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
            accept_all = gr.Button("Accept all remaining (Shift+A)", elem_id="review-accept-all")
            with gr.Row():
                prev = gr.Button("◀ Previous ([)", elem_id="review-prev", size="sm")
                nxt = gr.Button("Next ▶ (])", elem_id="review-next", size="sm")
                undo = gr.Button("Undo last change (u)", elem_id="review-undo", size="sm")
            message = gr.Markdown(elem_id="review-message")
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
    gr.HTML("", js_on_load=SHORTCUTS_JS + LABEL_TAG_JS + HIDE_ROTATE_JS, padding=False)

    outputs = [state, editor, counts, info, pick, kind, cond, table, history, message]

    def open_queue(s, t, c, st, request: gr.Request):
        require(request, db, ROLE)
        session = review.start(db, _filters(s, t, c, st))
        note = "" if session.photo else "Nothing to review under these filters."
        return render(db, data_dir, session, note)

    def current(session: review.ReviewSession | None) -> review.ReviewSession:
        if session is None or session.photo is None:
            raise gr.Error("Open the queue first: no photo is shown.")
        return session

    def saver(action: str):
        def handler(session, value, selected, object_type, condition, request: gr.Request):
            user = require(request, db, ROLE)
            session = current(session)
            photo = session.photo
            selected = int(selected) if selected not in (None, "") else None
            if value and value.get("orientation"):
                return render(db, data_dir, session, TURNED, selected)
            boxes = editor_boxes(value, photo)
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
                boxes=boxes,
                edits=edits,
                accept=(selected,) if confirms else (),
                delete=(selected,) if action == "delete" else (),
                accept_rest=action in ("accept_all", "save_next"),
            )
            session.photo = outcome.photo
            if action == "save_next" and not outcome.conflicts and not outcome.message.startswith("Nothing saved"):
                session = review.next_photo(db, session)
                selected = None
            return render(db, data_dir, session, outcome.message, selected)

        return handler

    def move(step: int):
        def handler(session, request: gr.Request):
            require(request, db, ROLE)
            if session is None:
                raise gr.Error("Open the queue first: no photo is shown.")
            session = review.next_photo(db, session) if step > 0 else review.previous_photo(db, session)
            return render(db, data_dir, session, "")

        return handler

    def undo_handler(session, request: gr.Request):
        user = require(request, db, ROLE)
        session = current(session)
        outcome = review.undo_last(db, user.username, session.photo)
        session.photo = outcome.photo
        return render(db, data_dir, session, outcome.message, outcome.changed[0] if outcome.changed else None)

    def step_label(step: int):
        def handler(session, selected):
            session = current(session)
            ids = [lb.label_id for lb in session.photo.labels]
            if not ids:
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
    load.click(open_queue, filters, outputs, api_name="review_open")
    # Surveys are named on the Inspect tab while this one is open: list them fresh on each look.
    survey.focus(lambda: gr.update(choices=[ANY, *survey_names(db)]), None, survey, api_name="review_surveys")
    action_inputs = [state, editor, pick, kind, cond]
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
        button.click(saver(action), action_inputs, outputs, api_name=f"review_{action}")
    nxt.click(move(1), [state], outputs, api_name="review_next")
    prev.click(move(-1), [state], outputs, api_name="review_previous")
    undo.click(undo_handler, [state], outputs, api_name="review_undo")
    private = {"api_visibility": "private", "queue": False}
    pick.input(lambda s, v: show_label(s, v), [state, pick], [pick, kind, cond], **private)
    label_next.click(step_label(1), [state, pick], [pick, kind, cond], **private)
    label_prev.click(step_label(-1), [state, pick], [pick, kind, cond], **private)
    kind.input(type_changed, [kind, cond], [cond], **private)
