"""The YOLO / Roboflow label format: ``data.yaml`` class names and label rows.

A folder has ``data.yaml`` (class names: the 4 object types or the 9 conditional names, any of
the spellings ``core.taxonomy`` knows) and split folders with ``images/`` and ``labels/``. Label
rows may be boxes (``cls cx cy w h``) or polygons (``cls x1 y1 x2 y2 ...``), mixed in one file.
Importing into the store and reading a folder for training both parse it here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from core.taxonomy import parse_class_name


def read_class_map(data_dir: Path) -> list[tuple[str, str | None]]:
    """(object_type, condition) per class index. A bare type name means 'normal' when the set
    has conditional names (the 9-class export), and 'unknown' in a 4-class set."""
    spec = yaml.safe_load((data_dir / "data.yaml").read_text())
    names = spec["names"]
    names = [names[i] for i in sorted(names)] if isinstance(names, dict) else list(names)
    parsed = [parse_class_name(n) for n in names]
    conditional = any(condition is not None for _, condition in parsed)
    return [parse_class_name(n, bare_condition="normal" if conditional else None) for n in names]


def parse_label_file(text: str, classes: int) -> list[tuple[int, np.ndarray]]:
    """(class index, normalized xyxy) per row. Polygon rows become their bounding box."""
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        values = line.split()
        if not values:
            continue
        try:
            cls, coords = int(values[0]), np.array([float(v) for v in values[1:]])
        except ValueError:
            raise ValueError(f"line {number} is not numbers: {line!r}") from None
        if not 0 <= cls < classes:
            raise ValueError(f"line {number}: class {cls} is not in data.yaml's {classes} names")
        if len(coords) == 4:
            cx, cy, w, h = coords
            box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
        elif len(coords) >= 6 and len(coords) % 2 == 0:
            box = np.array([coords[0::2].min(), coords[1::2].min(), coords[0::2].max(), coords[1::2].max()])
        else:
            raise ValueError(f"line {number} has {len(coords)} coordinates: neither a box nor a polygon")
        rows.append((cls, np.clip(box, 0.0, 1.0)))
    return rows
