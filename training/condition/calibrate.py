"""Temperature scaling of a condition model's probabilities, fitted on held-out objects.

The served model was overconfident: on the 196 held-out objects of its own held-out photos it
said 0.9 where it was right about 0.6 of the time (ECE 0.26). Dividing its answer logits by one
temperature T before the softmax keeps every answer (the argmax) and makes the probabilities
mean what they say, which is what the app's confidences and its "uncertain" flag read.

T minimizes the negative log-likelihood of the true conditions. The ECE a card reports after
scaling is cross-fitted (T fitted on one half of the held-out photos, measured on the other,
both ways), never measured on the objects T was fitted on.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.conditions import ConditionModel, tempered_softmax
from core.model_card import CARD_FILE, read_card
from core.taxonomy import ALLOWED_CONDITIONS
from lifecycle.folders import default_registry, discard, new_version, now_iso, publish_candidate, staging_folder
from training.data.examples import ConditionExample, answer_scores, evaluate_conditions
from training.eval.metrics import expected_calibration_error

MIN_EXAMPLES = 30  # fewer held-out objects than this and the temperature is not fitted
# Searched on a log scale: a model can be too sure (T > 1) or too unsure (T < 1).
TEMPERATURES = np.exp(np.linspace(np.log(0.25), np.log(10.0), 241))


@dataclass(frozen=True)
class Calibration:
    temperature: float  # fitted on every held-out object: what the card records
    ece_before: float  # as trained (T = 1), on every held-out object
    ece_after: float  # cross-fitted: each half of the photos scaled by the T of the other half
    examples: int


CALIBRATED_ECE = "; ECE after temperature scaling, cross-fitted on two halves of these photos"


def calibrated_ece(calibration: Calibration) -> dict:
    """A card's calibration figures: its ECE is the calibrated one (what the app shows is scaled)."""
    return {"ece": round(calibration.ece_after, 4), "ece_uncalibrated": round(calibration.ece_before, 4)}


def calibrated_candidate(
    parent: str | Path, held_out: Sequence[ConditionExample], held_out_description: str, registry: Path | None = None
) -> tuple[Path, Calibration]:
    """The model in ``parent`` with its temperature fitted on ``held_out``, published as a new
    candidate (the same weights; the card's temperature, ECE and parent are new)."""
    parent = Path(parent)
    parent_card = read_card(parent)
    if parent_card is None or parent_card.kind != "condition":
        raise ValueError(f"{parent} is not a condition model folder made by this project (no condition card)")
    registry = Path(registry) if registry is not None else default_registry()
    model = ConditionModel(str(parent))
    calibration = calibrate(model, held_out, fallback=parent_card.temperature or 1.0)
    report = evaluate_conditions(model, held_out)  # the answers, which scaling does not change
    staging = staging_folder(registry, "condition")
    try:
        for file in parent.iterdir():
            if file.is_file() and file.name not in (CARD_FILE, "README.md"):
                shutil.copy2(file, staging / file.name)
        card = parent_card.replace(
            version=new_version("condition", "calibrated"),
            parent=parent_card.version,
            created=now_iso(),
            temperature=calibration.temperature,
            training=parent_card.training
            | {"calibration": f"temperature {calibration.temperature:.2f} fitted on {calibration.examples} objects"},
            metrics=report.card_metrics() | calibrated_ece(calibration),
            metrics_data=held_out_description + CALIBRATED_ECE,
        )
        card.write_readme(staging)
        return publish_candidate(staging, registry, card), calibration
    except BaseException:
        discard(staging)
        raise


def fit_temperature(scores: Sequence[np.ndarray], truth: Sequence[int]) -> float:
    """The temperature with the lowest negative log-likelihood of the true answers."""
    losses = [_nll(scores, truth, t) for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(losses))])


def calibrate(model: ConditionModel, held_out: Sequence[ConditionExample], fallback: float = 1.0) -> Calibration:
    """Fit the temperature on ``held_out`` and measure what it does (see the module docstring).
    With fewer than ``MIN_EXAMPLES`` a fitted temperature would be noise: ``fallback`` (e.g. the
    parent's) is kept and measured instead."""
    if not held_out:
        raise ValueError("calibration needs held-out examples")
    scores = answer_scores(model, held_out)
    truth = [ALLOWED_CONDITIONS[e.object_type].index(e.condition) for e in held_out]
    if len(scores) < MIN_EXAMPLES:
        kept = [fallback] * len(scores)
        return Calibration(fallback, _ece(scores, truth, [1.0] * len(scores)), _ece(scores, truth, kept), len(scores))
    # Examples from the dataset builder know their photo; any other is taken as its own photo.
    halves = _photo_halves([getattr(e, "photo", "") or f"#{i}" for i, e in enumerate(held_out)])
    scaled = [0.0] * len(scores)
    for fit_on, apply_to in ((halves[0], halves[1]), (halves[1], halves[0])):
        if not fit_on or not apply_to:  # one photo only: nothing to cross-fit on
            apply_to = range(len(scores))
            fit_on = apply_to
        t = fit_temperature([scores[i] for i in fit_on], [truth[i] for i in fit_on])
        for i in apply_to:
            scaled[i] = t
    return Calibration(
        temperature=fit_temperature(scores, truth),
        ece_before=_ece(scores, truth, [1.0] * len(scores)),
        ece_after=_ece(scores, truth, scaled),
        examples=len(scores),
    )


def _photo_halves(photos: Sequence[str]) -> tuple[list[int], list[int]]:
    """Example indices split by photo (every other photo in sorted order), so objects of one
    photo never sit on both sides."""
    names = sorted(set(photos))
    first = set(names[::2])
    return [i for i, p in enumerate(photos) if p in first], [i for i, p in enumerate(photos) if p not in first]


def _nll(scores: Sequence[np.ndarray], truth: Sequence[int], temperature: float) -> float:
    return -float(
        np.mean([np.log(tempered_softmax(s, temperature)[t] + 1e-12) for s, t in zip(scores, truth, strict=True)])
    )


def _ece(scores: Sequence[np.ndarray], truth: Sequence[int], temperatures: Sequence[float]) -> float:
    probabilities = [tempered_softmax(s, t) for s, t in zip(scores, temperatures, strict=True)]
    confidence = [float(p.max()) for p in probabilities]
    correct = [int(p.argmax()) == t for p, t in zip(probabilities, truth, strict=True)]
    return expected_calibration_error(confidence, correct)
