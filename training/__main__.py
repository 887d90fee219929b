"""Command line for building, analysing and evaluating models. Each command parses its
arguments and calls the library; nothing here computes a figure. The commands, with their
main options (``python -m training COMMAND --help`` lists them all):

python -m training build-detector [--architecture efficientnet-lite0|yolo11n|YAML] [--hours H] [--epochs N]
    [--init-from WEIGHTS] [--registry DIR] [--resume RUN | --from-run RUN]
python -m training build-condition [--steps N] [--distil-steps N] [--distilled DIR | --keep-distilled DIR]
    [--registry DIR]
python -m training analyze --data ../shared/data/slopes --out reports/analysis
python -m training evaluate --data ../shared/data/slopes --split val --out reports/eval [--json]
python -m training finetune [--kind condition|detector] [--method lora|full] [--steps N] [--hours H]
    [--data db|FOLDER (conditions)] [--margin M] [--promote] [--json]
python -m training quantize VERSION int8|nf4 [--promote] [--json]
python -m training calibrate FOLDER [--data DIR] [--registry DIR]
python -m training promote VERSION | rollback [--kind K] | status [--json]
python -m training crossval --data ../shared/data/slope-conditions [--folds 5] [--method lora|full] [--steps N]
    [--recipe finetune|build] [--vision-lr-scale S] [--cnn-epochs N] [--views N] [--distil-data DIR]
    [--parent DIR] [--keep-models DIR] [--out DIR] [--attach-to FOLDER]
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.pipeline import Inspector

REGISTRY_HELP = "model registry to write the candidate into (default: the data directory's, SLOPE_DATA_DIR)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training")
    commands = parser.add_subparsers(dest="command", required=True)

    det = commands.add_parser("build-detector", help="train a YOLO detector into a new candidate folder")
    det.add_argument("--data", type=Path, default=None, help="YOLO folder with data.yaml")
    det.add_argument("--registry", type=Path, default=None, help=REGISTRY_HELP)
    det.add_argument("--hours", type=float, default=1.0, help="wall-clock budget")
    det.add_argument("--epochs", type=int, default=None, help="upper bound on epochs (default 300)")
    det.add_argument("--imgsz", type=int, default=320)
    det.add_argument(
        "--architecture",
        default=None,
        help="efficientnet-lite0 (ImageNet-pretrained backbone, default), yolo11n (from scratch) or a yaml",
    )
    det.add_argument("--seed", type=int, default=0)
    det.add_argument("--init-from", type=Path, default=None, help="fine-tune these weights instead")
    det.add_argument("--fine-tune-lr0", type=float, default=None, help="AdamW's learning rate with --init-from")
    det.add_argument(
        "--resume",
        type=Path,
        default=None,
        help="continue this interrupted run folder (kept by Ctrl-C) from its last epoch; --epochs stays the cap",
    )
    det.add_argument(
        "--from-run",
        type=Path,
        default=None,
        help="publish this finished ultralytics run folder (weights/best.pt, results.csv) instead of training",
    )

    cond = commands.add_parser(
        "build-condition",
        help="a tiny Qwen2-VL condition model (vision tower distilled from EfficientNet-Lite0, trained on real "
        "conditions) into a new candidate",
    )
    cond.add_argument("--data", type=Path, default=None, help="YOLO folder with the 9 condition classes")
    cond.add_argument("--distil-data", type=Path, default=None, help="YOLO folder whose other photos to distil on")
    cond.add_argument("--registry", type=Path, default=None, help=REGISTRY_HELP)
    cond.add_argument("--steps", type=int, default=None, help="teaching steps (the teacher's answers)")
    cond.add_argument("--distil-steps", type=int, default=None, help="distillation steps")
    cond.add_argument("--batch-size", type=int, default=None)
    cond.add_argument("--seed", type=int, default=None)
    cond.add_argument("--distilled", type=Path, default=None, help="start from this distilled model folder")
    cond.add_argument("--keep-distilled", type=Path, default=None, help="also keep the distilled model here")

    ft = commands.add_parser(
        "finetune",
        help="a job in its own process: fine-tune the served model on the reviewed labels, gate the candidate "
        "against the served one on held-out photos; prints the candidate's version",
    )
    ft.add_argument("--kind", choices=("condition", "detector"), default="condition")
    ft.add_argument(
        "--data",
        default="db",
        help="condition fine-tuning: 'db' (reviewed labels in the store) or a 9-class YOLO folder; "
        "the detector always learns from the store's reviewed boxes",
    )
    ft.add_argument("--method", choices=("lora", "full"), default="lora", help="condition fine-tuning method")
    ft.add_argument("--steps", type=int, default=300, help="condition fine-tuning steps")
    ft.add_argument("--hours", type=float, default=0.25, help="detector fine-tuning budget")
    ft.add_argument("--margin", type=float, default=0.0, help="how much worse than served a candidate may be")
    ft.add_argument("--promote", action="store_true", help="serve the candidate if it passes the gate")
    ft.add_argument("--json", action="store_true", help="print one JSON object with version and metrics")

    qu = commands.add_parser("quantize", help="a job: a bitsandbytes-quantized candidate of a condition version")
    qu.add_argument("version", help="a condition model version on record (see status)")
    qu.add_argument("quantization", choices=("int8", "nf4"))
    qu.add_argument("--data", default="db", help="held-out examples from 'db' or a 9-class YOLO folder")
    qu.add_argument("--promote", action="store_true", help="serve it if it keeps >= 99%% of the accuracy")
    qu.add_argument("--json", action="store_true")

    cal = commands.add_parser(
        "calibrate",
        help="a candidate of a condition model folder with its temperature fitted on the held-out photos of the "
        "data it was built from (same weights; honest confidences)",
    )
    cal.add_argument("folder", type=Path, help="a condition model folder, e.g. models/condition")
    cal.add_argument("--data", type=Path, default=None, help="the 9-class YOLO folder it was built from")
    cal.add_argument("--registry", type=Path, default=None, help=REGISTRY_HELP)

    pro = commands.add_parser("promote", help="serve this version from the next request on")
    pro.add_argument("version")
    rb = commands.add_parser("rollback", help="serve again the version that served before the current one")
    rb.add_argument("--kind", choices=("condition", "detector"), default="condition")
    st = commands.add_parser("status", help="served versions, candidates, the running job")
    st.add_argument("--json", action="store_true")

    cv = commands.add_parser(
        "crossval", help="photo-level k-fold cross-validation of condition fine-tuning vs its parent and the baseline"
    )
    cv.add_argument("--data", required=True, help="a 9-class YOLO folder, or 'db' for the reviewed labels")
    cv.add_argument("--parent", default=None, help="condition model folder to fine-tune (default: the configured one)")
    cv.add_argument("--folds", type=int, default=5)
    cv.add_argument("--method", choices=("lora", "full"), default="full")
    cv.add_argument("--steps", type=int, default=300, help="fine-tuning steps per fold; 0: parent and baselines only")
    cv.add_argument(
        "--recipe",
        choices=("finetune", "build"),
        default="finetune",
        help="finetune: the method's defaults (class weights); build: build-condition's recipe (a teacher fitted "
        "per fold, its answers on views of the objects learned), with --parent a distilled model",
    )
    cv.add_argument(
        "--vision-lr-scale",
        type=float,
        default=1.0,
        help="vision tower's learning rate relative to the rest (0: frozen, as distilled); --recipe finetune",
    )
    cv.add_argument(
        "--cnn-epochs",
        type=int,
        default=0,
        help="also fine-tune EfficientNet-Lite0 on the probe's crops for this many epochs per fold (0: not); "
        "with --recipe build also the teacher's epochs (default 8)",
    )
    cv.add_argument("--views", type=int, default=None, help="--recipe build: views per object (default 16)")
    cv.add_argument(
        "--distil-data",
        type=Path,
        default=None,
        help="--recipe build: YOLO folder whose photos without condition labels are also taught on",
    )
    cv.add_argument("--out", type=Path, default=None, help="write crossval.json and crossval.md here")
    cv.add_argument("--keep-models", type=Path, default=None, help="keep each fold's fine-tuned model here as fold-K")
    cv.add_argument(
        "--attach-to",
        type=Path,
        default=None,
        help="a model folder built by this recipe: its card and README get the figures",
    )

    ana = commands.add_parser("analyze", help="dataset analysis: JSON, Markdown, plots")
    ana.add_argument("--data", required=True, help="a YOLO folder, or 'db' for the reviewed labels in the store")
    ana.add_argument("--split", default=None)
    ana.add_argument("--out", type=Path, required=True)

    ev = commands.add_parser("evaluate", help="evaluate the served models on a labelled split")
    ev.add_argument("--data", required=True, help="a YOLO folder, or 'db' for the reviewed labels in the store")
    ev.add_argument("--split", default="val")
    ev.add_argument("--compare", default=None, help="another condition model folder to evaluate beside")
    ev.add_argument("--out", type=Path, required=True)
    ev.add_argument("--json", action="store_true", help="print the result as JSON")
    ev.add_argument(
        "--compare-quantized",
        choices=("int8", "nf4"),
        default=None,
        help="also evaluate the condition model evaluated (the served one, or --version) or --compare, "
        "quantized with bitsandbytes",
    )
    ev.add_argument("--version", default=None, help="evaluate this version on record instead of the served one")
    ev.add_argument("--seed", type=int, default=1)
    ev.add_argument("--generation", type=int, default=60, help="examples to also answer by free generation (0: off)")
    return parser


def main(argv: list[str] | None = None, inspector: Inspector | None = None) -> int:
    """Run one command; returns the exit status. ``inspector``: the models ``evaluate`` uses
    (tests pass loaded ones); None loads the served ones (the store's record, else the settings')."""
    args = _parser().parse_args(argv)
    if args.command in ("build-detector", "build-condition"):
        return _build(args)
    if args.command in ("finetune", "quantize"):
        return _job(args)
    if args.command in ("promote", "rollback", "status"):
        return _registry(args)
    if args.command == "crossval":
        return _crossval(args)
    if args.command == "calibrate":
        return _calibrate(args)
    return _report(args, inspector)


def _build(args: argparse.Namespace) -> int:
    from core.model_card import read_card
    from core.settings import Settings
    from storage.db import Database
    from storage.registry import record_version

    options = {k: v for k, v in vars(args).items() if k != "command" and v is not None}
    if "data" in options:
        options["data_dir"] = options.pop("data")
    if args.command == "build-detector":
        from training.detector.build import (
            DetectorRunInterrupted,
            DetectorTrainSettings,
            publish_finished_run,
            train_detector,
        )

        run = options.pop("from_run", None)
        settings = DetectorTrainSettings(**options)
        try:
            folder = train_detector(settings) if run is None else publish_finished_run(run, settings)
        except DetectorRunInterrupted as stopped:
            # The same options: publishing validates and exports at --imgsz and cards --init-from.
            given = {
                k: v for k, v in vars(args).items() if k not in ("command", "from_run", "resume") and v is not None
            }
            same = [f"--{k.replace('_', '-')} {shlex.quote(str(v))}" for k, v in given.items()]
            print(
                f"interrupted: nothing was published; the run so far is kept in {stopped.run}\n"
                "publish its best epoch: python -m training build-detector "
                + " ".join([f"--from-run {shlex.quote(str(stopped.run))}", *same])
                + "\nor continue it: python -m training build-detector "
                + " ".join([f"--resume {shlex.quote(str(stopped.run))}", *same]),
                file=sys.stderr,
            )
            return 130  # as a shell reports Ctrl-C
        headline = ("map50", "map50_95", "precision", "recall")
    else:
        from training.condition.build import ConditionTrainSettings, train_condition_model

        folder = train_condition_model(ConditionTrainSettings(**options))
        headline = ("examples", "accuracy", "macro_f1", "ece")
    card = read_card(folder)
    record_version(Database.from_settings(Settings.from_env()), card, folder)
    print(f"candidate {card.kind} {card.version} written to {folder}")
    print("recorded as a candidate, not served: evaluate it against the served model, then promote it")
    print(f"metrics ({card.metrics_data}):")
    print(json.dumps({k: card.metrics[k] for k in headline if k in card.metrics}, indent=2))
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from core.model_card import read_card
    from core.settings import Settings
    from storage.db import Database
    from storage.registry import record_version
    from training.condition.build import CONDITION_DATA, held_out_of
    from training.condition.calibrate import calibrated_candidate

    held_out, description = held_out_of(args.data or CONDITION_DATA)
    folder, calibration = calibrated_candidate(args.folder, held_out, description, args.registry)
    card = read_card(folder)
    record_version(Database.from_settings(Settings.from_env()), card, folder)
    print(f"candidate condition {card.version} written to {folder}")
    print(
        f"temperature {calibration.temperature:.2f} fitted on {calibration.examples} held-out objects: "
        f"ECE {calibration.ece_before:.3f} -> {calibration.ece_after:.3f} (cross-fitted on photo halves)"
    )
    print("recorded as a candidate, not served: evaluate it against the served model, then promote it")
    return 0


def _job(args: argparse.Namespace) -> int:
    """Start the job and follow its log on stderr until it ends (Ctrl-C asks it to stop)."""
    import codecs
    import time

    from core.settings import Settings
    from services import jobs
    from storage.db import Database
    from storage.registry import versions

    if args.command == "finetune" and args.kind == "detector" and args.data != "db":
        message = "finetune --kind detector learns from the store's reviewed boxes; --data is for conditions"
        print(message, file=sys.stderr)
        return 2
    settings = Settings.from_env()
    db = Database.from_settings(settings)
    job: dict = {"data": args.data, "promote": args.promote}
    if args.command == "quantize":
        kind, job["version"], job["kind"] = "quantize", args.version, args.quantization
    elif args.kind == "condition":
        kind, job["finetune"], job["margin"] = "condition", {"method": args.method, "steps": args.steps}, args.margin
    else:
        kind, job["hours"], job["margin"] = "detector", args.hours, args.margin
    run_id = jobs.start_job(db, settings, kind, job, actor="cli")
    log_file = jobs.jobs_dir(settings) / f"{run_id}.log"
    print(f"job {run_id} started ({kind}); its log: {log_file}", file=sys.stderr)
    # Follow the job's file rather than its run row, which keeps only the log's last characters.
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    with open(log_file, "rb") as log:
        try:
            while jobs.get_run(db, run_id).status in jobs.ACTIVE:
                print(decoder.decode(log.read()), end="", file=sys.stderr)
                time.sleep(1)
        except KeyboardInterrupt:
            jobs.request_cancel(db, run_id)
            jobs.wait(db, run_id, timeout_s=120)
        print(decoder.decode(log.read(), final=True), end="", file=sys.stderr)
    run = jobs.get_run(db, run_id)
    if run.status != "succeeded":
        print(f"job {run_id}: {run.status}" + (f" ({run.error})" if run.error else ""), file=sys.stderr)
        return 1
    produced = next(v for v in versions(db) if v.id == run.produced_version_id)
    if args.json:
        print(json.dumps({"version": produced.name, "status": produced.status, "metrics": produced.metrics}))
    else:
        print(produced.name)
    return 0


def _registry(args: argparse.Namespace) -> int:
    from core.settings import Settings
    from services import jobs
    from storage import registry
    from storage.db import Database
    from storage.repository import NotFoundError

    settings = Settings.from_env()
    db = Database.from_settings(settings)
    try:
        if args.command == "promote":
            row = registry.find_version(db, args.version)
            registry.promote(db, row.kind, row.name)
            print(f"{row.kind} {row.name} serves from the next request on")
            return 0
        if args.command == "rollback":
            row = registry.rollback(db, args.kind)
            print(f"{row.kind} {row.name} serves again from the next request on")
            return 0
    except (NotFoundError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = registry.versions(db)
    running = [r for r in jobs.runs(db) if r.status in jobs.ACTIVE]
    status = {
        "served": {v.kind: v.name for v in rows if v.status == "served"},
        "candidates": [
            {"kind": v.kind, "version": v.name, "metrics": v.metrics} for v in rows if v.status == "candidate"
        ],
        "running_job": {"id": running[0].id, "kind": running[0].kind, "progress": running[0].progress}
        if running
        else None,
    }
    if args.json:
        print(json.dumps(status, indent=2, default=str))
    else:
        for kind, name in status["served"].items():
            print(f"served {kind}: {name}")
        for c in status["candidates"]:
            print(f"candidate {c['kind']}: {c['version']}  {c['metrics'].get('gate', '')}")
        job = status["running_job"]
        print(f"running job: {job['id']} ({job['kind']}) {job['progress']}" if job else "no job running")
    return 0


def _crossval(args: argparse.Namespace) -> int:
    from core.model_card import read_card
    from core.settings import Settings
    from training.baselines.cnn import CnnSettings
    from training.condition.finetune import FinetuneSettings
    from training.data.dataset import load
    from training.eval.crossval import crossval_condition

    card = None
    if args.attach_to is not None:  # checked first: a wrong folder should not cost a whole run
        card = read_card(args.attach_to)
        if card is None:
            print(f"error: {args.attach_to} has no model card to attach the figures to", file=sys.stderr)
            return 2
    settings = Settings.from_env()
    photos, provenance = load(args.data, None, settings)
    dataset, finetune, teach = None, None, None
    if args.recipe == "build" and args.steps:
        from training.condition.build import ConditionTrainSettings, condition_recipe

        options = {"views": args.views, "cnn_epochs": args.cnn_epochs or None, "distil_data": args.distil_data}
        teach = ConditionTrainSettings(steps=args.steps, **{k: v for k, v in options.items() if v is not None})
        dataset = condition_recipe(teach)[0]
    elif args.steps:
        finetune = FinetuneSettings(method=args.method, steps=args.steps, vision_lr_scale=args.vision_lr_scale)
    report = crossval_condition(
        photos,
        args.parent or settings.condition_model,
        provenance,
        args.folds,
        finetune,
        dataset,
        log=lambda line: print(line, file=sys.stderr),
        cnn=CnnSettings(epochs=args.cnn_epochs) if args.cnn_epochs else None,
        teach=teach,
        keep_models=args.keep_models,
    )
    print(report.markdown())
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "crossval.json").write_text(json.dumps(report.to_dict(), indent=2))
        (args.out / "crossval.md").write_text(report.markdown())
    if card is not None:
        card = card.replace(crossval=report.markdown())
        card.write(args.attach_to)
        card.write_readme(args.attach_to)
    return 0


def _inspector_to_evaluate(settings, version: str | None) -> Inspector:
    """The served models, or ``version`` (on record in the store) beside the served model of
    the other kind."""
    from core.pipeline import Inspector
    from lifecycle.server import ModelServer, open_store_if_present
    from storage.db import Database
    from storage.registry import find_version

    if version is None:
        return ModelServer(settings, open_store_if_present(settings)).inspector()
    db = Database.from_settings(settings)
    row = find_version(db, version)
    served = ModelServer(settings, db).served()
    folders = {"detector": served.detector, "condition": served.condition, row.kind: row.folder}
    return Inspector.from_folders(settings, folders["detector"], folders["condition"])


def _baseline_photos(data: str, split: str | None, settings) -> list:
    """The train split, to fit the condition baselines on, when another split is evaluated and
    the data has one."""
    from training.data.dataset import load

    if split in (None, "train"):
        return []
    try:
        return load(data, "train", settings)[0]
    except FileNotFoundError:
        return []


def _report(args: argparse.Namespace, inspector: Inspector | None) -> int:
    from core.settings import Settings
    from training.data.dataset import load

    settings = Settings.from_env()
    photos, provenance = load(args.data, args.split, settings)
    if not photos:
        print(f"no labelled photos in {args.data} (split {args.split})", file=sys.stderr)
        return 1
    if args.command == "analyze":
        from training.eval.analysis import analyze, write_report

        files = write_report(analyze(photos, provenance), args.out)
        print((args.out / "analysis.md").read_text())
        print("written:", ", ".join(str(f) for f in files))
        return 0

    from core.conditions import ConditionModel
    from training.eval.evaluate import evaluate
    from training.eval.report import evaluation_markdown, write_evaluation

    if inspector is None:
        inspector = _inspector_to_evaluate(settings, args.version)
    compare = None
    if args.compare or args.compare_quantized:
        # Without --compare, the model evaluated (the served one, or --version) is compared with
        # itself quantized, not the configured default, which a promotion may have replaced.
        compare = ConditionModel(
            args.compare or inspector.condition_model.source,
            device=settings.device,
            quantization=args.compare_quantized,
        )
    report = evaluate(
        inspector,
        photos,
        provenance,
        args.split,
        compare=compare,
        generation=args.generation,
        seed=args.seed,
        baseline_photos=_baseline_photos(args.data, args.split, settings),
    )
    files = write_evaluation(report, args.out)
    print(json.dumps(report.to_dict(), indent=2, default=float) if args.json else evaluation_markdown(report))
    print("written:", ", ".join(str(f) for f in files), file=sys.stderr)
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # `kill`, a container stop: the same clean-up as Ctrl-C


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    sys.exit(main())
