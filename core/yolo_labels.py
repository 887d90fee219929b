"""The YOLO / Roboflow label format: ``data.yaml`` class names and label rows.

A folder has ``data.yaml`` (class names: the 4 object types or the 9 conditional names, any of
the spellings ``core.taxonomy`` knows) and split folders with ``images/`` and ``labels/``. Label
rows may be boxes (``cls cx cy w h``) or polygons (``cls x1 y1 x2 y2 ...``), mixed in one file.
Importing into the store and reading a folder for training both parse it here.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from pathlib import Path

import numpy as np
import yaml

from core.taxonomy import ALLOWED_CONDITIONS, parse_class_name


def read_class_map(data_dir: Path) -> dict[int, tuple[str, str | None]]:
    """(object_type, condition) per class index, as ``data.yaml`` numbers them (a ``names`` map
    may skip numbers: ``{0: ..., 5: ...}`` has no class 1). A bare type name means 'normal' when
    the set has conditional names (the 9-class export), and 'unknown' in a 4-class set, except for
    a type with one allowed condition (vegetation: normal), which nobody needs to judge.
    ``ValueError`` saying what is wrong with a ``data.yaml`` that is not YAML or has no names."""
    try:
        spec = yaml.safe_load((data_dir / "data.yaml").read_text(encoding="utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"data.yaml is not readable YAML ({type(exc).__name__})") from None
    names = spec.get("names") if isinstance(spec, dict) else None
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not isinstance(names, dict) or not names or not all(isinstance(k, int) and k >= 0 for k in names):
        raise ValueError("data.yaml has no class names: it needs 'names', a list or a map from class number to name")
    parsed = {k: parse_class_name(str(n)) for k, n in names.items()}
    conditional = any(condition is not None for _, condition in parsed.values())
    classes = {k: parse_class_name(str(n), bare_condition="normal" if conditional else None) for k, n in names.items()}
    only = {t: allowed[0] for t, allowed in ALLOWED_CONDITIONS.items() if len(allowed) == 1}
    return {k: (t, only.get(t) if c is None else c) for k, (t, c) in classes.items()}


# A label line is a few dozen characters per object (a polygon a few thousand): 10 MB is over a
# hundred thousand objects on one photo. A larger file is not a label file, and is refused before
# it is read into memory.
MAX_LABEL_BYTES = 10_000_000
# Exporters round, and some let a box drawn to the photo's edge end a little past it: that much is
# clipped to the edge. More is a label of another photo, or in pixels instead of fractions.
EDGE_SLACK = 0.01


def read_label_file(path: Path, classes: Collection[int]) -> list[tuple[int, np.ndarray]]:
    """(class index, normalized xyxy) per row of a photo's label file; none when it has none.
    ``ValueError`` saying why the file cannot be trusted: over ``MAX_LABEL_BYTES``, not UTF-8, or
    a line that is not a box or polygon of a class data.yaml names, inside the photo. The import
    and training take a photo with all its objects or not at all: an object left out of a photo
    that is kept would be taught as background."""
    if not path.is_file():
        return []
    with path.open("rb") as file:
        data = file.read(MAX_LABEL_BYTES + 1)  # no more: a huge file is refused without being loaded
    if len(data) > MAX_LABEL_BYTES:
        size = path.stat().st_size / 1e6
        raise ValueError(f"the label file is {size:.1f} MB, over the {MAX_LABEL_BYTES / 1e6:g} MB limit")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("the label file is not UTF-8 text") from None
    rows = parse_label_file(text, classes)  # classes, numbers, NaN and infinity; it clips to the photo
    for number, line in enumerate(text.splitlines(), 1):
        if problem := _outside_photo([float(v) for v in line.split()[1:]]):
            raise ValueError(f"line {number} {problem}")
    return rows


def _outside_photo(coords: list[float]) -> str | None:
    """Why a parsed row (box ``cx cy w h`` or polygon) is not inside the photo, or None.
    Clipping such a row would make a box of something else."""
    if any(not -EDGE_SLACK <= v <= 1 + EDGE_SLACK for v in coords):
        return "has a coordinate outside 0 to 1 (they are fractions of the photo's width and height)"
    if len(coords) != 4:  # a negative width or height is outside 0 to 1 as well
        return None
    cx, cy, w, h = coords
    if min(cx - w / 2, cy - h / 2) < -EDGE_SLACK or max(cx + w / 2, cy + h / 2) > 1 + EDGE_SLACK:
        return "has a box that reaches past the photo's edge"
    return None


# Split folders named otherwise by some exporters (Roboflow writes valid/): read as these names, so a
# store and its exports have one val split, which training, the gate and ultralytics look for.
SPLIT_NAMES = {"valid": "val", "validation": "val"}


def split_name(folder_name: str) -> str:
    """The split a YOLO folder's split folder holds (``valid`` is ``val``)."""
    return SPLIT_NAMES.get(folder_name, folder_name)


def parse_label_file(text: str, classes: int | Collection[int]) -> list[tuple[int, np.ndarray]]:
    """(class index, normalized xyxy) per row. Polygon rows become their bounding box.
    ``classes``: the class numbers data.yaml names (a count: 0 to count - 1). A byte-order mark
    (some Windows tools write one) is not part of the first row."""
    known = range(classes) if isinstance(classes, int) else classes
    rows = []
    for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), 1):
        values = line.split()
        if not values:
            continue
        try:
            cls, coords = int(values[0]), np.array([float(v) for v in values[1:]])
        except ValueError:
            raise ValueError(f"line {number} is not numbers: {_shown(line)}") from None
        if cls not in known:
            raise ValueError(f"line {number}: class {cls} is not one of data.yaml's class numbers")
        if not all(math.isfinite(v) for v in coords):
            raise ValueError(f"line {number} has a coordinate that is not a finite number: {_shown(line)}")
        if len(coords) == 4:
            cx, cy, w, h = coords
            box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
        elif len(coords) >= 6 and len(coords) % 2 == 0:
            box = np.array([coords[0::2].min(), coords[1::2].min(), coords[0::2].max(), coords[1::2].max()])
        else:
            raise ValueError(f"line {number} has {len(coords)} coordinates: neither a box nor a polygon")
        rows.append((cls, np.clip(box, 0.0, 1.0)))
    return rows


def _shown(line: str, most: int = 60) -> str:
    """A label line as a message quotes it: in quotes, cut short (a 10 MB line is one line)."""
    line = line.strip()
    return f'"{line[:most]}..."' if len(line) > most else f'"{line}"'
