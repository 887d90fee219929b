"""The object detector: an ultralytics YOLO (``.pt`` or ``.onnx``) returning ``sv.Detections``.

Each detection carries its object type in ``detections.data["object_type"]``. The model's own
class names go through the taxonomy, so a checkpoint trained on the 4 object types or on the 9
conditional classes (``Toe drain- Blocked``) both give object types. Boxes leave this module
inside the photo and at least ``MIN_BOX_SIDE`` pixels each way: a degenerate box (zero height on
a large photo at a low threshold) is dropped here, so nothing downstream has to guard against it.

Photos of any size and shape are stretched to the model's square input, as the training photos
were (the source squashed every photo to a 224/312 px square): a 16:9 photo letterboxed instead
shows objects narrower and smaller than any the model saw. Boxes are mapped back to the photo's
own pixels.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import supervision as sv
from PIL import Image

from core.model_card import model_version, read_card
from core.offline import prepare_offline
from core.taxonomy import parse_class_name

# In a model folder the ONNX export is preferred: same boxes, faster on CPU (bench/pipeline.py).
WEIGHT_NAMES = ("model.onnx", "model.pt", "best.onnx", "best.pt")
DEFAULT_IMAGE_SIZE = 320  # for weights whose card does not say what size they were trained at
MIN_BOX_SIDE = 2.0  # pixels: the condition model needs a crop of at least this much


def resolve_weights(source: str | Path) -> Path:
    """A weights file, or the weights inside a model folder."""
    path = Path(source)
    if path.is_dir():
        for name in WEIGHT_NAMES:
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(f"{path} holds none of {', '.join(WEIGHT_NAMES)}")
    if not path.is_file():
        raise FileNotFoundError(f"detector weights not found: {path}")
    return path


class Detector:
    def __init__(
        self,
        source: str | Path,
        conf: float = 0.25,
        iou: float = 0.5,
        imgsz: int | None = None,
        device: str = "cpu",
        stretch: bool = True,
        threads: int = 0,
    ) -> None:
        """``imgsz`` None: the size the model's card gives (it was trained at), else 320.
        ``stretch`` False: ultralytics' letterbox instead (kept to measure the difference).
        ``threads``: CPU threads for an ONNX model (0: ONNX Runtime's own choice, every core)."""
        prepare_offline()
        from ultralytics import YOLO

        self.weights = resolve_weights(source)
        self.model = YOLO(str(self.weights), task="detect")
        if imgsz is None:
            card = read_card(self.weights)
            imgsz = card.image_size if card is not None and card.image_size else DEFAULT_IMAGE_SIZE
        self.conf, self.iou, self.imgsz, self.device, self.stretch = conf, iou, imgsz, device, stretch
        self.version = model_version(source)
        names = self.model.names
        self.class_to_type = {int(i): parse_class_name(n)[0] for i, n in names.items()}
        if threads and self.weights.suffix == ".onnx" and device == "cpu":
            self._limit_onnx_threads(threads)

    def _limit_onnx_threads(self, threads: int) -> None:
        """ONNX Runtime's session on ``threads`` threads that sleep when idle. By default it runs
        on every core and its threads spin between calls: two workers on 2 cores then each took
        twice as long a photo (bench/scale.py); with one sleeping thread each, both kept their
        single-process speed. ultralytics takes no session options, so its session is replaced
        once the predictor exists (a first prediction makes it)."""
        import onnxruntime

        self.model.predict(np.zeros((32, 32, 3), np.uint8), imgsz=self.imgsz, device=self.device, verbose=False)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        backend = self.model.predictor.model.backend
        backend.session = onnxruntime.InferenceSession(str(self.weights), options, providers=["CPUExecutionProvider"])

    def detect(self, image: Image.Image, conf: float | None = None) -> sv.Detections:
        """Boxes in pixels of ``image``, with ``data["object_type"]``."""
        pixels = np.asarray(image)[:, :, ::-1]  # RGB (load_image) to the BGR ultralytics takes
        width, height = image.size
        if self.stretch:
            shrinking = width * height > self.imgsz * self.imgsz
            interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
            pixels = cv2.resize(pixels, (self.imgsz, self.imgsz), interpolation=interpolation)
        result = self.model.predict(
            np.ascontiguousarray(pixels),
            conf=self.conf if conf is None else conf,
            iou=self.iou,
            imgsz=self.imgsz,
            device=self.device,
            verbose=False,
        )[0]
        detections = sv.Detections.from_ultralytics(result)
        if self.stretch and len(detections):
            scale = np.array([width, height, width, height], dtype=np.float32) / self.imgsz
            detections.xyxy = (detections.xyxy * scale).astype(np.float32)
        detections.data["object_type"] = np.array([self.class_to_type[int(c)] for c in detections.class_id], dtype=str)
        return inside_photo(detections, image.size)


def inside_photo(detections: sv.Detections, size: tuple[int, int]) -> sv.Detections:
    """Boxes clipped to a photo of ``size`` (width, height); those then thinner than
    ``MIN_BOX_SIDE`` either way are dropped."""
    if len(detections) == 0:
        return detections
    width, height = size
    detections.xyxy = np.clip(detections.xyxy, 0, [width, height, width, height]).astype(detections.xyxy.dtype)
    sides = detections.xyxy[:, 2:] - detections.xyxy[:, :2]
    return detections[np.all(sides >= MIN_BOX_SIDE, axis=1)]
