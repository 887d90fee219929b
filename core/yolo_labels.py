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
