"""Photo-level k-fold cross-validation of condition fine-tuning, beside the parent model, the
type-prior baseline, the EfficientNet-Lite0 probe and (asked for) the fine-tuned CNN on the
same folds.

A dozen held-out photos are too few to choose a method by; k folds over every labelled photo
hold each photo out once. Each fold fine-tunes the parent on the other folds' photos (into a
throwaway registry) and scores the parent, the fine-tuned model and both baselines on the fold.

    slope train crossval --data ../shared/data/slope-conditions --folds 5 --method full --steps 300
    slope train crossval --data ../shared/data/slope-conditions --steps 0   # baselines and parent only
    slope train crossval --data ../shared/data/slope-conditions --steps 0 --cnn-epochs 8  # + the CNN
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
import tempfile
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.conditions import ConditionModel, card_crop_margin
from core.types import LabelledPhoto
from training.baselines.cnn import CNN, CnnSettings, FineTunedCnnBaseline
from training.baselines.probe import ProbeBaseline
from training.baselines.type_prior import type_prior_report
from training.condition.build import ConditionTrainSettings, distil_photos, teach_candidate
from training.condition.finetune import finetune_condition_model
from training.condition.finetune_settings import FinetuneSettings
from training.data.condition_data import DatasetSettings, build_condition_dataset, kfold_by_photo
from training.data.examples import ConditionReport, evaluate_conditions

WHO = ("baseline", "probe", "cnn", "parent", "fine_tuned")
METRICS = ("accuracy", "macro_f1", "normal_vs_problem", "normal_recall", "blocked_recall", "damaged_recall")
TAUGHT = "build-condition's: taught by "  # how a report names the build recipe's method
MODEL_NAMES = {
    "baseline": "type prior",
    "probe": "EfficientNet-Lite0 probe",
    "cnn": "EfficientNet-Lite0 fine-tuned",
    "parent": "parent",
    "fine_tuned": "fine-tuned",
}


@dataclass(frozen=True)
class FoldResult:
    fold: int
    train_photos: int
    held_out_photos: int
    held_out_objects: int
    accuracy: dict[str, float]  # by WHO
    macro_f1: dict[str, float]
    normal_vs_problem: dict[str, float]
    normal_recall: dict[str, float]  # share of the truly normal objects answered normal
    blocked_recall: dict[str, float]
    damaged_recall: dict[str, float]


@dataclass(frozen=True)
class CrossValReport:
    data: str
    parent: str
    method: str
    folds: list[FoldResult]

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(who for who in WHO if self.folds and who in self.folds[0].accuracy)

    def summary(self) -> dict[str, dict[str, tuple[float, float]]]:
        """Mean and sample standard deviation over the folds, per metric and model."""
        return {
            metric: {who: _mean_std([getattr(f, metric)[who] for f in self.folds]) for who in self.models}
            for metric in METRICS
        }

    def markdown(self) -> str:
        lines = [
            f"{len(self.folds)}-fold cross-validation by photo on {self.data}; parent `{self.parent}`, "
            f"fine-tuning method `{self.method}`; real held-out objects of every photo once.",
            "",
            "| Model | accuracy | macro-F1 | normal vs problem | recall: normal | blocked | damaged |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        summary = self.summary()
        for who in self.models:
            cells = [f"{summary[metric][who][0]:.3f} ± {summary[metric][who][1]:.3f}" for metric in METRICS]
            lines.append(f"| {self._name(who)} | " + " | ".join(cells) + " |")
        lines += ["", "Mean ± standard deviation over the folds."]
        if "parent" in self.models:
            # Only the fine-tuned model and the baselines are fitted per fold; the parent is not.
            lines.append(
                "The parent is scored as it is: where its own training saw some of these photos (a shipped "
                "default was trained on most of them), its row is not a held-out figure."
            )
        return "\n".join(lines) + "\n"

    def _name(self, who: str) -> str:
        """The row's name; build-condition's recipe teaches rather than fine-tunes on labels."""
        if who == "fine_tuned" and self.method.startswith(TAUGHT):
            return "taught by the fine-tuned EfficientNet-Lite0"
        return MODEL_NAMES[who]

    def to_dict(self) -> dict:
        return {**asdict(self), "summary": self.summary()}

    @classmethod
    def joined(cls, parts: Sequence[dict]) -> CrossValReport:
        """One report from the ``to_dict`` of runs that each did some folds of the same
        cross-validation (``only_folds``, e.g. one process per fold on a GPU machine)."""
        if not parts or len({(p["data"], p["parent"], p["method"]) for p in parts}) != 1:
            raise ValueError("the parts are not folds of one cross-validation (data, parent and method differ)")
        folds = sorted((FoldResult(**fold) for part in parts for fold in part["folds"]), key=lambda f: f.fold)
        if len({f.fold for f in folds}) != len(folds):
            raise ValueError("a fold appears in more than one part")
        return cls(parts[0]["data"], parts[0]["parent"], parts[0]["method"], folds)


def crossval_condition(
    photos: list[LabelledPhoto],
    parent: str,
    data: str,
    folds: int,
    finetune: FinetuneSettings | None,
    dataset: DatasetSettings | None = None,
    seed: int = 0,
    log: Callable[[str], Any] = print,
    cnn: CnnSettings | None = None,
    teach: ConditionTrainSettings | None = None,
    keep_models: Path | None = None,
    only_folds: Collection[int] | None = None,
) -> CrossValReport:
    """``finetune`` None: no fine-tuning, the parent and the baselines only; ``cnn`` None: no
    fine-tuned CNN baseline (it trains a network per fold: minutes each on 2 cores). ``teach``:
    build-condition's recipe instead of ``finetune`` (a teacher fitted per fold on its train
    photos; the views also come from ``teach.distil_data``'s photos without condition labels).
    ``keep_models``: each fold's model is kept there as ``fold-K`` (to measure serving choices on
    the photos it never saw without training it again) rather than deleted. ``only_folds``: run
    these folds (numbered from 0) of the same split and skip the others (``CrossValReport.joined``
    puts the parts together)."""
    pool = distil_photos(teach.distil_data, photos) if teach is not None else []
    margin = card_crop_margin(parent)
    oversample = finetune is None or not finetune.use_class_weights
    dataset = dataset or DatasetSettings(crop_margin=margin, oversample=oversample)
    parent_model = ConditionModel(parent)
    probe = ProbeBaseline()  # one backbone for every fold: its crop features are remembered
    results = []
    for k, (train_photos, held_out_photos) in enumerate(kfold_by_photo(photos, folds, seed)):
        if only_folds is not None and k not in only_folds:
            continue
        fold_data = build_condition_dataset(photos, dataset, held_out_names={p.name for p in held_out_photos})
        reports = {
            "baseline": type_prior_report(fold_data.train, fold_data.held_out),
            "probe": probe.fit(train_photos).report(held_out_photos),
            **({"cnn": FineTunedCnnBaseline(cnn).fit(train_photos).report(held_out_photos)} if cnn else {}),
            "parent": evaluate_conditions(parent_model, fold_data.held_out),
        }
        if finetune is not None or teach is not None:
            with tempfile.TemporaryDirectory(prefix="crossval-") as registry:
                if teach is not None:
                    folder = teach_candidate(
                        Path(parent), train_photos, pool, fold_data.held_out, teach, Path(registry), log
                    )
                else:
                    folder = finetune_condition_model(
                        parent, fold_data.train, fold_data.held_out, finetune, registry=Path(registry)
                    )
                reports["fine_tuned"] = evaluate_conditions(ConditionModel(str(folder)), fold_data.held_out)
                if keep_models is not None:
                    keep_models.mkdir(parents=True, exist_ok=True)
                    shutil.move(folder, keep_models / f"fold-{k}")
        result = FoldResult(
            k,
            len(train_photos),
            len(held_out_photos),
            len(fold_data.held_out),
            {who: r.accuracy for who, r in reports.items()},
            {who: r.macro_f1 for who, r in reports.items()},
            {who: r.normal_vs_problem for who, r in reports.items()},
            {who: _recall(r, "normal") for who, r in reports.items()},
            {who: _recall(r, "blocked") for who, r in reports.items()},
            {who: _recall(r, "damaged") for who, r in reports.items()},
        )
        log(f"fold {k}: " + json.dumps({"accuracy": result.accuracy, "macro_f1": result.macro_f1}))
        results.append(result)
    if teach is not None:
        method = f"{TAUGHT}{CNN} ({teach.steps} steps, {teach.views} views per object)"
    else:
        method = "none" if finetune is None else finetune.method + _vision_rate(finetune.vision_lr_scale)
    return CrossValReport(data, parent_model.version, method, results)


def _vision_rate(scale: float) -> str:
    if scale == 1.0:
        return ""
    return ", vision tower frozen" if scale == 0.0 else f", vision tower at {scale:g}x the learning rate"


def _mean_std(values: list[float]) -> tuple[float, float]:
    """Over the folds that measured it (a fold without a blocked object has no blocked recall)."""
    measured = [v for v in values if not math.isnan(v)]
    if not measured:
        return math.nan, math.nan
    return statistics.mean(measured), statistics.stdev(measured) if len(measured) > 1 else 0.0


def _recall(report: ConditionReport, condition: str) -> float:
    found = report.per_condition.get(condition)
    return found.accuracy if found is not None else float("nan")
