"""Where ultralytics' val mAP and ours (``training.eval.metrics.MAP_METHOD``) part: the same
predictions scored both ways, on two prediction paths, beside ultralytics' own val.

    python bench/map_methods.py [--weights models/detector/model.pt] [--data ../shared/data/slopes]

Prediction paths (conf >= 0.001, as an AP needs):
- served: what the app and ``slope train evaluate`` run (photo stretched to the card's size, NMS IoU 0.5);
- letterbox: ultralytics' predict with val's settings (letterboxed to 320, NMS IoU 0.7);
- val canvas: stretched to 320 inside a 16 px grey border, the 352 px canvas val's rect batches
  make of a 320 px square (NMS IoU 0.5 as served).
Scorers: COCO 101-point (supervision, ours) and ultralytics' own (its ``match_predictions`` and
``ap_per_class``: the envelope interpolated linearly, integrated by trapezoids). The gap between
the two scorers on one path is the metric's; the gap between the paths is the predictions'.
ultralytics' val is also run with one class per box (its NMS keeps a box once per class).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import supervision as sv  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from core.detector import Detector  # noqa: E402
from core.images import load_image  # noqa: E402
from core.settings import MODELS_DIR, PROJECT_ROOT  # noqa: E402
from core.taxonomy import OBJECT_TYPES  # noqa: E402
from training.data.dataset import from_yolo_folder  # noqa: E402
from training.detector.build import _data_yaml  # noqa: E402
from training.eval.evaluate import AP_CONF, _by_object_type  # noqa: E402
from training.eval.metrics import MAP_METHOD, detection_metrics  # noqa: E402


def ultralytics_map(predictions: list[sv.Detections], truths: list[sv.Detections]) -> tuple[float, float]:
    """mAP@0.5 and mAP@0.5:0.95 as ultralytics' DetectionValidator scores the same boxes."""
    from ultralytics.models.yolo.detect import DetectionValidator
    from ultralytics.utils.metrics import ap_per_class

    validator = DetectionValidator()
    tps, confs, classes, targets = [], [], [], []
    for pred, truth in zip(predictions, truths, strict=True):
        order = np.argsort(-pred.confidence, kind="stable")
        pred = pred[order]
        iou = torch.from_numpy(sv.box_iou_batch(truth.xyxy, pred.xyxy)) if len(truth) and len(pred) else None
        correct = np.zeros((len(pred), 10), bool)
        if iou is not None:
            correct = validator.match_predictions(
                torch.from_numpy(pred.class_id), torch.from_numpy(truth.class_id), iou
            ).numpy()
        tps.append(correct)
        confs.append(pred.confidence)
        classes.append(pred.class_id)
        targets.append(truth.class_id)
    ap = ap_per_class(np.concatenate(tps), np.concatenate(confs), np.concatenate(classes), np.concatenate(targets))[5]
    return float(ap[:, 0].mean()), float(ap.mean())


def on_val_canvas(model, photo: Image.Image, side: int = 320, border: int = 16) -> sv.Detections:
    """The photo stretched to ``side`` with a grey ``border`` around it: the canvas ultralytics'
    val predicts on (its rect batches pad a 320 px square to 352 px), NMS IoU 0.5 as served."""
    width, height = photo.size
    pixels = cv2.resize(np.asarray(photo)[:, :, ::-1], (side, side), interpolation=cv2.INTER_LINEAR)
    pixels = cv2.copyMakeBorder(pixels, *(border,) * 4, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    result = model.predict(np.ascontiguousarray(pixels), conf=AP_CONF, iou=0.5, imgsz=side + 2 * border, verbose=False)
    detections = sv.Detections.from_ultralytics(result[0])
    scale = np.array([width, height, width, height]) / side
    detections.xyxy = ((detections.xyxy - border) * scale).clip(0, [width, height, width, height]).astype(np.float32)
    return detections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=MODELS_DIR / "detector" / "model.pt")
    parser.add_argument("--data", type=Path, default=PROJECT_ROOT.parent / "shared" / "data" / "slopes")
    args = parser.parse_args()
    photos = from_yolo_folder(args.data, "val")
    truths = [p.detections() for p in photos]
    served, letterbox = Detector(args.weights), Detector(args.weights, iou=0.7, imgsz=320, stretch=False)
    paths = {
        "served": lambda image: _by_object_type(served.detect(image, conf=AP_CONF)),
        "letterbox": lambda image: _by_object_type(letterbox.detect(image, conf=AP_CONF)),
        "val canvas": lambda image: on_val_canvas(served.model, image),
    }
    print(f"{len(photos)} val photos of {args.data}; {args.weights}\n")
    print(f"{'predictions':<12}{'scorer':<34}{'mAP@0.5':>9}{'mAP@.5:.95':>12}")
    for name, predict in paths.items():
        predictions = [predict(load_image(p.path)) for p in photos]
        ours = detection_metrics(predictions, truths, OBJECT_TYPES)
        theirs = ultralytics_map(predictions, truths)
        print(f"{name:<12}{MAP_METHOD:<34}{ours['map50']:>9.3f}{ours['map50_95']:>12.3f}")
        print(f"{name:<12}{'ultralytics ap_per_class':<34}{theirs[0]:>9.3f}{theirs[1]:>12.3f}")
    for multi_label in (True, False):
        map50, map50_95 = ultralytics_val(args.weights, args.data, multi_label)
        scorer = "ultralytics val" + ("" if multi_label else ", one class per box")
        print(f"{'(its own)':<12}{scorer:<34}{map50:>9.3f}{map50_95:>12.3f}")


def ultralytics_val(weights: Path, data: Path, multi_label: bool) -> tuple[float, float]:
    """ultralytics' val as shipped (its NMS keeps a box once for every class scoring over the
    0.001 floor: ``multi_label=True``), or with one class per box, as the app serves boxes."""
    from ultralytics import YOLO
    from ultralytics.utils import nms

    original = nms.non_max_suppression

    def one_class_per_box(*args, **kwargs):
        return original(*args, **{**kwargs, "multi_label": False})

    single = mock.patch.object(nms, "non_max_suppression", one_class_per_box)
    patch = contextlib.nullcontext() if multi_label else single
    with tempfile.TemporaryDirectory() as work, patch:
        yaml = str(_data_yaml(data, Path(work)))
        result = YOLO(str(weights)).val(data=yaml, split="val", imgsz=320, plots=False, verbose=False)
    return float(result.box.map50), float(result.box.map)


if __name__ == "__main__":
    main()
