"""Build the default detector: a YOLO architecture trained from scratch on the slopes data.

No pretrained weights exist offline, so the network starts from its yaml. The result is a model
folder (``model.pt`` + ``metadata.json``) written to a temporary name and renamed into place.

    python -m training build-detector --hours 1.8 --out models/detector
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

from core.model_info import model_version
from core.offline import prepare_offline
from core.settings import PROJECT_ROOT
from core.taxonomy import OBJECT_TYPES
from training.artifacts import publish_folder, staging_folder

DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "slopes"
DATA_CREDIT = (
    "Slope-infrastructure detection images, Roboflow Universe workspace 'conditional-classes', "
    "project 'my-first-project-q51lx' "
    "(https://universe.roboflow.com/conditional-classes/my-first-project-q51lx), CC BY 4.0"
)


@dataclass
class DetectorTrainSettings:
    data_dir: Path = field(default=DEFAULT_DATA, metadata={"help": "YOLO folder with data.yaml."})
    out: Path = field(default=PROJECT_ROOT / "models" / "detector", metadata={"help": "Model folder."})
    architecture: str = field(default="yolo11n.yaml", metadata={"help": "ultralytics model yaml."})
    hours: float = field(default=1.0, metadata={"help": "Wall-clock budget; sets the epoch count."})
    epochs: int = field(default=300, metadata={"help": "Upper bound on epochs (hours usually binds)."})
    imgsz: int = field(default=320, metadata={"help": "Training size; the photos are 224-312 px."})
    batch: int = 16
    seed: int = 0
    workers: int = 2
    device: str = "cpu"
    init_from: Path | None = field(
        default=None,
        metadata={
            "help": "Fine-tune these weights (e.g. an earlier models/detector/model.pt) instead of "
            "starting from the yaml: AdamW at lr 0.001 with ultralytics' default augmentation."
        },
    )

    def __post_init__(self) -> None:
        self.data_dir, self.out = Path(self.data_dir), Path(self.out)
        if not (self.data_dir / "data.yaml").is_file():
            raise ValueError(f"{self.data_dir} has no data.yaml")
        if self.hours <= 0 or self.epochs <= 0:
            raise ValueError(f"hours and epochs must be positive, got {self.hours}, {self.epochs}")


def _data_yaml(data_dir: Path, work: Path) -> Path:
    """A copy of data.yaml with an absolute path, so the source folder is only read."""
    spec = yaml.safe_load((data_dir / "data.yaml").read_text())
    names = spec["names"]
    names = [names[i] for i in sorted(names)] if isinstance(names, dict) else list(names)
    if tuple(names) != OBJECT_TYPES:
        raise ValueError(f"{data_dir}: classes {names} are not the object types {OBJECT_TYPES}")
    spec["path"] = str(data_dir.resolve())
    out = work / "data.yaml"
    out.write_text(yaml.safe_dump(spec))
    return out


def train_detector(settings: DetectorTrainSettings) -> Path:
    """Train, validate on val, and write the model folder. Returns the folder."""
    work = Path(tempfile.mkdtemp(prefix="detector-train-"))
    try:
        return _train_in(work, settings)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # ultralytics' run folder: weights are published by now


def _train_in(work: Path, settings: DetectorTrainSettings) -> Path:
    prepare_offline()
    from ultralytics import YOLO

    data_yaml = _data_yaml(settings.data_dir, work)
    started = time.time()
    if settings.init_from is None:
        model = YOLO(settings.architecture)
        # Small data from scratch: stronger geometric augmentation than the defaults.
        recipe = {"pretrained": False, "degrees": 10.0, "scale": 0.6, "mixup": 0.1, "close_mosaic": 15}
    else:
        model = YOLO(str(settings.init_from))
        recipe = {"optimizer": "AdamW", "lr0": 0.001, "warmup_epochs": 1}
    model.train(
        data=str(data_yaml),
        epochs=settings.epochs,
        time=settings.hours,
        imgsz=settings.imgsz,
        batch=settings.batch,
        seed=settings.seed,
        deterministic=True,
        workers=settings.workers,
        device=settings.device,
        amp=False,
        cache="ram",
        project=str(work),
        name="run",
        exist_ok=True,
        plots=False,
        patience=1000,
        verbose=False,
        **recipe,
    )
    train_seconds = time.time() - started
    best = Path(model.trainer.best)
    metrics = ultralytics_val_metrics(best, data_yaml, settings.imgsz, settings.device)
    write_detector_folder(
        best,
        Path(model.trainer.save_dir) / "results.csv",
        settings.out,
        {
            "kind": "detector",
            "version": f"detector-{Path(settings.architecture).stem}-{datetime.now(UTC):%Y%m%d%H%M%S}",
            "architecture": settings.architecture,
            "parent": model_version(settings.init_from) if settings.init_from else None,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "data": str(settings.data_dir),
            "data_credit": DATA_CREDIT,
            "train_settings": {k: str(v) for k, v in asdict(settings).items()},
            "epochs_run": int(model.trainer.epoch) + 1,
            "train_seconds": round(train_seconds),
            "metrics_val": metrics,
        },
        settings.imgsz,
    )
    return settings.out


def ultralytics_val_metrics(weights: Path, data_yaml: Path, imgsz: int, device: str = "cpu") -> dict:
    """mAP@0.5 and mAP@0.5:0.95 on val, overall and per class."""
    prepare_offline()
    from ultralytics import YOLO

    result = YOLO(str(weights)).val(
        data=str(data_yaml), split="val", imgsz=imgsz, device=device, plots=False, verbose=False
    )
    per_class = {}
    for index, name in result.names.items():
        present = list(result.box.ap_class_index)
        # class_result takes a position among the classes present in val, not a class id.
        p, r, ap50, ap = result.box.class_result(present.index(index)) if index in present else (0,) * 4
        per_class[name] = {
            "precision": round(float(p), 4),
            "recall": round(float(r), 4),
            "map50": round(float(ap50), 4),
            "map50_95": round(float(ap), 4),
        }
    return {
        "map50": round(float(result.box.map50), 4),
        "map50_95": round(float(result.box.map), 4),
        "precision": round(float(result.box.mp), 4),
        "recall": round(float(result.box.mr), 4),
        "per_class": per_class,
    }


def export_onnx(weights: Path, imgsz: int) -> Path:
    """An ONNX copy of the weights beside them (fixed input size, simplified graph)."""
    prepare_offline()
    from ultralytics import YOLO

    return Path(YOLO(str(weights)).export(format="onnx", imgsz=imgsz, simplify=True, dynamic=False, verbose=False))


def write_detector_folder(weights: Path, log_csv: Path, out: Path, metadata: dict, imgsz: int) -> None:
    """Weights (.pt and its ONNX export), per-epoch log and metadata, published atomically."""
    staging = staging_folder(out)
    shutil.copyfile(weights, staging / "model.pt")
    export_onnx(staging / "model.pt", imgsz)
    if log_csv.is_file():
        shutil.copyfile(log_csv, staging / "training_log.csv")
    publish_folder(staging, out, metadata)
