"""The default models trained on a GPU machine, as jobs that run side by side in one lease.

    python bench/gpu_train.py detector --imgsz 640 --minutes 6 --out DIR
    python bench/gpu_train.py condition-fold --fold K --out FILE [--steps N --views N --batch N]
    python bench/gpu_train.py condition-build --out DIR [--steps N --views N --batch N]
    python bench/gpu_train.py report RESULTS_DIR          # here, after the run: the tables
    python bench/gpu_train.py compare-detectors FOLDER ...  # here: val mAP and CPU latency vs shipped

A lent GPU machine has minutes, not hours, so every job is bounded in advance and they run at
once (``bench/gpu_run.sh`` starts them and packs what comes back):
- ``detector``: the EfficientNet-Lite0 detector from its ImageNet backbone (neck and head from
  scratch), ultralytics' default augmentation, on a wall-clock schedule (ultralytics' time mode
  fits the epochs and the learning rate to ``--minutes``), keeping the LAST epoch: the schedule
  is fixed in advance and val chooses nothing. ``slope train build-detector --from-run DIR
  --weights last.pt`` then publishes it here, measured on val and exported to ONNX on the CPU.
- ``condition-fold``: one fold of ``slope train crossval --recipe build`` (the shipped model's
  recipe, the teacher and the Qwen2-VL trained on the GPU) with the type prior, the probe and the
  fine-tuned CNN (the teacher alone) on the same fold; ``report`` joins the folds.
- ``condition-build``: ``slope train build-condition`` from a distilled parent with the same
  settings: the model that ships if the folds say so.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.offline import prepare_offline  # noqa: E402

prepare_offline()

from training.condition.build import CONDITION_DATA, ConditionTrainSettings, condition_recipe  # noqa: E402
from training.data.dataset import DEFAULT_DATA, from_yolo_folder  # noqa: E402

# The condition jobs' defaults: what the shipped condition model was taught with (its card).
SHIPPED_TEACHING = {"steps": 1500, "views": 16, "batch_size": 32}


def _without_polars() -> None:
    """The GPU machine's image has no polars, which ultralytics imports only to copy results.csv
    into every checkpoint it saves; there the copy is read with the csv module instead."""
    try:
        import polars  # noqa: F401
    except ImportError:
        from ultralytics.engine.trainer import BaseTrainer

        from training.detector.build import results_columns

        BaseTrainer.read_results_csv = lambda trainer: results_columns(trainer.csv)


def detector(args: argparse.Namespace) -> None:
    from training.detector.build import DetectorTrainSettings, train_run

    _without_polars()
    settings = DetectorTrainSettings(
        data_dir=args.data,
        architecture="efficientnet-lite0",
        hours=args.minutes / 60,
        epochs=args.epochs,
        imgsz=args.imgsz,
        batch=args.batch,
        workers=args.workers,
        device=args.device,
    )
    work = Path(tempfile.mkdtemp(prefix="detector-"))
    run, _ = train_run(work, settings)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "weights").mkdir(exist_ok=True)
    shutil.copyfile(run / "weights" / "last.pt", args.out / "weights" / "last.pt")
    for name in ("results.csv", "args.yaml"):
        shutil.copyfile(run / name, args.out / name)


def teach_settings(args: argparse.Namespace) -> ConditionTrainSettings:
    return ConditionTrainSettings(
        data_dir=args.data,
        distil_data=args.distil_data,
        registry=args.registry,
        steps=args.steps,
        batch_size=args.batch,
        views=args.views,
        learning_rate=args.learning_rate,
        cnn_epochs=args.cnn_epochs,
        device=args.device,
        distilled=args.parent,
    )


def condition_fold(args: argparse.Namespace) -> None:
    from training.baselines.cnn import CnnSettings
    from training.eval.crossval import crossval_condition

    teach = teach_settings(args)
    report = crossval_condition(
        from_yolo_folder(args.data),
        str(args.parent),
        f"imported YOLO folder {args.data.name} (real photos, human boxes)",
        args.folds,
        None,
        condition_recipe(teach)[0],
        log=lambda line: print(line, file=sys.stderr, flush=True),
        cnn=CnnSettings(epochs=teach.cnn_epochs, device=args.device),
        teach=teach,
        only_folds={args.fold},
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report.to_dict(), indent=1))


def condition_build(args: argparse.Namespace) -> None:
    from training.condition.build import train_condition_model

    args.registry = args.out
    folder = train_condition_model(teach_settings(args), log=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"built {folder}")


def report(args: argparse.Namespace) -> None:
    """The folds joined into one cross-validation table, and each detector run's last epoch."""
    from training.detector.build import training_history
    from training.eval.crossval import CrossValReport

    parts = [json.loads(path.read_text()) for path in sorted(args.results.glob("condition-fold-*.json"))]
    if parts:
        print(CrossValReport.joined(parts).markdown())
    for run in sorted(args.results.glob("detector-*")):
        history = training_history(run / "results.csv")
        if history:
            last, best = history[-1], max(history, key=lambda h: h["map50"])
            print(
                f"{run.name}: {last['epoch']} epochs; ultralytics' val mAP@0.5 at the last epoch "
                f"{last['map50']:.3f} (best epoch {best['epoch']}: {best['map50']:.3f})"
            )


def compare_detectors(args: argparse.Namespace) -> None:
    """Each candidate folder beside the shipped detector on the val photos: mAP@0.5 (the
    project's one method, the served path) and the median CPU time of one photo's detection
    (ONNX where the folder has it, as served), with the ratio to the shipped one."""
    import statistics
    import time

    import torch

    from core.detector import Detector
    from core.images import load_image
    from core.settings import MODELS_DIR
    from training.eval.evaluate import evaluate_detector

    torch.set_num_threads(args.threads)
    photos = from_yolo_folder(args.data, "val")
    rows = []
    for folder in [MODELS_DIR / "detector", *args.folders]:
        detector = Detector(folder)
        report = evaluate_detector(detector, photos)
        images = [load_image(p.path) for p in photos]
        detector.detect(images[0])  # warm-up
        seconds = []
        for image in images:
            started = time.perf_counter()
            detector.detect(image)
            seconds.append(time.perf_counter() - started)
        rows.append((folder, detector.imgsz, report.map50, 1000 * statistics.median(seconds)))
    shipped = rows[0]
    print(f"| detector | input px | val mAP@0.5 | CPU ms per photo ({args.threads} threads) | latency vs shipped |")
    print("| --- | --- | --- | --- | --- |")
    for folder, size, map50, ms in rows:
        print(f"| {folder.name} | {size} | {map50:.3f} | {ms:.1f} | {ms / shipped[3]:.2f}x |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    det = commands.add_parser("detector", help="train the detector on a wall-clock schedule, keep the last epoch")
    det.add_argument("--data", type=Path, default=DEFAULT_DATA)
    det.add_argument("--imgsz", type=int, default=640)
    det.add_argument("--minutes", type=float, default=6.0)
    det.add_argument("--epochs", type=int, default=300, help="cap on the epochs the time mode may plan")
    det.add_argument("--batch", type=int, default=32)
    det.add_argument("--workers", type=int, default=3)
    det.add_argument("--device", default="0")
    det.add_argument("--out", type=Path, required=True)
    det.set_defaults(run=detector)
    for name, run, help_text in (
        ("condition-fold", condition_fold, "one fold of the build recipe's cross-validation"),
        ("condition-build", condition_build, "build-condition from a distilled parent"),
    ):
        cond = commands.add_parser(name, help=help_text)
        cond.add_argument("--data", type=Path, default=CONDITION_DATA)
        cond.add_argument("--distil-data", type=Path, default=DEFAULT_DATA)
        cond.add_argument("--parent", type=Path, required=True, help="a distilled condition model folder")
        cond.add_argument("--steps", type=int, default=SHIPPED_TEACHING["steps"])
        cond.add_argument("--views", type=int, default=SHIPPED_TEACHING["views"])
        cond.add_argument("--batch", type=int, default=SHIPPED_TEACHING["batch_size"])
        cond.add_argument("--learning-rate", type=float, default=1e-3)
        cond.add_argument("--cnn-epochs", type=int, default=8, help="the teacher's epochs (the shipped recipe's 8)")
        cond.add_argument("--device", default="cuda")
        cond.add_argument("--out", type=Path, required=True)
        cond.set_defaults(run=run, registry=None)
        if name == "condition-fold":
            cond.add_argument("--fold", type=int, required=True)
            cond.add_argument("--folds", type=int, default=5)
    cmp = commands.add_parser("compare-detectors", help="candidate detectors beside the shipped one on val")
    cmp.add_argument("folders", type=Path, nargs="+", help="published detector folders (model.onnx, card.json)")
    cmp.add_argument("--data", type=Path, default=DEFAULT_DATA)
    cmp.add_argument("--threads", type=int, default=2, help="CPU threads, as on the 2-core machine")
    cmp.set_defaults(run=compare_detectors)
    rep = commands.add_parser("report", help="the tables of a run's results folder")
    rep.add_argument("results", type=Path)
    rep.set_defaults(run=report)
    args = parser.parse_args(argv)
    args.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
