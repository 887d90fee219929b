"""How far ensembles of the condition baselines go, by photo-level cross-validation.

    python bench/condition_ensembles.py [--data ../shared/data/slope-conditions] [--folds 5]

The fine-tuned EfficientNet-Lite0 (``training/baselines/cnn.py``) is the best condition model
measured on the real condition photos and the Qwen2-VL's teacher. This fits, on each fold's
train photos (``slope train crossval``'s folds, seed 0), the probe and that CNN twice (seeds
0 and 1), averages their probabilities over the conditions in every combination and prints
accuracy / macro-F1 / normal-vs-problem on the fold's held-out photos, then the means over the
folds. About 15 min a fold on one core.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from core.settings import PROJECT_ROOT  # noqa: E402
from training.baselines.cnn import CnnSettings, FineTunedCnnBaseline  # noqa: E402
from training.baselines.probe import ProbeBaseline, probe_objects, report_from_probabilities  # noqa: E402
from training.data.condition_data import kfold_by_photo  # noqa: E402
from training.data.dataset import from_yolo_folder  # noqa: E402

CONDITIONS_DATA = PROJECT_ROOT.parent / "shared" / "data" / "slope-conditions"
MEMBERS = {
    "probe": ("probe",),
    "cnn seed 0": ("cnn0",),
    "cnn seed 1": ("cnn1",),
    "cnn seeds 0+1": ("cnn0", "cnn1"),
    "cnn seed 0 + probe": ("cnn0", "probe"),
    "cnn seeds 0+1 + probe": ("cnn0", "cnn1", "probe"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=CONDITIONS_DATA)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()

    torch.set_num_threads(1)  # as the README's figures were measured; thread counts change the arithmetic a little
    photos = from_yolo_folder(args.data)
    probe = ProbeBaseline()  # one backbone for every fold: its crop features are remembered
    scores: dict[str, list[tuple[float, float, float]]] = {name: [] for name in MEMBERS}
    for k, (train, held_out) in enumerate(kfold_by_photo(photos, args.folds, 0)):
        objects = list(probe_objects(held_out))
        answers = {
            "probe": probe.fit(train).probabilities(objects),
            **{
                f"cnn{seed}": FineTunedCnnBaseline(CnnSettings(seed=seed)).fit(train).probabilities(objects)
                for seed in (0, 1)
            },
        }
        for name, members in MEMBERS.items():
            mean = sum(answers[m] for m in members) / len(members)
            report = report_from_probabilities(objects, mean, model=name)
            scores[name].append((report.accuracy, report.macro_f1, report.normal_vs_problem))
        print(f"fold {k}: {len(objects)} objects", flush=True)
    print(f"\nMeans over {args.folds} folds by photo of {args.data} (held-out photos of each fold):\n")
    print("| Model | accuracy | macro-F1 | normal vs problem |")
    print("| --- | --- | --- | --- |")
    for name, rows in scores.items():
        means = [statistics.mean(row[i] for row in rows) for i in range(3)]
        print(f"| {name} | " + " | ".join(f"{m:.3f}" for m in means) + " |")


if __name__ == "__main__":
    main()
