"""The review editor's photo and boxes: the photo as shown (enlarged when small, shrunk when
huge, a band on top for the labels of boxes at the top edge) and the conversion between stored
labels and the editor's boxes, both ways, in the photo's own pixels. Also the editor's two
browser-side patches (rotate buttons hidden, label tags kept on the canvas)."""

from __future__ import annotations

import hashlib
import math
import os
import re
from dataclasses import replace
from pathlib import Path

from PIL import Image, ImageColor, ImageOps

from core.taxonomy import ALLOWED_CONDITIONS, CONDITION_COLOURS, CONDITIONS, OBJECT_TYPES, parse_class_name
from services import review
from services.review_text import label_text
from storage.blobs import blobs_for
from storage.review import PhotoView
from ui.scratch import made_private, private_folder
from ui.styles import style_js

CLASS_LABELS = [label_text(t, c) for t in OBJECT_TYPES for c in (*ALLOWED_CONDITIONS[t], None)]
# What a box drawn just now is called until it is saved: it then takes the class the reviewer
# chose before drawing (the Review tab's "New boxes are"), with no dialog for every box.
NEW_BOX_LABEL = "new box"
_BOX_LABEL = re.compile(r"^\s*(?:#(\d+)\s+)?([a-z_ ]+?)\s*·\s*([a-z]+|\?)\s*$")

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
SHOWN_DIR = private_folder("slope-review-photos")
SHOWN_KEEP = 400  # shown copies kept (the most recently written; ~0.7 MB each at most)

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
# tag of a box near the right edge of a photo that fills the editor ran off the canvas, and the
# tags of boxes whose tops lie close together (drains side by side) were drawn over each other,
# unreadable. This shifts such a tag left onto the canvas, and down, a tag's height at a time,
# clear of the tags already drawn in the frame (the editor clears its canvas for each frame), in
# the review editor only; a later version of the component that draws tags otherwise is left as
# it draws them.
LABEL_TAG_JS = """
if (!window.__slopeReviewTags) {
  window.__slopeReviewTags = true;
  const P = CanvasRenderingContext2D.prototype;
  const fillRect = P.fillRect, strokeRect = P.strokeRect, fillText = P.fillText, clearRect = P.clearRect;
  let shift = 0, down = 0, pending = 0;  // the open tag's shifts, for its stroke and its text
  let placed = [];  // the tags of this frame: [x, y, w, h]
  const hidden = () => window.__slopeHideTags === true;  // "Box labels" unticked: tags not drawn
  const inEditor = (ctx) => ctx.canvas.closest?.("#review-editor");
  const clash = (x, y, w, h) => placed.some(([a, b, c, d]) => x < a + c && a < x + w && y < b + d && b < y + h);
  P.clearRect = function (...args) {
    if (inEditor(this)) placed = [];
    return clearRect.apply(this, args);
  };
  P.fillRect = function (x, y, w, h) {
    pending = 0;
    if (h === 20 && this.fillStyle === "#ffffff" && inEditor(this)) {
      shift = Math.max(-x, Math.min(0, this.canvas.width - (x + w)));
      x += shift;
      down = 0;  // at most 12 tags down, and never off the canvas's foot
      for (let i = 0; i < 12 && clash(x, y + down, w, h) && y + down + 2 * h < this.canvas.height; i++) down += h + 1;
      y += down;
      pending = 2;
      if (hidden()) return;
      placed.push([x, y, w, h]);
    }
    return fillRect.call(this, x, y, w, h);
  };
  P.strokeRect = function (x, y, w, h) {
    if (pending === 2 && h === 20) {
      pending = 1; x += shift; y += down;
      if (hidden()) return;
    } else pending = 0;
    return strokeRect.call(this, x, y, w, h);
  };
  P.fillText = function (text, x, y, ...rest) {
    const tag = pending === 1;
    if (tag) { x += shift; y += down; }
    pending = 0;
    if (tag && hidden()) return;
    return fillText.call(this, text, x, y, ...rest);
  };
}
"""

# Clicking a box on the photo selects its label, and the selected label's box is drawn distinctly
# (a thick white-and-dark dashed outline, the rest of the photo dimmed, on a canvas over the
# editor's): the component (0.5.6) keeps its own selection to itself. The boxes are recorded as
# the component draws them (each box's outline as a path ``rect``, then its "#number" tag), in
# canvas pixels through the drawing's transform, so a click maps to a box at any zoom or pan; the
# smallest box under the click wins (a drain inside a rock toe). The number goes to the hidden
# ``#review-clicked`` field ("2@<time>"), whose change event selects the label on the server
# (keys and buttons act on it). Loaded after LABEL_TAG_JS, so it sees unshifted boxes.
SELECT_JS = """
if (!window.__slopeReviewSelect) {
  window.__slopeReviewSelect = true;
  const P = CanvasRenderingContext2D.prototype;
  const rect = P.rect, strokeRect = P.strokeRect, fillText = P.fillText, clearRect = P.clearRect;
  let outline = null, drawn = {}, painting = false;
  const editorCanvas = () => document.querySelector("#review-editor canvas.canvas-annotator");
  const inEditor = (ctx) => ctx.canvas === editorCanvas();
  const selected = () => {
    const m = (document.querySelector("#review-pick input")?.value || "").match(/^#(\\d+) /);
    return m ? m[1] : null;
  };
  // The selection is drawn on a canvas of its own over the editor's: the editor redraws only on
  // its own events, and a label picked from the list or with j/k must show at once.
  const paint = () => {
    painting = false;
    const c = editorCanvas();
    if (!c) return;
    let o = c.parentElement.querySelector("canvas.slope-selection");
    if (!o) {
      o = document.createElement("canvas");
      o.className = "slope-selection";
      o.style.cssText = "position:absolute;pointer-events:none;";
      c.parentElement.style.position = "relative";
      c.parentElement.appendChild(o);
    }
    if (o.width !== c.width || o.height !== c.height) { o.width = c.width; o.height = c.height; }
    Object.assign(o.style, {left: `${c.offsetLeft}px`, top: `${c.offsetTop}px`,
                            width: `${c.clientWidth}px`, height: `${c.clientHeight}px`});
    const ctx = o.getContext("2d"), box = drawn[selected()];
    clearRect.call(ctx, 0, 0, o.width, o.height);
    if (!box) return;
    const [x1, y1, x2, y2] = box;
    ctx.fillStyle = "rgba(255, 255, 255, 0.22)";  // the rest of the photo, dimmed a little
    ctx.fillRect(0, 0, o.width, o.height);
    clearRect.call(ctx, x1, y1, x2 - x1, y2 - y1);
    ctx.lineWidth = 7; ctx.strokeStyle = "#ffffff";
    strokeRect.call(ctx, x1, y1, x2 - x1, y2 - y1);
    ctx.setLineDash([9, 6]); ctx.lineWidth = 4; ctx.strokeStyle = "#111827";
    strokeRect.call(ctx, x1, y1, x2 - x1, y2 - y1);
  };
  P.clearRect = function (...args) {
    if (inEditor(this)) {  // a new frame of the editor
      drawn = {};
      if (!painting) { painting = true; requestAnimationFrame(paint); }
    }
    return clearRect.apply(this, args);
  };
  P.rect = function (x, y, w, h) {
    if (inEditor(this)) {  // a box's outline (its tag is a fillRect and a strokeRect)
      const t = this.getTransform(), a = t.transformPoint({x, y}), b = t.transformPoint({x: x + w, y: y + h});
      outline = [Math.min(a.x, b.x), Math.min(a.y, b.y), Math.max(a.x, b.x), Math.max(a.y, b.y)];
    }
    return rect.call(this, x, y, w, h);
  };
  P.fillText = function (text, ...rest) {
    const m = typeof text === "string" && inEditor(this) && text.match(/^#(\\d+) /);
    if (m && outline) drawn[m[1]] = outline;
    outline = null;
    return fillText.call(this, text, ...rest);
  };
  setInterval(paint, 200);  // the list, j/k and the server change the selection too
  document.addEventListener("pointerdown", (e) => {
    const c = e.target;
    if (c !== editorCanvas()) return;
    const r = c.getBoundingClientRect();
    const x = (e.clientX - r.left) * c.width / r.width, y = (e.clientY - r.top) * c.height / r.height;
    let best = null, area = Infinity;
    for (const [n, [x1, y1, x2, y2]] of Object.entries(drawn)) {
      const size = (x2 - x1) * (y2 - y1);
      if (x >= x1 && x <= x2 && y >= y1 && y <= y2 && size < area) { best = n; area = size; }
    }
    const field = document.querySelector("#review-clicked textarea, #review-clicked input");
    if (best === null || !field) return;
    field.value = `${best}@${Date.now()}`;  // a new value each click: the field's change event fires
    field.dispatchEvent(new Event("input", {bubbles: true}));
  }, true);
}
"""

# The editor redraws on its own events only; its space key fits the photo and redraws it. The
# "Fit photo" button and the "Box labels" switch (tags hidden on a crowded photo) press it.
FIT_JS = """() => {
  const box = document.querySelector("#review-editor .annotator-container");
  box?.dispatchEvent(new KeyboardEvent("keydown", {key: " ", bubbles: true}));
}"""
TAGS_JS = "(shown) => { window.__slopeHideTags = !shown; (" + FIT_JS + ")(); return shown; }"

# The editor keeps its tool (drag or create) from photo to photo, so on the next photo a drag
# meant to move a box drew a new one. Each new photo (its line in ``#review-info`` changes)
# starts in "Drag boxes".
DRAG_ON_NEW_PHOTO_JS = """
if (!window.__slopeReviewDrag) {
  window.__slopeReviewDrag = true;
  let shown = null;
  setInterval(() => {
    const line = document.querySelector("#review-info")?.textContent || "";
    if (line === shown) return;
    shown = line;
    document.querySelector('#review-editor button[aria-label="Drag boxes"]')?.click();
  }, 300);
}
"""


def _rgb(condition: str | None) -> str:
    """The palette's colour as the editor wants it: "rgb(r, g, b)"."""
    return "rgb({}, {}, {})".format(*ImageColor.getrgb(condition_hex(condition)))


def condition_hex(condition: str | None) -> str:
    return CONDITION_COLOURS.get(condition, CONDITION_COLOURS[None])


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
    path = blobs_for(data_dir).path(photo.path)
    scale, band = display_scale(photo), label_band(photo)
    size = (round(photo.width * scale), round(photo.height * scale))
    # Named by the photo's full path: two surveys may hold photos with the same file name.
    key = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    out = SHOWN_DIR / f"{path.stem}-{key}-{size[0]}x{size[1]}-top{band}.jpg"
    if not out.is_file():
        made_private(SHOWN_DIR)
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
                "label": f"#{photo.number(label.label_id)} {label_text(label.object_type, label.condition)}",
                "color": _rgb(label.condition),
            }
            # Smallest first: the editor grabs the first box under a click, and a drain inside a
            # rock toe must stay reachable (SELECT_JS picks the smallest too).
            for label in sorted(photo.labels, key=lambda lb: (lb.box[2] - lb.box[0]) * (lb.box[3] - lb.box[1]))
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
        label_id = photo.label_id(int(match[1])) if match and match[1] else None
        object_type, condition = class_of(box.get("label"))
        shown = (box["xmin"], float(box["ymin"]) - band, box["xmax"], float(box["ymax"]) - band)
        coords = tuple(min(max(float(v) / scale, 0.0), limit) for v, limit in zip(shown, limits, strict=True))
        boxes.append(review.EditorBox(label_id, coords, object_type, condition))
    return boxes


def class_of(text: str | None) -> tuple[str | None, str | None]:
    """(object type, condition) of a class as the editor writes it ("toe drain · blocked")."""
    match = _BOX_LABEL.match(text or "")
    if not match:
        return None, None
    return _type_of(match[2]), match[3] if match[3] in CONDITIONS else None


def _type_of(words: str) -> str | None:
    try:
        return parse_class_name(words)[0]
    except ValueError:
        return None


# The editor's classes: first what a new box is called until saved (``use_default_label``).
EDITOR_LABELS = [NEW_BOX_LABEL, *CLASS_LABELS]


def editor_colours() -> list[str]:
    """Each of ``EDITOR_LABELS``' colour: its condition's (grey where unknown or new)."""
    return [condition_hex(class_of(text)[1]) for text in EDITOR_LABELS]


def with_new_class(boxes: list[review.EditorBox] | None, chosen: str | None) -> list[review.EditorBox] | None:
    """Boxes drawn just now (a "new box", no class picked) with the class chosen before drawing."""
    object_type, condition = class_of(chosen)
    if boxes is None or object_type is None:
        return boxes
    return [
        replace(box, object_type=object_type, condition=condition)
        if box.label_id is None and box.object_type is None
        else box
        for box in boxes
    ]
