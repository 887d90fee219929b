"""The improvement loop's wall time on this machine, from reviewed labels to a served model.

    python bench/training.py [--objects 500] [--method full] [--steps 300]

A fresh store gets real photos with real condition labels (``../shared/data/slope-conditions``)
until about ``--objects`` reviewed objects have a condition; then, timed one after the other as
the job runs them: building the dataset (split by photo, crops), fine-tuning the shipped
condition model, the gate (candidate and served on the held-out objects, type prior beside), int8
quantization (with its retention measurement), and the promotion. Prints each phase and the total.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.offline import prepare_offline  # noqa: E402

prepare_offline()

from core.conditions import ConditionModel  # noqa: E402
from core.model_card import read_card  # noqa: E402
from core.settings import PROJECT_ROOT, Settings  # noqa: E402
from lifecycle.server import ModelServer, register_configured_models  # noqa: E402
from storage import registry  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.formats.yolo_import import import_yolo_folder  # noqa: E402
from training.condition.finetune import finetune_condition_model  # noqa: E402
from training.condition.finetune_settings import FinetuneSettings  # noqa: E402
from training.condition.quantize import quantize_candidate  # noqa: E402
from training.data.condition_data import DatasetSettings, build_condition_dataset  # noqa: E402
from training.data.dataset import from_database  # noqa: E402
from training.eval.gate import gate  # noqa: E402

CONDITIONS = PROJECT_ROOT.parent / "shared" / "data" / "slope-conditions"


def subset(folder: Path, objects: int) -> int:
    """A YOLO folder with the first photos of the train split holding about ``objects`` objects."""
    (folder / "train" / "images").mkdir(parents=True)
    (folder / "train" / "labels").mkdir(parents=True)
    (folder / "data.yaml").write_text((CONDITIONS / "data.yaml").read_text())
    total = 0
    for image in sorted((CONDITIONS / "train" / "images").iterdir()):
        if total >= objects:
            break
        label = CONDITIONS / "train" / "labels" / f"{image.stem}.txt"
        rows = [r for r in label.read_text().splitlines() if r.strip() and not r.startswith("8 ")]  # 8: vegetation
        (folder / "train" / "images" / image.name).write_bytes(image.read_bytes())
        (folder / "train" / "labels" / label.name).write_text(label.read_text())
        total += len(rows)
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=500)
    parser.add_argument("--method", choices=("lora", "full"), default="full")
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-training-"))
    settings = Settings(data_dir=str(work / "data"))
    db = Database.from_settings(settings)
    register_configured_models(db, settings)
    objects = subset(work / "labels", args.objects)
    import_yolo_folder(db, settings.data_dir, work / "labels")
    served = ModelServer(settings, db).served().condition
    print(
        f"machine: {os.cpu_count()} CPUs; {objects} reviewed objects with a condition; "
        f"parent {read_card(served).version}"
    )

    phases: dict[str, float] = {}
    started = time.perf_counter()
    clock = time.perf_counter()
    dataset = build_condition_dataset(from_database(db, settings.data_dir), DatasetSettings(oversample=False))
    phases["dataset (split by photo, crops)"] = time.perf_counter() - clock
    clock = time.perf_counter()
    folder = finetune_condition_model(
        served, dataset.train, dataset.held_out, FinetuneSettings(method=args.method, steps=args.steps)
    )
    phases[f"fine-tune ({args.method}, {args.steps} steps, evaluations included)"] = time.perf_counter() - clock
    clock = time.perf_counter()
    candidate = read_card(folder)
    registry.record_version(db, candidate, folder)
    decision = gate(ConditionModel(str(folder)), ConditionModel(served), dataset.held_out, dataset.train)
    phases["gate (candidate and served on the held-out objects)"] = time.perf_counter() - clock
    clock = time.perf_counter()
    if decision.passed:
        registry.serve(db, "condition", candidate.version, "bench", "passed the gate")
    phases["promotion"] = time.perf_counter() - clock
    clock = time.perf_counter()
    quantized = quantize_candidate(folder, "int8", dataset.held_out, "held-out objects", registry=work / "q")
    phases["int8 quantization (and its retention measurement)"] = time.perf_counter() - clock
    total = time.perf_counter() - started

    print(f"train {len(dataset.train)} examples, held-out {len(dataset.held_out)} objects")
    for name, seconds in phases.items():
        print(f"{name:<60} {seconds:7.1f} s")
    print(f"{'start to served (without quantization)':<60} {total - phases[list(phases)[-1]]:7.1f} s")
    print(f"{'total':<60} {total:7.1f} s   (target: start to served <= 600 s)")
    print(decision.reasons[0])
    print(f"int8 retention {quantized.retention:.4f}")


if __name__ == "__main__":
    main()
