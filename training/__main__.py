"""Command line for building, analysing and evaluating models.

python -m training build-detector [--hours H] [--out DIR]
python -m training build-condition [--steps N] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training")
    commands = parser.add_subparsers(dest="command", required=True)

    det = commands.add_parser("build-detector", help="train the default YOLO detector from scratch")
    det.add_argument("--data", type=Path, default=None, help="YOLO folder with data.yaml")
    det.add_argument("--out", type=Path, default=None)
    det.add_argument("--hours", type=float, default=1.0)
    det.add_argument("--imgsz", type=int, default=320)
    det.add_argument("--architecture", default="yolo11n.yaml")
    det.add_argument("--seed", type=int, default=0)
    det.add_argument("--init-from", type=Path, default=None, help="fine-tune these weights instead")

    cond = commands.add_parser("build-condition", help="train the default tiny Qwen2-VL condition model")
    cond.add_argument("--data", type=Path, default=None, help="YOLO folder with data.yaml")
    cond.add_argument("--out", type=Path, default=None)
    cond.add_argument("--steps", type=int, default=None)
    cond.add_argument("--batch-size", type=int, default=None)
    cond.add_argument("--seed", type=int, default=None)
    cond.add_argument("--init-from", type=Path, default=None, help="continue from this condition model folder")

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
        help="also evaluate the served condition model quantized with bitsandbytes",
    )
    ev.add_argument("--seed", type=int, default=1)
    ev.add_argument("--generation", type=int, default=60, help="examples to also answer by free generation (0: off)")

    args = parser.parse_args(argv)
    if args.command in ("analyze", "evaluate"):
        return _report_command(args)
    options = {k: v for k, v in vars(args).items() if k != "command" and v is not None}
    if "data" in options:
        options["data_dir"] = options.pop("data")
    if args.command == "build-detector":
        from training.detector import DetectorTrainSettings, train_detector

        out = train_detector(DetectorTrainSettings(**options))
        print(json.dumps(json.loads((out / "metadata.json").read_text())["metrics_val"], indent=2))
    elif args.command == "build-condition":
        from training.condition import ConditionTrainSettings, train_condition_model

        out = train_condition_model(ConditionTrainSettings(**options))
        metrics = json.loads((out / "metadata.json").read_text())["metrics_heldout_synthesized"]
        print(json.dumps({k: metrics[k] for k in ("data", "accuracy", "per_class")}, indent=2))
    return 0


def _report_command(args: argparse.Namespace) -> int:
    from core.settings import Settings
    from training.dataset import load

    settings = Settings.from_env()
    photos, provenance = load(args.data, args.split, settings)
    if not photos:
        print(f"no labelled photos in {args.data} (split {args.split})", file=sys.stderr)
        return 1
    if args.command == "analyze":
        from training.analysis import analyze, write_report

        files = write_report(analyze(photos, provenance), args.out)
        print((args.out / "analysis.md").read_text())
        print("written:", ", ".join(str(f) for f in files))
        return 0

    from core.conditions import ConditionModel
    from core.pipeline import Inspector
    from training.evaluate import (
        condition_examples,
        evaluate_conditions,
        evaluate_detector,
        evaluate_generation,
        evaluate_pipeline,
        markdown,
        write_evaluation,
    )

    inspector = Inspector.from_settings(settings)
    examples, condition_provenance = condition_examples(photos, settings.crop_margin, args.seed)
    result = {
        "provenance": provenance,
        "split": args.split,
        "photos": len(photos),
        "detector": evaluate_detector(inspector.detector, photos),
        "condition_provenance": condition_provenance,
        "conditions": evaluate_conditions(inspector.condition_model, examples),
        "pipeline": evaluate_pipeline(inspector, photos),
    }
    if args.generation:
        result["generation"] = evaluate_generation(inspector.condition_model, examples, args.generation)
    if args.compare or args.compare_quantized:
        other = ConditionModel(
            args.compare or settings.condition_model,
            device=settings.device,
            crop_margin=settings.crop_margin,
            quantization=args.compare_quantized,
        )
        result["compare_conditions"] = evaluate_conditions(other, examples)
        result["compare_conditions"]["memory_bytes"] = other.model.get_memory_footprint()
        result["conditions"]["memory_bytes"] = inspector.condition_model.model.get_memory_footprint()
    files = write_evaluation(result, args.out)
    print(json.dumps(result, indent=2, default=float) if args.json else markdown(result))
    print("written:", ", ".join(str(f) for f in files), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
