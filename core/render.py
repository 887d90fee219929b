"""Drawing findings on the photo with supervision annotators: box colour by condition."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import supervision as sv
from PIL import Image

from core.pipeline import Inspection
from core.taxonomy import CONDITIONS

# normal green, blocked amber, damaged red: the order of CONDITIONS.
CONDITION_COLORS = {"normal": "#2e9e44", "blocked": "#f0a202", "damaged": "#d7263d"}
_PALETTE = sv.ColorPalette.from_hex([CONDITION_COLORS[c] for c in CONDITIONS])


@functools.cache
def _font_path() -> str | None:
    try:
        import matplotlib

        return str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")
    except ImportError:  # supervision falls back to PIL's default bitmap font
        return None


def finding_label(object_type: str, condition: str, probability: float) -> str:
    return f"{object_type} · {condition} {probability:.2f}"


def render(image: Image.Image, inspection: Inspection) -> Image.Image:
    """A copy of ``image`` with each finding's box and label; the input is left untouched."""
    scene = np.asarray(image).copy()
    detections = inspection.detections()
    if len(detections) == 0:
        return Image.fromarray(scene)
    detections.class_id = np.array([CONDITIONS.index(c) for c in detections.data["condition"]])
    thickness = max(1, round(min(image.size) / 200))
    boxes = sv.BoxAnnotator(color=_PALETTE, thickness=thickness, color_lookup=sv.ColorLookup.CLASS)
    # A TrueType font, because OpenCV's built-in fonts cannot draw the "·" in the labels.
    labels = sv.RichLabelAnnotator(
        color=_PALETTE,
        font_path=_font_path(),
        font_size=max(10, round(min(image.size) / 28)),
        text_padding=3,
        color_lookup=sv.ColorLookup.CLASS,
        smart_position=True,
    )
    names = [finding_label(f.object_type, f.condition, f.condition_confidence) for f in inspection.findings]
    scene = boxes.annotate(scene, detections)
    scene = labels.annotate(scene, detections, labels=names)
    return Image.fromarray(scene)
