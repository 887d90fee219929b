"""Photo-level k-fold cross-validation of condition fine-tuning, beside the parent model and the
type-prior baseline on the same folds.

A dozen held-out photos are too few to choose a method by; k folds over every labelled photo
hold each photo out once. Each fold fine-tunes the parent on the other folds' photos (into a
throwaway registry) and scores the parent, the fine-tuned model and the type prior on the fold.

    python -m training crossval --data ../shared/data/slope-conditions --folds 5 --method full --steps 300
"""

from __future__ import annotations

import json
import statistics
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from core.conditions import ConditionModel, card_crop_margin
from core.types import LabelledPhoto
from training.condition_data import DatasetSettings, build_condition_dataset, kfold_by_photo
from training.examples import evaluate_conditions
from training.finetune import FinetuneSettings, finetune_condition_model
from training.gate import baseline_report, type_prior_baseline, type_prior_confidence

WHO = ("baseline", "parent", "fine_tuned")


@dataclass(frozen=True)
class FoldResult:
    fold: int
    train_photos: int
    held_out_photos: int
    held_out_objects: int
    accuracy: dict[str, float]  # by WHO
    macro_f1: dict[str, float]


@dataclass(frozen=True)
class CrossValReport:
    data: str
    parent: str
    method: str
    folds: list[FoldResult]

    def summary(self) -> dict[str, dict[str, tuple[float, float]]]:
        """Mean and sample standard deviation over the folds, per metric and model."""
        return {
            metric: {
                who: (
                    statistics.mean(getattr(f, metric)[who] for f in self.folds),
                    statistics.stdev(getattr(f, metric)[who] for f in self.folds) if len(self.folds) > 1 else 0.0,
                )
                for who in WHO
            }
            for metric in ("accuracy", "macro_f1")
        }

    def markdown(self) -> str:
        lines = [
            f"{len(self.folds)}-fold cross-validation by photo on {self.data}; parent `{self.parent}`, "
            f"fine-tuning method `{self.method}`; real held-out objects of every photo once.",
            "",
            "| model | accuracy (mean ± std) | macro-F1 (mean ± std) |",
            "| --- | --- | --- |",
        ]
        summary = self.summary()
        for who in WHO:
            (a, sa), (f, sf) = summary["accuracy"][who], summary["macro_f1"][who]
            lines.append(f"| {who.replace('_', ' ')} | {a:.3f} ± {sa:.3f} | {f:.3f} ± {sf:.3f} |")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        return {**asdict(self), "summary": self.summary()}


def crossval_condition(
    photos: list[LabelledPhoto],
    parent: str,
    data: str,
    folds: int,
    finetune: FinetuneSettings,
    dataset: DatasetSettings | None = None,
    seed: int = 0,
    log=print,
) -> CrossValReport:
    margin = card_crop_margin(parent)
    dataset = dataset or DatasetSettings(crop_margin=margin, oversample=not finetune.use_class_weights)
    parent_model = ConditionModel(parent)
    results = []
    for k, (train_photos, held_out_photos) in enumerate(kfold_by_photo(photos, folds, seed)):
        fold_data = build_condition_dataset(photos, dataset, held_out_names={p.name for p in held_out_photos})
        with tempfile.TemporaryDirectory(prefix="crossval-") as registry:
            folder = finetune_condition_model(
                parent, fold_data.train, fold_data.held_out, finetune, registry=Path(registry)
            )
            tuned = evaluate_conditions(ConditionModel(str(folder)), fold_data.held_out)
        prior = type_prior_baseline(fold_data.train)
        base = baseline_report(prior, fold_data.held_out, type_prior_confidence(fold_data.train, prior))
        before = evaluate_conditions(parent_model, fold_data.held_out)
        result = FoldResult(
            k,
            len(train_photos),
            len(held_out_photos),
            len(fold_data.held_out),
            {"baseline": base.accuracy, "parent": before.accuracy, "fine_tuned": tuned.accuracy},
            {"baseline": base.macro_f1, "parent": before.macro_f1, "fine_tuned": tuned.macro_f1},
        )
        log(f"fold {k}: " + json.dumps({"accuracy": result.accuracy, "macro_f1": result.macro_f1}))
        results.append(result)
    return CrossValReport(data, parent_model.version, finetune.method, results)
