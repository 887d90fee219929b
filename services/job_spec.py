"""What a training job is asked to do: one typed record, the only place its defaults live. The
app's Train tab, ``slope train finetune|quantize`` and the job itself read the same fields; the
run row keeps it as JSON (``to_dict``) and the job's process reads it back (``from_dict``).

The model settings themselves stay in their dataclasses (``FinetuneSettings``,
``DatasetSettings``): a spec carries only the fields a person gave, so their defaults are
never repeated here."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from lifecycle.gate import METRICS

JOB_KINDS = ("condition", "detector", "quantize")
QUANTIZATIONS = ("int8", "nf4")


@dataclass(frozen=True)
class JobSpec:
    kind: str  # condition (fine-tune the condition model), detector (fine-tune the detector) or quantize
    data: str = "db"  # "db": the store's reviewed labels; or a YOLO folder with 9-class labels
    promote: bool = True  # serve the candidate when the gate passes it
    margin: float = 0.0  # the candidate may be at most this much worse than the served model (negative: must beat it)
    metric: str = "macro_f1"  # the condition gate's metric
    finetune: dict[str, Any] = field(default_factory=dict)  # FinetuneSettings fields given
    dataset: dict[str, Any] = field(default_factory=dict)  # DatasetSettings fields given
    # The detector's fine-tune from the Train tab: short by default, so a reviewer sees a result today.
    hours: float = 0.25
    epochs: int = 30
    imgsz: int = 320
    batch: int = 16
    workers: int = 2
    version: str | None = None  # quantize: the condition version to quantize (None: the served one)
    quantization: str = "int8"
    min_retention: float | None = None  # quantize: accuracy kept to be servable (None: the quantizer's own)

    def __post_init__(self) -> None:
        if self.kind not in JOB_KINDS:
            raise ValueError(f"unknown job kind {self.kind!r}; choose one of {', '.join(JOB_KINDS)}")
        if not math.isfinite(self.margin):
            raise ValueError(f"margin must be a finite number, got {self.margin!r}")
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {self.metric!r}")
        if self.quantization not in QUANTIZATIONS:
            raise ValueError(f"quantization must be one of {', '.join(QUANTIZATIONS)}, got {self.quantization!r}")
        if not (math.isfinite(self.hours) and self.hours > 0):
            raise ValueError(f"hours must be a positive number, got {self.hours!r}")

    def to_dict(self) -> dict[str, Any]:
        """The fields but ``kind`` (the run row has its own column for it)."""
        return {k: v for k, v in asdict(self).items() if k != "kind"}

    @classmethod
    def from_dict(cls, kind: str, values: dict[str, Any]) -> JobSpec:
        """Read back a run row's settings; a field this version does not know is an error."""
        known = {f.name for f in fields(cls)} - {"kind"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"the job's settings have unknown fields: {', '.join(unknown)}")
        return cls(kind=kind, **values)
