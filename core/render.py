"""Drawing findings on the photo with supervision annotators: box colour by condition."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import supervision as sv
from PIL import Image

from core.report import is_uncertain
from core.taxonomy import CONDITIONS, object_word
from core.types import Finding, Inspection

# normal green, blocked amber, damaged red: the order of CONDITIONS.
CONDITION_COLORS = {"normal": "#2e9e44", "blocked": "#f0a202", "damaged": "#d7263d"}
_PALETTE = sv.ColorPalette.from_hex([CONDITION_COLORS[c] for c in CONDITIONS])
MIN_DRAWN_SIDE = 720  # small photos (the survey's are 224-312 px) are enlarged so labels stay legible


@functools.cache
def _font_path() -> str | None:
    try:
        import matplotlib

        return str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")
    except ImportError:  # supervision falls back to PIL's default bitmap font
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
    # A TrueType font, because OpenCV's built-in fonts cannot draw the "·" in the labels.
    labels = sv.RichLabelAnnotator(
        color=_PALETTE,
        font_path=_font_path(),
        font_size=max(12, round(side / 45)),
        text_padding=4,
        color_lookup=sv.ColorLookup.INDEX,
        smart_position=True,
    )
    names = [finding_label(n, f) for n, f in enumerate(inspection.findings, 1)]
    # PIL in, PIL out: supervision then handles the RGB/BGR order itself.
    scene = boxes.annotate(scene, detections, custom_color_lookup=colors)
    return labels.annotate(scene, detections, labels=names, custom_color_lookup=colors)
