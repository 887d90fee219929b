"""Drawing findings on the photo: supervision's boxes, tags placed clear of each other; colour by condition."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import supervision as sv
from PIL import Image, ImageDraw, ImageFont

from core.report.rows import is_uncertain
from core.taxonomy import CONDITION_COLOURS, CONDITIONS, object_word
from core.types import Finding, Inspection

# normal green, blocked amber, damaged red: the order of CONDITIONS.
_PALETTE = sv.ColorPalette.from_hex([CONDITION_COLOURS[c] for c in CONDITIONS])
Rect = tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels
MIN_DRAWN_SIDE = 720  # small photos (the survey's are 224-312 px) are enlarged so labels stay legible


@functools.cache
def _font_path() -> str | None:
    try:
        import matplotlib

        return str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")
    except ImportError:  # then PIL's default font
        return None


def finding_label(number: int, finding: Finding) -> str:
    """'2 toe drain · blocked 0.80': the number is the findings table's "Box" column; a
    near-even condition is labelled uncertain rather than shown as a verdict."""
    word = object_word(finding.object_type)
    verdict = f"{finding.condition} {finding.condition_confidence:.2f}"
    if is_uncertain(finding):
        verdict = f"uncertain ({verdict})"
    return f"{number} {word} · {verdict}"


def render(image: Image.Image, inspection: Inspection) -> Image.Image:
    """A copy of ``image`` (enlarged if small) with each finding's box and label. ``image`` may be
    a resized copy of the inspected photo (a report keeps photos small): boxes follow its size."""
    scale = max(1.0, MIN_DRAWN_SIDE / min(image.size))
    scene = (
        image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
        if scale > 1
        else image.copy()
    )
    detections = inspection.detections()
    if len(detections) == 0:
        return scene
    detections.xyxy = detections.xyxy * np.array([scene.width / inspection.width, scene.height / inspection.height] * 2)
    colors = np.array([CONDITIONS.index(c) for c in detections.data["condition"]])  # palette index
    side = min(scene.size)
    boxes = sv.BoxAnnotator(color=_PALETTE, thickness=max(2, round(side / 250)), color_lookup=sv.ColorLookup.INDEX)
    # PIL in, PIL out: supervision then handles the RGB/BGR order itself.
    scene = boxes.annotate(scene, detections, custom_color_lookup=colors)
    names = [finding_label(n, f) for n, f in enumerate(inspection.findings, 1)]
    _draw_labels(scene, detections.xyxy, names, [f.condition for f in inspection.findings])
    return scene


def _draw_labels(scene: Image.Image, boxes: np.ndarray, names: list[str], conditions: list[str]) -> None:
    """Each label in a tag of its box's colour, placed by ``place_tags``; a tag that had to go
    away from its box is joined to it by a line of that colour."""
    font = _font(max(12, round(min(scene.size) / 45)))
    pad = max(2, font.size // 6)
    draw = ImageDraw.Draw(scene)
    bounds = [draw.textbbox((0, 0), name, font=font) for name in names]
    sizes = [(right - left + 2 * pad, bottom - top + 2 * pad) for left, top, right, bottom in bounds]
    tags = place_tags(boxes, sizes, scene.size)
    for tag, box, condition in zip(tags, np.asarray(boxes).round().astype(int).tolist(), conditions, strict=True):
        if _gap(tag, box) > 0:
            draw.line(_leader(tag, box), fill=CONDITION_COLOURS[condition], width=max(2, font.size // 8))
    for tag, name, condition, (left, top, _, _) in zip(tags, names, conditions, bounds, strict=True):
        draw.rectangle(tag, fill=CONDITION_COLOURS[condition])
        draw.text((tag[0] + pad - left, tag[1] + pad - top), name, fill="white", font=font)


def place_tags(boxes: np.ndarray, sizes: list[tuple[int, int]], image_size: tuple[int, int]) -> list[Rect]:
    """Where each box's label tag (``sizes``: width, height) goes, all on the photo and none over
    another where the photo has room: above the box's top-left corner, else inside it, below it or
    at its right end, the first of those clear of the tags placed before it; else the clear place
    nearest the box (``_clear_spot``); on a photo too full for that, the spot beside the box that
    covers the least of the others. (Tags above boxes at the photo's top edge were pushed down onto
    each other, hiding the numbers that link the boxes to the table; taking the least-covering spot
    beside the box still left 3 pairs over each other on 2 of the 45 val photos.) Kept instead of
    supervision 0.31's ``RichLabelAnnotator(smart_position=True)``: on those photos (shipped models,
    720 px drawings) its tags overlapped in 10 pairs on 5 photos, and it still covers a top-edge
    tag's number on the example ``slope_dji_0015.jpg``."""
    placed: list[Rect] = []
    for box, (w, h) in zip(np.asarray(boxes).round().astype(int).tolist(), sizes, strict=True):
        x1, y1, x2, y2 = box
        spots = [(x1, y1 - h), (x1, y1), (x1, y2), (x1, y2 - h), (x2 - w, y1 - h), (x2 - w, y1), (x2 - w, y2)]
        tags = [_on_photo(x, y, w, h, image_size) for x, y in spots]
        clear = next((t for t in tags if not any(_overlap(t, other) for other in placed)), None)
        if clear is None:
            clear = _clear_spot(box, w, h, placed, image_size)
        if clear is None:
            clear = min(tags, key=lambda t: (sum(_overlap(t, other) for other in placed), tags.index(t)))
        placed.append(clear)
    return placed


def _clear_spot(box: list[int], w: int, h: int, placed: list[Rect], size: tuple[int, int]) -> Rect | None:
    """The ``w`` x ``h`` place on the photo clear of every ``placed`` tag that is nearest ``box``
    (then nearest the spot above its top-left corner), or None where the photo has none. Tried:
    a grid of a quarter tag's width by half its height, and the places flush against each placed
    tag, so tags pack without gaps."""
    width, height = size
    xs = {*range(0, max(width - w, 0) + 1, max(1, w // 4)), box[0], box[2] - w}
    ys = {*range(0, max(height - h, 0) + 1, max(1, h // 2)), box[1] - h, box[3]}
    for x1, y1, x2, y2 in placed:
        xs |= {x1, x2, x1 - w, x2 - w}
        ys |= {y1, y2, y1 - h, y2 - h}
    xs = np.clip(np.array(sorted(xs)), 0, max(width - w, 0))
    ys = np.clip(np.array(sorted(ys)), 0, max(height - h, 0))
    gx, gy = np.meshgrid(xs, ys)
    spots = np.stack([gx.ravel(), gy.ravel(), gx.ravel() + w, gy.ravel() + h], axis=1)  # (m, 4)
    if placed:
        others = np.array(placed)[None]  # (1, n, 4)
        across = np.minimum(spots[:, None, 2], others[..., 2]) - np.maximum(spots[:, None, 0], others[..., 0])
        down = np.minimum(spots[:, None, 3], others[..., 3]) - np.maximum(spots[:, None, 1], others[..., 1])
        spots = spots[~((across > 0) & (down > 0)).any(axis=1)]
    if len(spots) == 0:
        return None
    gap_x = np.maximum(0, np.maximum(box[0] - spots[:, 2], spots[:, 0] - box[2]))
    gap_y = np.maximum(0, np.maximum(box[1] - spots[:, 3], spots[:, 1] - box[3]))
    from_corner = np.abs(spots[:, 0] - box[0]) + np.abs(spots[:, 1] - (box[1] - h))
    best = np.lexsort((from_corner, np.hypot(gap_x, gap_y)))[0]
    return tuple(int(v) for v in spots[best])


def _gap(a: Rect, b: Rect | list[int]) -> float:
    """The distance between two rectangles (0 where they touch or overlap)."""
    return float(np.hypot(max(0, b[0] - a[2], a[0] - b[2]), max(0, b[1] - a[3], a[1] - b[3])))


def _leader(tag: Rect, box: list[int]) -> list[tuple[int, int]]:
    """A line from the tag's point nearest the box to the box's point nearest the tag."""
    cx, cy = (tag[0] + tag[2]) // 2, (tag[1] + tag[3]) // 2
    on_box = (min(max(cx, box[0]), box[2]), min(max(cy, box[1]), box[3]))
    return [(min(max(on_box[0], tag[0]), tag[2]), min(max(on_box[1], tag[1]), tag[3])), on_box]


def _on_photo(x: int, y: int, w: int, h: int, size: tuple[int, int]) -> Rect:
    x, y = min(max(x, 0), max(size[0] - w, 0)), min(max(y, 0), max(size[1] - h, 0))
    return x, y, x + w, y + h


def _overlap(a: Rect, b: Rect) -> int:
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # A TrueType font, because PIL's built-in bitmap font cannot be sized.
    path = _font_path()
    return ImageFont.truetype(path, size) if path else ImageFont.load_default(size)
