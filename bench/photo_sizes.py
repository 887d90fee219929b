"""Detector and condition-model accuracy on photos the size inspectors upload, from 312 px photos.

    python bench/photo_sizes.py [--detector [WEIGHTS ...]] [--photos N] [--condition FOLDER | --condition-folds DIR]

The source squashed every photo to a 312x312 square; real drone photos are 16:9 or 4:3 at
1280x720 to 4000x3000. Un-stretching a val photo to 16:9 (555x312) approximates its original;
upscaling that gives full-resolution stand-ins. For each size the val photos are resized (boxes
scaled with them) and the detector's mAP@0.5 is measured twice: with the photo stretched to the
model's square input (the app's default, as the training photos were) and with ultralytics'
letterbox. Printed as a table, and as a ratio to the 312 px figure.

The condition model is measured the same way on the real labelled objects of the photos that
``build-condition`` holds out of ../shared/data/slope-conditions (it never trained on them), through
the app's path (``ConditionModel.classify``): with crops cut as if the photo were squashed to its
training photos' square (the default, from its card) and as cut from the photo. With
``--condition-folds DIR`` (the models ``slope train crossval --keep-models DIR`` kept), each
fold's model on the photos its fold held out instead: every labelled photo once.
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

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from core.conditions import ConditionModel  # noqa: E402
from core.detector import Detector  # noqa: E402
from core.settings import MODELS_DIR, PROJECT_ROOT  # noqa: E402
from core.types import LabelledBox, LabelledPhoto  # noqa: E402
from training.condition.build import build_split  # noqa: E402
from training.data.condition_data import kfold_by_photo  # noqa: E402
from training.data.dataset import from_yolo_folder  # noqa: E402
from training.data.examples import objects_with_a_choice  # noqa: E402
from training.eval.evaluate import evaluate_detector  # noqa: E402
from training.eval.metrics import MAP_METHOD  # noqa: E402

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


def sized_sets(photos: list[LabelledPhoto], folder: Path) -> dict[str, list[LabelledPhoto]]:
    """``photos`` at every size of ``SIZES``, written under ``folder``."""
    sets = {}
    for label, size in SIZES.items():
        if size is None:
            sets[label] = photos
        else:
            sized = folder / f"{size[0]}x{size[1]}"
            sized.mkdir()
            sets[label] = resized(photos, size, sized)
    return sets


def held_out_condition_photos(data: Path) -> list[LabelledPhoto]:
    """The photos ``build-condition`` holds out of ``data`` (the dataset builder's hash)."""
    names = set(build_split(data).held_out_photos)
    return [p for p in from_yolo_folder(data) if p.name in names]


def condition_figures(model: ConditionModel, photos: list[LabelledPhoto]) -> tuple[float, float]:
    """Accuracy and normal-vs-problem accuracy of the model's most probable condition, asked as
    the app asks it, on every labelled object with a choice of conditions."""
    right = same_side = total = 0
    for photo in photos:  # one classify call per photo, as the app asks
        asked = [item for item in objects_with_a_choice([photo]) if item[1].condition]
        if not asked:
            continue
        image = asked[0][0]
        boxes = np.array([labelled.box for _, labelled, _ in asked], dtype=np.float64)
        types = [labelled.object_type for _, labelled, _ in asked]
        answers = model.classify(image, boxes, types, [where.describe() for _, _, where in asked])
        for (_, labelled, _), probabilities in zip(asked, answers, strict=True):
            answer = max(probabilities, key=probabilities.get)
            right += answer == labelled.condition
            same_side += (answer == "normal") == (labelled.condition == "normal")
            total += 1
    return right / total, same_side / total


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", nargs="*", default=[str(MODELS_DIR / "detector")])
    parser.add_argument("--data", type=Path, default=PROJECT_ROOT.parent / "shared" / "data" / "slopes")
    parser.add_argument("--photos", type=int, default=45, help="val photos to use")
    parser.add_argument("--condition", default=str(MODELS_DIR / "condition"), help="condition model ('' skips it)")
    parser.add_argument(
        "--condition-data", type=Path, default=PROJECT_ROOT.parent / "shared" / "data" / "slope-conditions"
    )
    parser.add_argument(
        "--condition-folds",
        type=Path,
        default=None,
        help="a `crossval --keep-models` folder (default seed): each fold's model on the photos its fold held out",
    )
    args = parser.parse_args()
    photos = from_yolo_folder(args.data, "val")[: args.photos]
    if args.detector:
        print(f"{len(photos)} val photos of {args.data}; mAP@0.5 ({MAP_METHOD}, conf >= 0.001)\n")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "detector").mkdir()
        sets = sized_sets(photos, Path(tmp) / "detector")
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
                    cells += [f"{value:.3f}", ratio(value, base[how])]
                print(f"| {label} | " + " | ".join(cells) + " |", flush=True)
            print()
        if args.condition_folds is not None:
            all_photos = from_yolo_folder(args.condition_data)
            folds = sorted(args.condition_folds.glob("fold-*"), key=lambda f: int(f.name.split("-")[1]))
            splits = kfold_by_photo(all_photos, len(folds), seed=0)
            scored = [(str(f), held_out) for f, (_, held_out) in zip(folds, splits, strict=True)]
            what = f"{len(folds)} fold models of `crossval --keep-models`, each on the photos its fold held out"
        elif args.condition:
            scored = [(args.condition, held_out_condition_photos(args.condition_data))]
            what = (
                f"{ConditionModel(args.condition).version} on the {len(scored[0][1])} photos build-condition held out"
            )
        else:
            return
        print(f"## Conditions: {what} of {args.condition_data}\n")
        print("accuracy / normal-vs-problem (mean over the models); crops squashed to the training photos' square")
        print("(the app's default) or as cut from the photo\n")
        print("| photos | squashed | ratio to 312 px | as cut | ratio to 312 px |")
        print("| --- | --- | --- | --- | --- |")
        figures: dict[str, dict[str, list[tuple[float, float]]]] = {}
        for index, (folder, held_out) in enumerate(scored):
            models = {"squashed": ConditionModel(folder), "as cut": ConditionModel(folder, squash=False)}
            (Path(tmp) / f"condition-{index}").mkdir()
            for label, labelled in sized_sets(held_out, Path(tmp) / f"condition-{index}").items():
                for how, model in models.items():
                    figures.setdefault(label, {}).setdefault(how, []).append(condition_figures(model, labelled))
        base = {}
        for label, by_how in figures.items():
            cells = []
            for how, values in by_how.items():
                accuracy, normal_vs_problem = (float(np.mean(v)) for v in zip(*values, strict=True))
                base.setdefault(how, accuracy)
                cells += [f"{accuracy:.3f} / {normal_vs_problem:.3f}", ratio(accuracy, base[how])]
            print(f"| {label} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
