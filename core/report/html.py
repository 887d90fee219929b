"""A self-contained HTML report of a survey: one file an inspector can hand on or archive.

Self-contained means inline CSS and every image embedded as a base64 JPEG data URI, so the page
reads the same offline, mailed, or opened years later. Everything that comes from a person
(photo names, survey, inspector, title, error texts) is escaped by the template
(``templates/report.html.j2``, Jinja2 with autoescape): a photo named ``<script>…</script>.jpg``
must show as text, never run.
"""

from __future__ import annotations

import base64
import io
import math
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from PIL import Image

from core.model_card import readable_data
from core.report.narrative import label, narrative
from core.report.rows import UNCERTAIN_MARGIN, ReportMeta, Tally, condition_text, is_uncertain, short_name
from core.taxonomy import (
    ALLOWED_CONDITIONS,
    CONDITION_COLOURS,
    CONDITION_TEXT_COLOURS,
    CONDITIONS,
    OBJECT_TYPES,
    counted,
    object_word,
)
from core.types import Finding, Inspection

MAX_WIDTH = 1000  # px of an embedded annotated photo: legible, and keeps a 200-photo report small
THUMB_SIDE = 120  # px of a finding's crop in the summary
JPEG_QUALITY = 82
DATA_SOURCE_URL = "https://universe.roboflow.com/conditional-classes/my-first-project-q51lx"
LICENSE_URL = "https://creativecommons.org/licenses/by/4.0/"
DATA_CREDIT_HTML = (
    "Example photos and the default detector's training data: slope-infrastructure images from "
    f'<a href="{DATA_SOURCE_URL}">Roboflow Universe, conditional-classes / my-first-project-q51lx</a>, '
    f'licensed <a href="{LICENSE_URL}">CC BY 4.0</a>.'
)
# Autoescaped: a value from a person is always text in the page, whatever it contains.
_TEMPLATES = Environment(loader=PackageLoader("core.report", "templates"), autoescape=select_autoescape(["j2"]))
# Card fields shown per model: which version, what it learned from, and what its figures mean.
MODEL_FIELDS = {
    "version": "Version",
    "architecture": "Architecture",
    "data_provenance": "Data provenance",
    "metrics_data": "Metrics measured on",
    "data_credit": "Data source and licence",
}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1060px;
 padding:1em 1.5em;color:#1d1d1f;line-height:1.45}
h1{margin-bottom:.2em} h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.meta{color:#555} .meta span{margin-right:1.5em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.3em .55em;text-align:left;vertical-align:top}
th{background:#f4f4f6} td.num{text-align:right;font-variant-numeric:tabular-nums}
img.photo{max-width:100%;height:auto;border:1px solid #ccc}
.cards{display:flex;flex-wrap:wrap;gap:.8em}
.card{border:1px solid #ddd;border-radius:6px;padding:.4em;width:170px;font-size:.88em}
.card img{display:block;max-width:100%;margin-bottom:.3em}
.uncertain{color:#555;font-style:italic} .error{background:#fdecee;border:1px solid;
 padding:.6em;border-radius:4px} .narrative{background:#f7f9fb;padding:.6em;border-radius:4px}
svg.map{max-width:100%;height:auto} footer{margin-top:3em;font-size:.88em;color:#555}
"""
# A failed photo's box in the palette's red; words of a problem condition in its text shades (core.taxonomy).
CSS += f".error{{border-color:{CONDITION_COLOURS['damaged']}}} "
CSS += " ".join(
    f".{condition}{{color:{colour};font-weight:600}}" for condition, colour in CONDITION_TEXT_COLOURS.items()
)


@dataclass(frozen=True)
class ReportPhoto:
    """One photo of the report. ``inspection`` None with ``error`` set: the photo failed (it is
    still listed, with its error, so nothing drops out silently); ``image`` may then be None."""

    name: str
    image: Image.Image | None
    inspection: Inspection | None
    error: str | None = None
    position: tuple[float, float] | None = None  # (latitude, longitude) from the photo's EXIF GPS
    drawing: Image.Image | None = None  # the photo already drawn with its findings (the gallery's), any size


def _jpeg_data_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _fit_width(image: Image.Image, width: int = MAX_WIDTH) -> Image.Image:
    if image.width <= width:
        return image
    return image.resize((width, max(1, round(image.height * width / image.width))), Image.LANCZOS)


def _annotated(photo: ReportPhoto) -> Image.Image:
    # render() pulls in supervision: imported here so building the narrative alone stays light.
    from core.render import render

    assert photo.image is not None and photo.inspection is not None
    if photo.drawing is not None:  # drawn once for the page, not again (10 ms a 312 px photo)
        return _fit_width(photo.drawing)
    return _fit_width(render(photo.image, photo.inspection))


def _crop(photo: ReportPhoto, finding: Finding) -> Image.Image:
    """The finding's box with a little context, as a thumbnail. Boxes are in the inspected
    photo's pixels: scaled in case the image given here has another size."""
    assert photo.image is not None and photo.inspection is not None
    sx = photo.image.width / max(1, photo.inspection.width)
    sy = photo.image.height / max(1, photo.inspection.height)
    x1, y1, x2, y2 = (v * s for v, s in zip(finding.box_xyxy, (sx, sy, sx, sy), strict=True))
    # A square around the box's centre: a long thin drain would otherwise shrink to a sliver.
    half = 0.6 * max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    box = (
        max(0, round(cx - half)),
        max(0, round(cy - half)),
        min(photo.image.width, round(cx + half)),
        min(photo.image.height, round(cy + half)),
    )
    if box[2] <= box[0] or box[3] <= box[1]:  # a degenerate box: show the photo instead
        box = (0, 0, photo.image.width, photo.image.height)
    crop = photo.image.crop(box)
    crop.thumbnail((THUMB_SIDE, THUMB_SIDE))
    return crop


def _condition(finding: Finding) -> dict[str, str]:
    return {"css": "uncertain" if is_uncertain(finding) else finding.condition, "text": condition_text(finding)}


def _cards(photos: list[ReportPhoto], items: list[tuple[int, int, Finding]]) -> list[dict[str, Any]]:
    return [
        {
            "number": i + 1,
            "thumb": _jpeg_data_uri(_crop(photos[i], f)) if photos[i].image is not None else None,
            "label": label(n, f),
            "condition": _condition(f),
            "confidence": f"{f.condition_confidence:.0%}",
            "name": photos[i].name,
            "short_name": short_name(photos[i].name),
        }
        for i, n, f in items
    ]


def _summary(photos: list[ReportPhoto]) -> dict[str, Any]:
    tally = Tally.of({i: p.inspection for i, p in enumerate(photos)})
    # Sure calls by object type and condition, the uncertain ones in a column of their own: the
    # page's summary counts the same way (``Tally``), so both say the same numbers.
    sure, unsure, every = tally.sure_by(), tally.uncertain_by_type(), tally.by_type()
    types = list(OBJECT_TYPES) + sorted(set(every) - set(OBJECT_TYPES))
    rows = [
        {
            "type": t,
            "word": object_word(t),
            "cells": [(c, sure[(t, c)] if c in ALLOWED_CONDITIONS.get(t, CONDITIONS) else None) for c in CONDITIONS],
            "uncertain": unsure[t],
            "total": every[t],
        }
        for t in types
    ]
    failed = [
        # The loader's messages begin with the file's name, already the link's text.
        {"number": i + 1, "name": p.name, "error": (p.error or "failed").removeprefix(f"{p.name}: ")}
        for i, p in enumerate(photos)
        if p.inspection is None
    ]
    return {
        "photos": counted(len(photos), "photo"),
        "inspected": tally.photos - len(failed),
        "failed": failed,
        "empty": tally.empty,
        "findings": counted(len(tally.findings), "finding"),
        "counts": rows,
        "sure": _cards(photos, tally.problems),
        "undecided": _cards(photos, list(tally.uncertain)),
        "margin": f"{UNCERTAIN_MARGIN:.2f}",
        "map": _map(photos),
    }


def _needs_action(photo: ReportPhoto) -> bool:
    return photo.inspection is not None and any(f.condition != "normal" for f in photo.inspection.findings)


def _map(photos: list[ReportPhoto], width: int = 640, height: int = 360, pad: int = 24) -> dict[str, Any] | None:
    """Where the photos were taken, from their GPS positions: an SVG plot (no map tiles: the
    report is self-contained and offline), red where a finding needs action. None: no position."""
    located = [(i, p) for i, p in enumerate(photos) if p.position is not None]
    if not located:
        return None
    lats = [p.position[0] for _, p in located]
    lons = [p.position[1] for _, p in located]
    # Local equirectangular projection: a degree of longitude is cos(latitude) of one of latitude.
    squeeze = max(math.cos(math.radians(sum(lats) / len(lats))), 1e-6)
    span = max((max(lons) - min(lons)) * squeeze, max(lats) - min(lats), 1e-6)
    scale = min(width - 2 * pad, height - 2 * pad) / span
    dots = [
        {
            "number": i + 1,
            "x": f"{pad + (p.position[1] - min(lons)) * squeeze * scale:.1f}",
            "y": f"{height - pad - (p.position[0] - min(lats)) * scale:.1f}",
            "colour": CONDITION_COLOURS["damaged"] if _needs_action(p) else "#4a6a8a",
            "title": f"{i + 1}. {p.name} ({p.position[0]:.6f}, {p.position[1]:.6f})",
        }
        for i, p in located
    ]
    extent_m = span * 111_320  # metres per degree of latitude
    return {"located": len(located), "extent": f"{extent_m:,.0f}", "width": width, "height": height, "dots": dots}


def _photo(number: int, photo: ReportPhoto) -> dict[str, Any]:
    view: dict[str, Any] = {"number": number, "name": photo.name, "error": None, "image": None}
    ins = photo.inspection
    if ins is None:
        view["error"] = photo.error or "unknown error"
        view["image"] = _jpeg_data_uri(_fit_width(photo.image)) if photo.image is not None else None
        return view
    if photo.image is not None:
        view["image"] = _jpeg_data_uri(_annotated(photo))
    view["findings"] = [
        {
            "number": n,
            "word": object_word(f.object_type),
            "condition": _condition(f),
            "probs": [f"{f.condition_probs[c]:.2f}" if c in f.condition_probs else None for c in CONDITIONS],
            "confidence": f"{f.confidence:.2f}",
            "position": f.context.describe(numbered=True),
        }
        for n, f in enumerate(ins.findings, 1)
    ]
    view["narrative"] = narrative(ins)
    view["gps"] = f"{photo.position[0]:.6f}, {photo.position[1]:.6f}" if photo.position is not None else None
    view["versions"] = ", ".join(f"{k} {v}" for k, v in sorted(ins.models.items()))
    return view


def _models(models: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "kind": kind.capitalize(),
            "rows": [(name, readable_data(str(card[key]))) for key, name in MODEL_FIELDS.items() if card.get(key)],
        }
        for kind, card in models.items()
    ]


def model_info(sources: dict[str, str | Path]) -> dict[str, dict[str, Any]]:
    """The ``models`` argument of ``html_report`` from model folders or hub ids: their cards'
    fields, or only a version name where a model has no card."""
    from core.model_card import model_version, read_card

    info = {}
    for kind, source in sources.items():
        card = read_card(source) if Path(source).exists() else None
        info[kind] = card.to_dict() if card is not None else {"version": model_version(source)}
    return info


def html_report(photos: list[ReportPhoto], title: str, meta: ReportMeta, models: dict[str, dict[str, Any]]) -> str:
    """The whole report as one HTML string (see the module docstring). ``models`` maps a model
    kind to its card fields (``ModelCard.to_dict()`` or ``model_info``)."""
    facts = [
        ("Survey", meta.survey or "(unnamed)"),
        ("Site", meta.site),
        ("Survey date", meta.survey_date),
        ("Inspector", meta.inspector),
        ("Inspected", _readable_time(meta.inspected_at)),
    ]
    return (
        _TEMPLATES.get_template("report.html.j2").render(
            title=title,
            css=Markup(CSS),
            facts=[(key, value) for key, value in facts if value],
            conditions=CONDITIONS,
            summary=_summary(photos),
            photos=[_photo(i, p) for i, p in enumerate(photos, 1)],
            models=_models(models),
            credit=Markup(DATA_CREDIT_HTML),
        )
        + "\n"
    )


def _readable_time(iso: str) -> str:
    """'2026-11-24T01:08:14+00:00' -> '2026-11-24 01:08 UTC' (any zone shown in UTC); a date
    or other text as it is."""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is None or len(iso) <= 10:  # no zone to convert from, or a date alone
        return iso
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def write_html_report(path: str | Path, *args: Any, **kwargs: Any) -> Path:
    """``html_report(*args, **kwargs)`` written to ``path`` atomically: a temporary file in the
    same folder renamed over it, so a reader (or a crash) never sees half a report."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = html_report(*args, **kwargs)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; a report is meant to be read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
