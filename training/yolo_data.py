"""Reading a YOLO-format folder (``data.yaml`` + ``<split>/images`` + ``<split>/labels``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from core.taxonomy import parse_class_name

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


@dataclass(frozen=True)
class LabelledImage:
    image: Path
    boxes_normalized: np.ndarray  # (n, 4) xyxy in 0..1
    object_types: tuple[str, ...]

    def boxes_pixels(self, width: int, height: int) -> np.ndarray:
        return self.boxes_normalized * np.array([width, height, width, height], dtype=np.float64)


def class_names(data_dir: Path) -> list[str]:
    names = yaml.safe_load((Path(data_dir) / "data.yaml").read_text())["names"]
    return [names[i] for i in sorted(names)] if isinstance(names, dict) else list(names)


def read_split(data_dir: Path, split: str) -> list[LabelledImage]:
    """Every image of a split with its boxes, in file-name order. Box rows only (class cx cy w h);
    polygon rows are turned into their bounding boxes."""
    data_dir = Path(data_dir)
    types = [parse_class_name(n)[0] for n in class_names(data_dir)]
    images = sorted(p for p in (data_dir / split / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    out = []
    for image in images:
        label_file = data_dir / split / "labels" / f"{image.stem}.txt"
        boxes, kinds = [], []
        if label_file.is_file():
            for line in label_file.read_text().split("\n"):
                values = line.split()
                if not values:
                    continue
                numbers = np.array([float(v) for v in values[1:]])
                if len(numbers) == 4:
                    cx, cy, w, h = numbers
                    box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
                else:
                    xs, ys = numbers[0::2], numbers[1::2]
                    box = [xs.min(), ys.min(), xs.max(), ys.max()]
                boxes.append(np.clip(box, 0.0, 1.0))
                kinds.append(types[int(values[0])])
        out.append(LabelledImage(image, np.array(boxes, dtype=np.float64).reshape(-1, 4), tuple(kinds)))
    return out
