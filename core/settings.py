"""One dataclass of settings, each field overridable from an environment variable.

The variable for a field is its name upper-cased with the ``SLOPE_`` prefix
(``detector_conf`` -> ``SLOPE_DETECTOR_CONF``); ``DATABASE_URL`` is also read unprefixed
because that is the name hosting platforms set.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = PROJECT_ROOT / "models"
ENV_PREFIX = "SLOPE_"
# A Hugging Face Space with persistent storage mounts it at /data; anything else is lost on restart.
PERSISTENT_VOLUME = Path("/data")


def default_data_dir() -> str:
    """``/data/slope-inspection`` where a writable persistent volume is mounted, else ``data/``
    in the checkout."""
    if PERSISTENT_VOLUME.is_dir() and os.access(PERSISTENT_VOLUME, os.W_OK):
        return str(PERSISTENT_VOLUME / "slope-inspection")
    return str(PROJECT_ROOT / "data")


@dataclass(frozen=True)
class Settings:
    detector_model: str = field(
        default=str(MODELS_DIR / "detector"),
        metadata={"help": "YOLO weights: a model folder, a .pt or a .onnx file."},
    )
    condition_model: str = field(
        default=str(MODELS_DIR / "condition"),
        metadata={"help": "Qwen2-VL condition model: a local folder or a hub id."},
    )
    device: str = field(default="cpu", metadata={"help": "torch device: cpu, cuda, cuda:0 ..."})
    detector_conf: float = field(default=0.25, metadata={"help": "Detector confidence threshold."})
    detector_iou: float = field(default=0.5, metadata={"help": "Detector NMS IoU threshold."})
    detector_imgsz: int = field(
        default=0, metadata={"help": "Detector input size in pixels; 0: the size in the detector's card."}
    )
    max_image_pixels: int = field(default=DEFAULT_MAX_PIXELS, metadata={"help": "Images with more pixels are refused."})
    max_upload_bytes: int = field(
        default=DEFAULT_MAX_BYTES,
        metadata={"help": "Photos larger than this (a file, or a member of a zip) are refused."},
    )
    max_archive_bytes: int = field(
        default=4_000_000_000,
        metadata={"help": "A survey zip uploaded to the app may be this large (a 200-photo drone survey is 1-4 GB)."},
    )
    data_dir: str = field(
        default_factory=default_data_dir,
        metadata={"help": "Where stored images and the DB live (default: /data/slope-inspection when /data exists)."},
    )
    demo_mode: bool = field(
        default=False,
        metadata={
            "help": "Public demo: a visible demo reviewer account, uploads not stored, a review store of the "
            "example photos reset periodically, no training."
        },
    )
    demo_reset_minutes: float = field(
        default=30.0, metadata={"help": "Demo mode: how often the review store is wiped and seeded again."}
    )
    database_url: str = field(default="", metadata={"help": "SQLAlchemy URL; empty means SQLite in data_dir."})
    object_store: str = field(
        default="",
        metadata={
            "help": "Where photo files are kept: empty for data_dir; s3://BUCKET[/PREFIX]?endpoint_url=URL for an "
            "S3-compatible bucket shared by several app machines (storage/blobs.py)."
        },
    )
    model_threads: int = field(
        default=0,
        metadata={
            "help": "CPU threads the models use (0: the libraries' own choice, every core). Give each of N "
            "processes sharing a machine (`slope worker`) cores/N: they then do not slow each other down."
        },
    )
    broker_url: str = field(
        default="",
        metadata={
            "help": "Task queue broker (redis://HOST:PORT/DB): queued surveys (in chunks) and the Train tab's jobs "
            "run on `slope worker` processes, followed and cancelled from any app replica; empty runs everything "
            "in the app's machine."
        },
    )
    chunk_photos: int = field(
        default=8, metadata={"help": "Queued surveys: photos per task (what a killed worker costs, at most, in time)."}
    )
    task_silent_s: float = field(
        default=60.0,
        metadata={
            "help": "Queued surveys: a chunk whose worker has not reported for this long (it reports after every "
            "photo) is handed to another worker; longer than the slowest photo takes."
        },
    )
    task_visibility_s: int = field(
        default=600,
        metadata={
            "help": "Queued surveys: the broker hands on a task not acknowledged in this time (the backstop when "
            "no worker is left to notice a silent one); longer than a chunk takes."
        },
    )
    max_new_boxes: int = field(
        default=100, metadata={"help": "Review: the most boxes one save may add (more is refused, nothing saved)."}
    )
    inspect_concurrency: int = field(
        default_factory=lambda: min(2, os.cpu_count() or 1),
        metadata={
            "help": "Inspect requests served at once (default: 2, or 1 on one core): while one runs the models (one "
            "photo at a time), another draws, stores and writes its reports. On 2 cores 8 users got 6.9-7.4 "
            "photos/s with 2 against 5.9-6.9 with 1 (bench/app_load.py, three runs each). More may pay where there "
            "are more cores or the models run on a GPU."
        },
    )
    auto_promote: bool = field(
        default=False,
        metadata={
            "help": "Train tab: improvement jobs serve what passes their gate without asking (off: a person "
            "confirms every promotion)."
        },
    )

    @property
    def largest_upload(self) -> int:
        """The web server refuses any file over this; photos are held to ``max_upload_bytes``
        when read, whether uploaded alone or inside a zip. The public demo takes no survey zip
        larger than a photo: anonymous visitors must not fill its disk."""
        return self.max_upload_bytes if self.demo_mode else max(self.max_upload_bytes, self.max_archive_bytes)

    def __post_init__(self) -> None:
        if not 0.0 <= self.detector_conf <= 1.0:
            raise ValueError(f"detector_conf must be in [0, 1], got {self.detector_conf}")
        if not 0.0 < self.detector_iou <= 1.0:
            raise ValueError(f"detector_iou must be in (0, 1], got {self.detector_iou}")
        if self.inspect_concurrency < 1:
            raise ValueError(f"inspect_concurrency must be at least 1, got {self.inspect_concurrency}")
        if self.model_threads < 0:
            raise ValueError(f"model_threads must be 0 (the libraries' choice) or more, got {self.model_threads}")
        if self.chunk_photos < 1 or self.task_visibility_s < 1 or not self.task_silent_s > 0:
            raise ValueError("chunk_photos, task_visibility_s and task_silent_s must be positive")
        if self.max_new_boxes < 1:
            raise ValueError(f"max_new_boxes must be at least 1, got {self.max_new_boxes}")
        if self.demo_reset_minutes <= 0:
            raise ValueError(f"demo_reset_minutes must be positive, got {self.demo_reset_minutes}")
        if self.detector_imgsz and (self.detector_imgsz < 32 or self.detector_imgsz % 32):
            raise ValueError(f"detector_imgsz must be 0 (from the card) or a multiple of 32, got {self.detector_imgsz}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then environment variables, then explicit keyword overrides."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None and f.name == "database_url":
                raw = env.get("DATABASE_URL")
            if raw is not None:
                values[f.name] = _parse(raw, f.type, f.name)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
        raise ValueError(raw)
    return value in ("1", "true", "yes", "on")


def _parse(raw: str, type_name: Any, name: str) -> Any:
    kind = {"float": float, "int": int, "bool": _flag}.get(str(type_name), str)
    try:
        return kind(raw)
    except ValueError:
        expected = {"_flag": "true or false"}.get(kind.__name__, kind.__name__)
        raise ValueError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {expected}") from None
