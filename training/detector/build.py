"""Build a detector: a YOLO architecture trained on the slopes data, or fine-tuned.

Two architectures start from a yaml: ultralytics' YOLO11n (from scratch: no COCO weights exist
offline) and YOLO11n's neck and head on an ImageNet-pretrained EfficientNet-Lite0 backbone, whose
weights come from a registry package (training/backbone.py). The result is a new
candidate folder in the model registry (``model.pt``, its ``model.onnx`` export and
``card.json``), built in a staging folder and renamed when complete; nothing served is touched.

    slope train build-detector --architecture efficientnet-lite0 --epochs 60
    slope train build-detector --hours 1.8 [--init-from models/detector/model.pt]
"""

from __future__ import annotations

import csv
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from core.model_card import ModelCard, model_version, read_card
from core.offline import prepare_offline
from core.taxonomy import OBJECT_TYPES
from lifecycle.folders import (
    Progress,
    ShouldStop,
    TrainingCancelled,
    data_hash,
    default_registry,
    discard,
    new_version,
    now_iso,
    publish_candidate,
    settings_for_card,
    shown_path,
    staging_folder,
)
from training.backbone import WEIGHTS_ORIGIN, register_with_torchvision
from training.data.dataset import DATA_CREDIT, DEFAULT_DATA, from_yolo_folder
from training.eval.metrics import MAP_METHOD

# Short names for the architectures this project ships; anything else is an ultralytics yaml.
ARCHITECTURES = {
    "yolo11n": "yolo11n.yaml",
    "efficientnet-lite0": str(Path(__file__).parent / "architectures" / "yolo-efficientnet-lite0.yaml"),
}
DATA_PROVENANCE = "real drone photos with human-drawn boxes for the 4 object types"
# The pinned ultralytics keeps as best.pt the epoch with the best mAP@0.5:0.95 alone (its
# DetMetrics.fitness weights), so a card's mAP@0.5 can be below the best of its history.
BEST_EPOCH = ", of the epoch with the best val mAP50-95 (kept by ultralytics as best.pt)"
# A schedule fixed in advance and its last epoch: val measures the weights but chose nothing.
LAST_EPOCH = ", of the last epoch of a schedule fixed in advance (last.pt; val chose no epoch)"
WEIGHTS = {"best.pt": BEST_EPOCH, "last.pt": LAST_EPOCH}
# ultralytics' results.csv column -> the card's history key
HISTORY_COLUMNS = {
    "metrics/mAP50(B)": "map50",
    "metrics/mAP50-95(B)": "map50_95",
    "metrics/precision(B)": "precision",
    "metrics/recall(B)": "recall",
}


@dataclass
class DetectorTrainSettings:
    data_dir: Path = field(default=DEFAULT_DATA, metadata={"help": "YOLO folder with data.yaml."})
    registry: Path | None = field(
        default=None,
        metadata={"help": "Model registry the candidate is written into; None: the data directory's."},
    )
    data_name: str | None = field(
        default=None,
        metadata={"help": "What the card calls the data (default: the folder), e.g. for a temporary export."},
    )
    architecture: str = field(
        default="efficientnet-lite0",
        metadata={"help": f"One of {', '.join(ARCHITECTURES)}, or an ultralytics model yaml."},
    )
    hours: float = field(default=1.0, metadata={"help": "Wall-clock budget; sets the epoch count."})
    epochs: int = field(default=300, metadata={"help": "Upper bound on epochs; within it, hours sets the epoch count."})
    imgsz: int = field(default=320, metadata={"help": "Training size; the photos are 224-312 px."})
    batch: int = field(default=16, metadata={"help": "Photos per batch."})
    seed: int = field(default=0, metadata={"help": "ultralytics' seed (deterministic run)."})
    workers: int = field(default=2, metadata={"help": "Data loader workers (0: in the main process)."})
    device: str = field(default="cpu", metadata={"help": "torch device."})
    init_from: Path | None = field(
        default=None,
        metadata={
            "help": "Fine-tune these weights (e.g. an earlier models/detector/model.pt) instead of "
            "starting from the yaml: AdamW at fine_tune_lr0 with ultralytics' default augmentation."
        },
    )
    resume: Path | None = field(
        default=None,
        metadata={
            "help": "Continue this interrupted run folder (kept by Ctrl-C) from its weights/last.pt, on its own "
            "schedule and time budget; epochs stays the cap. Long trainings can span several sessions."
        },
    )
    weights: str = field(  # last.pt where val judges the candidate after (a job's gate): val chose no epoch
        default="best.pt", metadata={"help": "The epoch published: best.pt (val's best) or last.pt (the last)."}
    )
    fine_tune_lr0: float = field(
        default=0.0002,
        metadata={
            "help": "AdamW's starting learning rate when fine-tuning (init_from). From the shipped detector "
            "(val mAP@0.5 0.748): 0.0002 without warmup kept 0.694 after the first epoch and ended at 0.733 "
            "in 37 epochs; 0.001 with ultralytics' warmup fell to 0.612 and ended at 0.702 in 28."
        },
    )

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        # Resolved now, so the card records where the candidate went.
        self.registry = Path(self.registry) if self.registry is not None else default_registry()
        if self.init_from is not None:
            self.init_from = Path(self.init_from)
        if self.resume is not None:
            self.resume = Path(self.resume)
            if not (self.resume / "weights" / "last.pt").is_file():
                raise ValueError(f"{self.resume} is not a run folder to resume: it has no weights/last.pt")
        if not (self.data_dir / "data.yaml").is_file():
            raise ValueError(f"{self.data_dir} has no data.yaml")
        if self.weights not in WEIGHTS:
            raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, got {self.weights!r}")
        if self.hours <= 0 or self.epochs <= 0 or self.fine_tune_lr0 <= 0:
            raise ValueError(
                "hours, epochs and fine_tune_lr0 must be positive, "
                f"got {self.hours}, {self.epochs}, {self.fine_tune_lr0}"
            )


def _data_yaml(data_dir: Path, work: Path) -> Path:
    """A copy of data.yaml in ``work`` listing, as train and val, the photos ``from_yolo_folder``
    keeps: ultralytics trains on the photos the card counts and the gate measures."""
    spec = yaml.safe_load((data_dir / "data.yaml").read_text())
    names = spec["names"]
    names = [names[i] for i in sorted(names)] if isinstance(names, dict) else list(names)
    if tuple(names) != OBJECT_TYPES:
        raise ValueError(f"{data_dir}: classes {names} are not the object types {OBJECT_TYPES}")
    spec["path"] = str(data_dir.resolve())
    for split in ("train", "val"):
        listed = work / f"{split}.txt"
        # Not resolved: ultralytics finds .../labels/x.txt from .../images/x.jpg, not from a link's target.
        listed.write_text("".join(f"{photo.path.absolute()}\n" for photo in from_yolo_folder(data_dir, split)))
        spec[split] = str(listed)
    out = work / "data.yaml"
    out.write_text(yaml.safe_dump(spec))
    return out


class DetectorRunInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM to the command line) after at least one epoch: hours of training are
    not thrown away. ``run`` is the ultralytics run folder so far, kept for ``publish_finished_run``
    (its best epoch) or for ``DetectorTrainSettings.resume`` (on from ``weights/last.pt``)."""

    def __init__(self, run: Path) -> None:
        super().__init__(f"detector training interrupted; the run so far is kept in {run}")
        self.run = run


def train_detector(
    settings: DetectorTrainSettings, progress: Progress | None = None, should_stop: ShouldStop | None = None
) -> Path:
    """Train, validate on val, and publish a new candidate folder in ``settings.registry``;
    returns that folder. A failed or cancelled run leaves no folder behind, but an interrupted one
    keeps its run folder once an epoch is saved (``DetectorRunInterrupted``). ``progress(epoch,
    epochs, {"map50", ...})`` after each epoch; ``should_stop()`` asked after each epoch raises
    ``TrainingCancelled``."""
    work = Path(tempfile.mkdtemp(prefix="detector-train-"))  # ultralytics' run folder
    staging = staging_folder(settings.registry, "detector")
    run = settings.resume or work / "run"  # where ultralytics writes this run's epochs
    kept = None
    try:
        return _train(work, staging, settings, progress, should_stop)
    except KeyboardInterrupt as exc:
        discard(staging)
        if (run / "weights" / "best.pt").is_file():
            kept = run
            raise DetectorRunInterrupted(run) from exc
        raise
    except BaseException:
        discard(staging)
        raise
    finally:
        if kept is None:
            shutil.rmtree(work, ignore_errors=True)


def _train(
    work: Path,
    staging: Path,
    settings: DetectorTrainSettings,
    progress: Progress | None,
    should_stop: ShouldStop | None,
) -> Path:
    version = new_version("detector", settings.architecture.removesuffix(".yaml"))
    started = time.time()
    run, recipe = train_run(work, settings, progress, should_stop)
    return publish_run(run, staging, settings, version, time.time() - started, recipe, settings.weights)


def train_run(
    work: Path,
    settings: DetectorTrainSettings,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> tuple[Path, dict]:
    """ultralytics' training alone, into ``work / "run"``: the run folder (``weights/best.pt``,
    ``weights/last.pt``, ``results.csv``, ``args.yaml``) and the recipe's words for the card.
    ``publish_run`` makes a candidate of it; a GPU machine runs only this (``bench/gpu.py``)."""
    prepare_offline()
    from ultralytics import YOLO

    register_with_torchvision()  # the pretrained architecture's yaml names the backbone
    data_yaml = _data_yaml(settings.data_dir, work)
    yaml_file = ARCHITECTURES.get(settings.architecture, settings.architecture)
    if settings.resume is not None:
        model = YOLO(str(settings.resume / "weights" / "last.pt"))
        recipe = {"run": f"resumed run (args.yaml: {_schedule(settings.resume)})"}
    elif settings.init_from is None:
        model = YOLO(yaml_file)
        # ultralytics' default augmentation and optimizer, the same for every architecture so
        # that they compare; a fine-tune with the defaults beat the heavier augmentation that
        # built the shipped YOLO11n.
        recipe = {"pretrained": False}
    else:
        model = YOLO(str(settings.init_from))
        # No warmup: ultralytics' warmup starts the biases at lr 0.1, which with AdamW wrecks trained
        # weights (a fine-tune at lr0 0.0002 fell from val mAP@0.5 0.748 to 0.646 in its warmup epoch).
        recipe = {"optimizer": "AdamW", "lr0": settings.fine_tune_lr0, "warmup_epochs": 0}

    trained: list[int] = []  # epochs started in this process

    def after_epoch(trainer) -> None:
        if not trained or trained[-1] != trainer.epoch:
            return  # ultralytics' final validation of best.pt reports itself as one epoch more
        if trainer.epochs > settings.epochs:
            # ultralytics' time mode re-plans the schedule after every epoch to fill ``time``, so on
            # its own it would run past ``epochs``; cap it and replan the learning rate to end there.
            trainer.epochs = trainer.args.epochs = settings.epochs
            trainer._setup_scheduler()
            trainer.scheduler.last_epoch = trainer.epoch
        # A resumed run may reach the cap on the epoch that lowered it.
        trainer.stop = trainer.stop or trainer.epoch + 1 >= settings.epochs
        if progress is not None:
            figures = {key: float(trainer.metrics.get(column, float("nan"))) for column, key in HISTORY_COLUMNS.items()}
            progress(int(trainer.epoch) + 1, int(trainer.epochs), figures)
        if should_stop is not None and should_stop():
            raise TrainingCancelled("detector training cancelled")  # propagates out of model.train

    model.add_callback("on_train_epoch_start", lambda trainer: trained.append(trainer.epoch))
    model.add_callback("on_fit_epoch_end", after_epoch)
    if settings.resume is not None:
        # ultralytics continues from the checkpoint with the run's own arguments (data, schedule, folder)
        model.train(resume=True, device=settings.device, workers=settings.workers)
    else:
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
    return Path(model.trainer.save_dir), recipe


def publish_run(
    run: Path,
    staging: Path,
    settings: DetectorTrainSettings,
    version: str,
    train_seconds: float,
    recipe: dict,
    weights: str = "best.pt",
) -> Path:
    """An ultralytics run folder (its ``weights/<weights>`` and ``results.csv``) as a new candidate:
    the weights, their ONNX export and the card, validated on val, published from ``staging``.
    ``weights``: ``best.pt`` (the epoch val liked best) or ``last.pt`` (the schedule's end)."""
    history = training_history(run / "results.csv")
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
    if not (run / "weights" / weights).is_file() or not history:
        raise FileNotFoundError(f"{run} holds no finished epoch (weights/{weights} and results.csv)")
    shutil.copyfile(run / "weights" / weights, staging / "model.pt")
    metrics = val_metrics(staging / "model.pt", settings.data_dir, settings.imgsz, settings.device)
    export_onnx(staging / "model.pt", settings.imgsz)
    parent = model_version(settings.init_from) if settings.init_from else None
    architecture, start = _lineage(settings, parent)
    epochs_run = int(history[-1]["epoch"])
    train_photos = from_yolo_folder(settings.data_dir, "train")
    val_photos = len(from_yolo_folder(settings.data_dir, "val"))  # those the metrics were measured on
    source = settings.data_name or shown_path(settings.data_dir)
    card = ModelCard(
        kind="detector",
        version=version,
        architecture=architecture,
        parent=parent,
        created=now_iso(),
        data=f"{source} (train {len(train_photos)} photos; val {val_photos} for selection)",
        data_hash=data_hash(train_photos),
        data_provenance=DATA_PROVENANCE,
        data_credit=DATA_CREDIT,
        image_size=settings.imgsz,
        train_settings=settings_for_card(settings),
        training={
            "epochs_run": epochs_run,
            "train_seconds": round(train_seconds),
            "recipe": f"{epochs_run} epochs {start}; " + ", ".join(f"{k}={v}" for k, v in recipe.items()),
        },
        history=history,
        metrics=metrics,
        metrics_data=f"{MAP_METHOD} on the {val_photos} real val photos of {source} "
        "(human boxes), detected as served (precision and recall at the serving threshold; the history is "
        f"ultralytics' own val per epoch){WEIGHTS[weights]}",
    )
    card.write_readme(staging)  # the folder documents itself wherever it is copied
    return publish_candidate(staging, settings.registry, card)


def _lineage(settings: DetectorTrainSettings, parent: str | None) -> tuple[str, str]:
    """The card's architecture and how the weights began. A fine-tune keeps its parent's
    architecture text, so the pretrained weights' origin and licence survive every generation
    (``settings.architecture`` is only the default there, not what the parent is)."""
    if parent is not None:
        parent_card = read_card(settings.init_from)
        start = f"fine-tuned from {parent}"
        if parent_card is not None and parent_card.architecture:
            return parent_card.architecture, start
        return f"ultralytics {settings.architecture} ({start})", start
    if settings.architecture == "efficientnet-lite0":
        start = f"backbone: {WEIGHTS_ORIGIN}; neck and head from scratch"
    else:
        start = "from scratch, no pretrained weights"
    return f"ultralytics {settings.architecture} ({start})", start


def publish_finished_run(run: Path, settings: DetectorTrainSettings) -> Path:
    """A run trained outside this trainer (resumed after an interruption, or on a GPU machine) as
    a new candidate, through the same validation, export and card. ``settings.architecture``
    must name what the run trained; its own ``args.yaml`` stays the record of its schedule;
    ``settings.weights`` which epoch is published."""
    run = Path(run)
    staging = staging_folder(settings.registry, "detector")
    try:
        version = new_version("detector", settings.architecture.removesuffix(".yaml"))
        recipe = {"run": f"published from its run folder (args.yaml: {_schedule(run)})"}
        return publish_run(run, staging, settings, version, _run_seconds(run), recipe, settings.weights)
    except BaseException:
        discard(staging)
        raise


def _schedule(run: Path) -> str:
    """The schedule a run's args.yaml records, in a few words."""
    args = yaml.safe_load((run / "args.yaml").read_text()) if (run / "args.yaml").is_file() else {}
    # Not "model": the architecture is in the card already, and a resumed run names only last.pt.
    keys = ("epochs", "imgsz", "batch", "optimizer", "lr0", "close_mosaic", "seed")
    return ", ".join(f"{k}={args[k]}" for k in keys if k in args)


def _run_seconds(run: Path) -> float:
    """Training time from ultralytics' results.csv, whose ``time`` column restarts at each resume:
    the sum of each session's last value."""
    times = [float(row["time"]) for row in _results_rows(run / "results.csv") if row.get("time")]
    return sum(a for a, b in zip(times, [*times[1:], 0.0], strict=False) if b < a)


def _results_rows(results_csv: Path) -> list[dict[str, str]]:
    """The rows of ultralytics' per-epoch ``results.csv``, names and values stripped (older
    versions pad them); empty if the file is missing."""
    if not results_csv.is_file():
        return []
    with results_csv.open(newline="") as f:
        return [{k.strip(): v.strip() for k, v in row.items() if k is not None} for row in csv.DictReader(f)]


def results_columns(results_csv: Path) -> dict[str, list[float]]:
    """``results.csv`` as ultralytics keeps it in a checkpoint (column -> values); empty if missing."""
    rows = _results_rows(results_csv)
    return {column: [float(row[column]) for row in rows] for column in rows[0]} if rows else {}


def training_history(results_csv: Path) -> list[dict[str, float]]:
    """ultralytics' per-epoch ``results.csv`` as the card's history:
    ``[{"epoch", "map50", "map50_95", "precision", "recall"}]`` (val figures); empty if the file
    is missing. With ``_run_seconds``, the only code that knows ultralytics' column names."""
    history = []
    for row in _results_rows(results_csv):
        item: dict[str, float] = {"epoch": int(float(row["epoch"]))}
        item.update({key: round(float(row[column]), 5) for column, key in HISTORY_COLUMNS.items()})
        history.append(item)
    return history


def val_metrics(weights: Path, data_dir: Path, imgsz: int, device: str = "cpu") -> dict:
    """mAP@0.5 and mAP@0.5:0.95 on the val photos, overall and per class, measured as
    ``slope train evaluate`` and the gate measure a detector (``MAP_METHOD``, the served
    detection path), so a card and an evaluation of the same weights agree. Precision and recall
    at the serving threshold, overall the mean over the classes with val boxes."""
    from core.detector import Detector
    from training.eval.evaluate import evaluate_detector

    report = evaluate_detector(Detector(weights, imgsz=imgsz, device=device), from_yolo_folder(data_dir, "val"))
    present = [v for v in report.per_class.values() if v.n > 0]

    def figure(value: float) -> float:  # 0 where there is nothing to measure: a card holds no NaN
        return round(float(value), 4) if value == value else 0.0

    per_class = {
        name: {
            "precision": figure(v.precision),
            "recall": figure(v.recall),
            "map50": figure(v.ap50),
            "map50_95": figure(v.ap50_95),
        }
        for name, v in report.per_class.items()
    }
    return {
        "map50": figure(report.map50),
        "map50_95": figure(report.map50_95),
        "precision": figure(sum(v.precision for v in present) / len(present)) if present else 0.0,
        "recall": figure(sum(v.recall for v in present) / len(present)) if present else 0.0,
        "per_class": per_class,
    }


def export_onnx(weights: Path, imgsz: int) -> Path:
    """An ONNX copy of the weights beside them (fixed input size, simplified graph)."""
    prepare_offline()
    from ultralytics import YOLO

    return Path(YOLO(str(weights)).export(format="onnx", imgsz=imgsz, simplify=True, dynamic=False, verbose=False))
