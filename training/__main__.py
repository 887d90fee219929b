"""Command line for building the shipped default models.

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
    det.add_argument("--resume-from", type=Path, default=None)

    cond = commands.add_parser("build-condition", help="train the default tiny Qwen2-VL condition model")
    cond.add_argument("--data", type=Path, default=None, help="YOLO folder with data.yaml")
    cond.add_argument("--out", type=Path, default=None)
    cond.add_argument("--steps", type=int, default=None)
    cond.add_argument("--batch-size", type=int, default=None)
    cond.add_argument("--seed", type=int, default=None)

    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
