"""What a training job is asked to do: one typed record, the only place its defaults live. The
app's Train tab, ``slope train finetune|quantize`` and the job itself read the same fields; the
run row keeps it as JSON (``to_dict``) and the job's process reads it back (``from_dict``).

The model settings themselves stay in their dataclasses (``FinetuneSettings``,
``DatasetSettings``, ``DetectorTrainSettings``): a spec carries only the fields a person gave,
checked against those dataclasses when the spec is made, and the job builds its settings from
them over what it learns as it runs (the served model's crop margin, the exported data). So no
dataclass default is repeated here; the only defaults of its own are the short detector
fine-tune of a job (``DETECTOR_JOB``)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from lifecycle.gate import DETECTOR_METRIC, GateRule

if TYPE_CHECKING:  # the settings modules import numpy, PIL, cv2: loaded when a spec has settings
    from training.condition.finetune_settings import FinetuneSettings
    from training.data.condition_data import DatasetSettings

JOB_KINDS = ("condition", "detector", "quantize")
QUANTIZATIONS = ("int8", "nf4")
# The detector's fine-tune as a job (the Train tab, ``slope train finetune --kind detector``): short
# by default, so a reviewer sees a result today. Every other DetectorTrainSettings default stands.
DETECTOR_JOB: dict[str, Any] = {"hours": 0.25, "epochs": 30}
# The DetectorTrainSettings fields a job may be given; the data, the weights it starts from and
# the registry are the job's own.
DETECTOR_FIELDS = ("hours", "epochs", "imgsz", "batch", "workers")


@dataclass(frozen=True)
class JobSpec:
    kind: str  # condition (fine-tune the condition model), detector (fine-tune the detector) or quantize
    data: str = "db"  # "db": the store's reviewed labels; or a YOLO folder with 9-class labels
    # Serve the candidate when the gate passes it. Off by default: promotion is a person's
    # decision (the Train tab's confirmation); a site may ask its jobs to promote.
    promote: bool = False
    gate: dict[str, Any] = field(default_factory=dict)  # GateRule fields given (margin, minimums...)
    finetune: dict[str, Any] = field(default_factory=dict)  # FinetuneSettings fields given
    dataset: dict[str, Any] = field(default_factory=dict)  # DatasetSettings fields given
    detector: dict[str, Any] = field(default_factory=dict)  # DetectorTrainSettings fields given (DETECTOR_FIELDS)
    version: str | None = None  # quantize: the condition version to quantize (None: the served one)
    quantization: str = "int8"
    min_retention: float | None = None  # quantize: accuracy kept to be servable (None: the quantizer's own)

    def __post_init__(self) -> None:
        if self.kind not in JOB_KINDS:
            raise ValueError(f"unknown job kind {self.kind!r}; choose one of {', '.join(JOB_KINDS)}")
        self.gate_rule()  # a bad margin or minimum is refused now
        if self.quantization not in QUANTIZATIONS:
            raise ValueError(f"quantization must be one of {', '.join(QUANTIZATIONS)}, got {self.quantization!r}")
        unknown = sorted(set(self.detector) - set(DETECTOR_FIELDS))
        if unknown:
            raise ValueError(f"a detector job takes {', '.join(DETECTOR_FIELDS)}, not {', '.join(unknown)}")
        hours = self.detector_settings()["hours"]
        if isinstance(hours, bool) or not (isinstance(hours, int | float) and math.isfinite(hours) and hours > 0):
            raise ValueError(f"hours must be a positive number, got {hours!r}")
        # Made once now, so a bad value is refused when the job is asked for, not minutes into it.
        if self.finetune:
            self.finetune_settings()
        if self.dataset:
            self.dataset_settings()

    def gate_rule(self) -> GateRule:
        """The gate's rule: the fields given over the team's defaults; a detector is judged on mAP@0.5."""
        values = {**self.gate, **({"metric": DETECTOR_METRIC} if self.kind == "detector" else {})}
        return _made(GateRule, values)

    def detector_settings(self) -> dict[str, Any]:
        """The DetectorTrainSettings fields this job sets: a job's short defaults, then what was given."""
        return {**DETECTOR_JOB, **self.detector}

    def finetune_settings(self, **run_time: Any) -> FinetuneSettings:
        """``run_time`` (what the job learns as it runs) under the fields given."""
        from training.condition.finetune_settings import FinetuneSettings

        return _made(FinetuneSettings, {**run_time, **self.finetune})

    def dataset_settings(self, **run_time: Any) -> DatasetSettings:
        """``run_time`` (the served model's crop margin...) under the fields given."""
        from training.data.condition_data import DatasetSettings

        return _made(DatasetSettings, {**run_time, **self.dataset})

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


def _made(settings_class: type, values: dict[str, Any]):
    """The settings dataclass made of ``values``; a field it does not have is a ValueError too
    (what the Train tab and the CLI show as a refusal), naming the field."""
    unknown = sorted(set(values) - {f.name for f in fields(settings_class)})
    if unknown:
        raise ValueError(f"{settings_class.__name__} has no field {', '.join(unknown)}")
    return settings_class(**values)
