"""``slope train analyze|evaluate|crossval``: figures on labelled photos.

slope train analyze --data ../shared/data/slopes --out reports/analysis
slope train evaluate --data ../shared/data/slopes --split val --out reports/eval [--json]
slope train crossval --data ../shared/data/slope-conditions [--folds 5] [--method lora|full] [--steps N]
    [--recipe finetune|build] [--vision-lr-scale S] [--cnn-epochs N] [--views N] [--distil-data DIR]
    [--parent DIR] [--keep-models DIR] [--out DIR] [--attach-to FOLDER]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cli.args import add_settings_arguments, field_default, given_settings, settings_from_args

if TYPE_CHECKING:
    from core.pipeline import Inspector

DATA_HELP = "a YOLO folder, or 'db' for the reviewed labels in the store"
TEACH = ("views", "distil_data")  # build-condition's options that --recipe build takes


def add_commands(commands: argparse._SubParsersAction) -> None:
    from training.condition.build import ConditionTrainSettings
    from training.condition.finetune_settings import FinetuneSettings

    cv = commands.add_parser(
        "crossval",
        help="photo-level k-fold cross-validation of condition fine-tuning vs its parent and the baseline",
        description="--steps 0: the parent and the baselines only. --recipe build: build-condition's recipe "
        "(a teacher fitted per fold, its answers on views of the objects learned), with --parent a distilled "
        "model; it takes --steps, --views and --distil-data.",
    )
    cv.add_argument("--data", required=True, help="a 9-class YOLO folder, or 'db' for the reviewed labels")
    cv.add_argument("--parent", default=None, help="condition model folder to fine-tune (default: the configured one)")
    cv.add_argument("--folds", type=int, default=5)
    cv.add_argument("--recipe", choices=("finetune", "build"), default="finetune")
    cv.add_argument(
        "--cnn-epochs",
        type=int,
        default=0,
        help="also fine-tune EfficientNet-Lite0 on the probe's crops for this many epochs per fold (0: not); "
        "with --recipe build also the teacher's epochs (default: build-condition's)",
    )
    cv.add_argument("--out", type=Path, default=None, help="write crossval.json and crossval.md here")
    cv.add_argument("--keep-models", type=Path, default=None, help="keep each fold's fine-tuned model here as fold-K")
    cv.add_argument(
        "--attach-to",
        type=Path,
        default=None,
        help="a model folder built by this recipe: its card and README get the figures",
    )
    # Cross-validation compares full fine-tuning unless told otherwise (the README's recipe).
    add_settings_arguments(cv, FinetuneSettings, defaults={"method": "full"})
    add_settings_arguments(cv, ConditionTrainSettings, only=TEACH)
    cv.set_defaults(run=crossval, parser=cv)

    ana = commands.add_parser("analyze", help="dataset analysis: JSON, Markdown, plots")
    ana.add_argument("--data", required=True, help=DATA_HELP)
    ana.add_argument("--split", default=None)
    ana.add_argument("--out", type=Path, required=True)
    ana.set_defaults(run=analyze)

    ev = commands.add_parser("evaluate", help="evaluate the served models on a labelled split")
    ev.add_argument("--data", required=True, help=DATA_HELP)
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
    ev.set_defaults(run=evaluate)


def crossval(args: argparse.Namespace, inspector=None) -> int:
    from core.model_card import read_card
    from core.settings import Settings
    from training.baselines.cnn import CnnSettings
    from training.condition.finetune_settings import FinetuneSettings
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
    steps = getattr(args, "steps", field_default(FinetuneSettings, "steps"))
    dataset, finetune, teach = None, None, None
    if args.recipe == "build" and steps:
        from training.condition.build import ConditionTrainSettings, condition_recipe

        options = given_settings(ConditionTrainSettings, args, only=TEACH)
        if args.cnn_epochs:
            options["cnn_epochs"] = args.cnn_epochs
        teach = ConditionTrainSettings(steps=steps, **options)
        dataset = condition_recipe(teach)[0]
    elif steps:
        finetune = settings_from_args(FinetuneSettings, args, args.parser)
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


def _photos(args: argparse.Namespace):
    from core.settings import Settings
    from training.data.dataset import load

    settings = Settings.from_env()
    try:
        photos, provenance = load(args.data, args.split, settings)
    except (ValueError, FileNotFoundError) as exc:  # a folder with no photo fit to read, or no such split
        print(f"error: {exc}", file=sys.stderr)
        return settings, [], ""
    if not photos:
        print(f"no labelled photos in {args.data} (split {args.split})", file=sys.stderr)
    return settings, photos, provenance


def analyze(args: argparse.Namespace, inspector=None) -> int:
    from training.eval.analysis import analyze as analyze_photos
    from training.eval.analysis import write_report

    _, photos, provenance = _photos(args)
    if not photos:
        return 1
    files = write_report(analyze_photos(photos, provenance), args.out)
    print((args.out / "analysis.md").read_text())
    print("written:", ", ".join(str(f) for f in files))
    return 0


def evaluate(args: argparse.Namespace, inspector: Inspector | None) -> int:
    from core.conditions import ConditionModel
    from training.eval.evaluate import evaluate as evaluate_models
    from training.eval.report import evaluation_markdown, write_evaluation

    settings, photos, provenance = _photos(args)
    if not photos:
        return 1
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
    report = evaluate_models(
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
