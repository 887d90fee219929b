"""Detector accuracy on photos the size inspectors upload, from the 312 px val photos.

    python bench/photo_sizes.py [--detector FOLDER_OR_WEIGHTS ...] [--photos N]

The source squashed every photo to a 312x312 square; real drone photos are 16:9 or 4:3 at
1280x720 to 4000x3000. Un-stretching a val photo to 16:9 (555x312) approximates its original;
upscaling that gives full-resolution stand-ins. For each size the val photos are resized (boxes
scaled with them) and the detector's mAP@0.5 is measured twice: with the photo stretched to the
model's square input (the app's default, as the training photos were) and with ultralytics'
letterbox. Printed as a table, and as a ratio to the 312 px figure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.offline import prepare_offline  # noqa: E402

prepare_offline()

from PIL import Image  # noqa: E402

from core.detector import Detector  # noqa: E402
from core.settings import MODELS_DIR, PROJECT_ROOT  # noqa: E402
from core.types import LabelledBox, LabelledPhoto  # noqa: E402
from training.dataset import from_yolo_folder  # noqa: E402
from training.evaluate import evaluate_detector  # noqa: E402

SIZES = {
    "312x312 (as trained)": None,
    "555x312 (16:9 un-stretched)": (555, 312),
    "1280x720 (16:9)": (1280, 720),
    "1920x1080 (16:9)": (1920, 1080),
    "4000x3000 (4:3)": (4000, 3000),
}


def resized(photos: list[LabelledPhoto], size: tuple[int, int], folder: Path) -> list[LabelledPhoto]:
    """The photos resized to ``size`` (JPEG, quality 92), their boxes scaled with them."""
    out = []
    for photo in photos:
        sx, sy = size[0] / photo.width, size[1] / photo.height
        path = folder / f"{Path(photo.name).stem}.jpg"
        Image.open(photo.path).convert("RGB").resize(size, Image.Resampling.BICUBIC).save(path, quality=92)
        objects = tuple(
            LabelledBox((b.box[0] * sx, b.box[1] * sy, b.box[2] * sx, b.box[3] * sy), b.object_type, b.condition)
            for b in photo.objects
        )
        out.append(replace(photo, path=path, width=size[0], height=size[1], objects=objects))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", nargs="+", default=[str(MODELS_DIR / "detector")])
    parser.add_argument("--data", type=Path, default=PROJECT_ROOT.parent / "shared" / "data" / "slopes")
    parser.add_argument("--photos", type=int, default=45, help="val photos to use")
    args = parser.parse_args()
    photos = from_yolo_folder(args.data, "val")[: args.photos]
    print(f"{len(photos)} val photos of {args.data}; mAP@0.5 (all-points AP, conf >= 0.001)\n")
    with tempfile.TemporaryDirectory() as tmp:
        sets = {}
        for label, size in SIZES.items():
            if size is None:
                sets[label] = photos
            else:
                folder = Path(tmp) / f"{size[0]}x{size[1]}"
                folder.mkdir()
                sets[label] = resized(photos, size, folder)
        for weights in args.detector:
            detectors = {"stretch": Detector(weights), "letterbox": Detector(weights, stretch=False)}
            print(f"## {detectors['stretch'].version}\n")
            print("| photos | stretch to square | ratio to 312 px | letterbox | ratio to 312 px |")
            print("| --- | --- | --- | --- | --- |")
            base = {}
            for label, labelled in sets.items():
                cells = []
                for how, detector in detectors.items():
                    value = evaluate_detector(detector, labelled).map50
                    base.setdefault(how, value)
                    cells += [f"{value:.3f}", f"{value / base[how]:.2f}x" if base[how] else "-"]
                print(f"| {label} | " + " | ".join(cells) + " |", flush=True)
            print()


if __name__ == "__main__":
    main()
