"""``slope train``: build, fine-tune, quantize, calibrate and evaluate models. Each command
parses its arguments and calls the library; nothing here computes a figure. The options of the
build and fine-tune commands are generated from their settings dataclasses
(``slope train COMMAND --help`` lists them all):

    slope train build-detector [--architecture efficientnet-lite0|yolo11n|YAML] [--hours H] [--epochs N]
        [--init-from WEIGHTS] [--registry DIR] [--resume RUN | --from-run RUN] [--weights last.pt]
    slope train build-condition [--steps N] [--distil-steps N] [--distilled DIR | --keep-distilled DIR]
    slope train finetune [--kind condition|detector] [--method lora|full] [--steps N] [--hours H]
        [--data db|FOLDER (conditions)] [--margin M --min-per-condition N ...] [--promote] [--json]
    slope train quantize VERSION int8|nf4 [--promote] [--json]
    slope train calibrate FOLDER [--data DIR] [--registry DIR]
    slope train analyze|evaluate|crossval ...    (cli/evaluate.py)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cli import evaluate
from cli.args import add_settings_arguments, as_options, given_settings, settings_from_args

DATA = {"data_dir": "--data"}  # the folder option keeps its short name
# The condition data's options a fine-tuning job takes as they are; its crop margin and
# oversampling follow the served model (the job's choice), and its seed is the fine-tuning's.
HELD_OUT = ("held_out_fraction", "held_out_seed", "synthesized_per_real")


def add_commands(commands: argparse._SubParsersAction) -> None:
    from lifecycle.gate import GateRule
    from training.condition.build import ConditionTrainSettings
    from training.condition.finetune_settings import FinetuneSettings
    from training.data.condition_data import DatasetSettings
    from training.detector.build import DetectorTrainSettings

    det = commands.add_parser("build-detector", help="train a YOLO detector into a new candidate folder")
    add_settings_arguments(det, DetectorTrainSettings, flags=DATA)
    det.add_argument(
        "--from-run",
        type=Path,
        metavar="DIR",
        default=None,
        help="publish this finished ultralytics run folder (weights/best.pt, results.csv) instead of training",
    )
    det.set_defaults(run=build_detector, parser=det)

    cond = commands.add_parser(
        "build-condition",
        help="a tiny Qwen2-VL condition model (vision tower distilled from EfficientNet-Lite0, trained on real "
        "conditions) into a new candidate",
    )
    add_settings_arguments(cond, ConditionTrainSettings, flags=DATA)
    cond.set_defaults(run=build_condition, parser=cond)

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
    ft.add_argument("--hours", type=float, default=None, help="detector fine-tuning budget (default: the job's)")
    ft.add_argument(
        "--promote", action="store_true", help="serve the candidate if it passes the gate (default: a person decides)"
    )
    ft.add_argument("--json", action="store_true", help="print one JSON object with version and metrics")
    add_settings_arguments(ft, FinetuneSettings)
    add_settings_arguments(ft, DatasetSettings, only=HELD_OUT)
    add_settings_arguments(ft, GateRule)
    ft.set_defaults(run=finetune, parser=ft)

    qu = commands.add_parser("quantize", help="a job: a bitsandbytes-quantized candidate of a condition version")
    qu.add_argument("version", help="a condition model version on record (see slope models status)")
    qu.add_argument("quantization", choices=("int8", "nf4"))
    qu.add_argument("--data", default="db", help="held-out examples from 'db' or a 9-class YOLO folder")
    qu.add_argument("--promote", action="store_true", help="serve it if it keeps >= 99%% of the accuracy")
    qu.add_argument("--json", action="store_true")
    qu.set_defaults(run=quantize)

    cal = commands.add_parser(
        "calibrate",
        help="a candidate of a condition model folder with its temperature fitted on the held-out photos of the "
        "data it was built from (same weights; honest confidences)",
    )
    cal.add_argument("folder", type=Path, help="a condition model folder, e.g. models/condition")
    cal.add_argument("--data", type=Path, default=None, help="the 9-class YOLO folder it was built from")
    cal.add_argument(
        "--registry",
        type=Path,
        default=None,
        help="model registry to write the candidate into (default: the data directory's, SLOPE_DATA_DIR)",
    )
    cal.set_defaults(run=calibrate)

    evaluate.add_commands(commands)


def _record(folder) -> object:
    """The candidate's card, once it is on record in the store (never served by building)."""
    from core.model_card import read_card
    from core.settings import Settings
    from storage.db import Database
    from storage.registry import record_version

    card = read_card(folder)
    record_version(Database.from_settings(Settings.from_env()), card, folder)
    return card


def _print_candidate(card, folder, headline: tuple[str, ...]) -> None:
    print(f"candidate {card.kind} {card.version} written to {folder}")
    print("recorded as a candidate, not served: evaluate it against the served model, then promote it")
    print(f"metrics ({card.metrics_data}):")
    print(json.dumps({k: card.metrics[k] for k in headline if k in card.metrics}, indent=2))


def build_detector(args: argparse.Namespace, inspector=None) -> int:
    import shlex

    from training.detector.build import (
        DetectorRunInterrupted,
        DetectorTrainSettings,
        publish_finished_run,
        train_detector,
    )

    settings = settings_from_args(DetectorTrainSettings, args, args.parser)
    try:
        if args.from_run is None:
            folder = train_detector(settings)
        else:
            folder = publish_finished_run(args.from_run, settings)
    except DetectorRunInterrupted as stopped:
        # The same options: publishing validates and exports at --imgsz and cards --init-from.
        run = shlex.quote(str(stopped.run))
        same = [option for option in as_options(DetectorTrainSettings, args, DATA) if not option.startswith("--resume")]
        print(
            f"interrupted: nothing was published; the run so far is kept in {stopped.run}\n"
            "publish its best epoch: slope train build-detector "
            + " ".join([f"--from-run {run}", *same])
            + "\nor continue it: slope train build-detector "
            + " ".join([f"--resume {run}", *same]),
            file=sys.stderr,
        )
        return 130  # as a shell reports Ctrl-C
    _print_candidate(_record(folder), folder, ("map50", "map50_95", "precision", "recall"))
    return 0


def build_condition(args: argparse.Namespace, inspector=None) -> int:
    from training.condition.build import ConditionTrainSettings, train_condition_model

    folder = train_condition_model(settings_from_args(ConditionTrainSettings, args, args.parser))
    _print_candidate(_record(folder), folder, ("examples", "accuracy", "macro_f1", "ece"))
    return 0


def calibrate(args: argparse.Namespace, inspector=None) -> int:
    from training.condition.build import CONDITION_DATA, held_out_of
    from training.condition.calibrate import calibrated_candidate

    held_out, description = held_out_of(args.data or CONDITION_DATA)
    folder, calibration = calibrated_candidate(args.folder, held_out, description, args.registry)
    card = _record(folder)
    print(f"candidate condition {card.version} written to {folder}")
    print(
        f"temperature {calibration.temperature:.2f} fitted on {calibration.examples} held-out objects: "
        f"ECE {calibration.ece_before:.3f} -> {calibration.ece_after:.3f} (cross-fitted on photo halves)"
    )
    print("recorded as a candidate, not served: evaluate it against the served model, then promote it")
    return 0


def finetune(args: argparse.Namespace, inspector=None) -> int:
    from lifecycle.gate import GateRule
    from training.condition.finetune_settings import FinetuneSettings
    from training.data.condition_data import DatasetSettings

    if args.kind == "detector" and args.data != "db":
        message = "finetune --kind detector learns from the store's reviewed boxes; --data is for conditions"
        print(message, file=sys.stderr)
        return 2
    job: dict = {"data": args.data, "promote": args.promote}  # only what was given: JobSpec has the defaults
    if args.kind == "condition":
        # Refused here, not minutes later in the job.
        settings_from_args(FinetuneSettings, args, args.parser)
        settings_from_args(DatasetSettings, args, args.parser, only=HELD_OUT)
        job["finetune"] = given_settings(FinetuneSettings, args)
        if dataset := given_settings(DatasetSettings, args, only=HELD_OUT):
            job["dataset"] = dataset
    elif args.hours is not None:
        job["detector"] = {"hours": args.hours}
    settings_from_args(GateRule, args, args.parser)
    if gate := given_settings(GateRule, args):
        job["gate"] = gate
    return _follow_job(args.kind, job, args.json)


def quantize(args: argparse.Namespace, inspector=None) -> int:
    job = {"data": args.data, "promote": args.promote, "version": args.version, "quantization": args.quantization}
    return _follow_job("quantize", job, args.json)


def _follow_job(kind: str, job: dict, as_json: bool) -> int:
    """Start the job and follow its log on stderr until it ends (Ctrl-C asks it to stop)."""
    import codecs
    import time

    from core.settings import Settings
    from core.statuses import RunStatus
    from services import jobs
    from services.job_spec import JobSpec
    from storage.db import Database
    from storage.registry import versions

    settings = Settings.from_env()
    db = Database.from_settings(settings)
    try:
        spec = JobSpec(kind, **job)
    except ValueError as exc:
        print(f"slope: {exc}", file=sys.stderr)
        return 2
    run_id = jobs.start_job(db, settings, spec, actor=jobs.OPERATOR)
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
    if run.status != RunStatus.SUCCEEDED:
        print(f"job {run_id}: {run.status}" + (f" ({run.error})" if run.error else ""), file=sys.stderr)
        return 1
    produced = next(v for v in versions(db) if v.id == run.produced_version_id)
    if as_json:
        print(json.dumps({"version": produced.name, "status": produced.status, "metrics": produced.metrics}))
    else:
        print(produced.name)
    return 0
