"""The gate: may a candidate model replace the served one? Pure: the caller scores the models on
the same held-out photos (``training.eval.gate``) and gives the figures and a way to score any
resample of those photos; this module decides and says why, in words a maintainer reads.

Three questions, in this order; the first that fails decides:

1. Is there enough evidence? Held-out minimums (``GateRule``): photos, and for a condition model
   objects of each condition and of each object type. Below them the verdict is "too few to
   judge" and nothing is promoted: one object is 100% of an accuracy.
2. Does the candidate beat the free baseline? For a condition model, the type prior (the most
   common condition per type, no pixel seen): a candidate not above it learned the skew.
3. Is it better than the served model beyond chance? A paired bootstrap over the held-out photos
   of candidate minus served on the gate metric: it passes only when the lower end of the
   interval is above ``margin``. A candidate identical to the served model (a difference of 0
   on every resample) never passes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

CONDITION_METRICS = ("macro_f1", "accuracy")  # higher is better for both
DETECTOR_METRIC = "map50"
METRIC_WORDS = {"macro_f1": "macro-F1", "accuracy": "accuracy", "map50": "mAP@0.5"}
PASSED, FAILED, TOO_FEW = "passed", "failed", "too few to judge"


@dataclass(frozen=True)
class GateRule:
    """How sure the gate must be. The defaults are the team's; a site may ask for more."""

    metric: str = field(default="macro_f1", metadata={"help": "Condition gate's metric: macro_f1 or accuracy."})
    margin: float = field(
        default=0.0,
        metadata={"help": "The lower end of the interval of candidate minus served must be above this (0 to 1)."},
    )
    min_photos: int = field(default=10, metadata={"help": "Held-out photos needed to judge at all."})
    min_per_condition: int = field(
        default=10, metadata={"help": "Held-out objects needed of each condition (normal, blocked, damaged)."}
    )
    min_per_type: int = field(
        default=10, metadata={"help": "Held-out objects needed of each object type that has a choice of condition."}
    )
    folds: int = field(
        default=5,
        metadata={"help": "Below the minimums on one split, the photos are judged by this many folds (0: never)."},
    )
    resamples: int = field(default=1000, metadata={"help": "Bootstrap resamples of the held-out photos."})
    confidence: float = field(default=0.95, metadata={"help": "Confidence of the bootstrap interval."})
    resample_seed: int = field(
        default=0, metadata={"help": "Seed of the resampling (the same photos, the same verdict)."}
    )

    def __post_init__(self) -> None:
        if self.metric not in (*CONDITION_METRICS, DETECTOR_METRIC):
            raise ValueError(f"metric must be one of {', '.join((*CONDITION_METRICS, DETECTOR_METRIC))}")
        if isinstance(self.margin, bool) or not (isinstance(self.margin, int | float) and 0 <= self.margin < 1):
            raise ValueError(f"margin must be a number from 0 to below 1, got {self.margin!r}")
        for name in ("min_photos", "min_per_condition", "min_per_type", "folds", "resamples", "resample_seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number of 0 or more, got {value!r}")
        if self.folds == 1 or self.resamples < 100:
            raise ValueError("folds must be 0 or at least 2, and resamples at least 100")
        if not 0.5 <= self.confidence < 1:
            raise ValueError(f"confidence must be from 0.5 to below 1, got {self.confidence!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Evidence:
    """What the models were compared on."""

    description: str  # "196 held-out real objects on 48 photos (5 folds by photo)"
    photos: int
    per_condition: dict[str, int] = field(default_factory=dict)  # condition models only
    per_type: dict[str, int] = field(default_factory=dict)

    def shortfalls(self, rule: GateRule) -> list[str]:
        """Each minimum not met, as 'blocked: 3 of 10'."""
        short = [] if self.photos >= rule.min_photos else [f"photos: {self.photos} of {rule.min_photos}"]
        for counts, minimum in ((self.per_condition, rule.min_per_condition), (self.per_type, rule.min_per_type)):
            short += [f"{name.replace('_', ' ')}: {n} of {minimum}" for name, n in counts.items() if n < minimum]
        return short


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def words(self) -> str:
        return f"{self.low:+.3f} to {self.high:+.3f}"


@dataclass(frozen=True)
class GateDecision:
    verdict: str  # PASSED, FAILED or TOO_FEW
    metric: str
    candidate: float
    served: float
    baseline: float | None  # the type prior's (condition models)
    interval: Interval | None  # of candidate minus served; None when not measured
    evidence: Evidence
    rule: GateRule
    reasons: list[str]  # the verdict first, in words

    @property
    def passed(self) -> bool:
        return self.verdict == PASSED

    def report(self) -> str:
        return "\n".join(self.reasons)

    def to_dict(self) -> dict:
        return asdict(self) | {"passed": self.passed}


def bootstrap(
    photos: int, difference: Callable[[np.ndarray], float], resamples: int, confidence: float, seed: int
) -> Interval:
    """The percentile interval of ``difference`` (candidate minus served, scored on the photos at
    the given indices) over resamples of the photos with replacement. Paired: both models are
    scored on the same resample, so what the photos have in common cancels out."""
    rng = np.random.default_rng(seed)
    values = np.array([difference(rng.integers(0, photos, photos)) for _ in range(resamples)], float)
    values = values[np.isfinite(values)]
    if not len(values):
        return Interval(math.nan, math.nan)
    tail = (1 - confidence) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return Interval(float(low), float(high))


def decide(
    rule: GateRule,
    evidence: Evidence,
    candidate: float,
    served: float,
    difference: Callable[[np.ndarray], float],
    baseline: float | None = None,
    baseline_name: str = "",
    details: list[str] | None = None,
) -> GateDecision:
    """The verdict on figures measured on ``evidence``. ``difference(photo_indices)``: candidate
    minus served on a resample of the held-out photos (called only when the evidence suffices).
    ``baseline``: the type prior's figure, which the candidate must beat; ``details``: more
    lines for the report (per condition, say)."""
    word = METRIC_WORDS[rule.metric]
    figures = f"candidate {candidate:.3f}, served {served:.3f}" + (
        f", {baseline_name} {baseline:.3f}" if baseline is not None else ""
    )
    where = f"on {evidence.description}"

    def decision(verdict: str, first: str, interval: Interval | None = None) -> GateDecision:
        lines = [first, f"{word[0].upper()}{word[1:]} {where}: {figures}.", *(details or [])]
        return GateDecision(verdict, rule.metric, candidate, served, baseline, interval, evidence, rule, lines)

    short = evidence.shortfalls(rule)
    if short:
        return decision(
            TOO_FEW,
            "Too few to judge, not served: the held-out photos fall short of the gate's minimums ("
            + ", ".join(short)
            + "). Review more photos, then train again.",
        )
    if not (math.isfinite(candidate) and math.isfinite(served)):
        return decision(FAILED, f"Failed: the {word} of a model could not be measured {where}.")
    if baseline is not None and not candidate > baseline:
        return decision(
            FAILED,
            f"Failed: the candidate's {word} ({candidate:.3f}) is not above the {baseline_name}'s "
            f"({baseline:.3f}), which looks at no pixel.",
        )
    interval = bootstrap(evidence.photos, difference, rule.resamples, rule.confidence, rule.resample_seed)
    spread = (
        f"candidate minus served, {rule.confidence:.0%} interval over {rule.resamples} resamples of the "
        f"{evidence.photos} photos: {interval.words()}"
    )
    if interval.low > rule.margin:
        return decision(PASSED, f"Passed: better than the served model beyond chance ({spread}).", interval)
    needed = "above 0" if rule.margin == 0 else f"above {rule.margin:+.3f}"
    return decision(
        FAILED, f"Failed: not shown better than the served model ({spread}; its lower end must be {needed}).", interval
    )
