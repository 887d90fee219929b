"""``slope``: the project's one command line, with a subcommand per noun. It sits on top of the
layers (nothing below imports it) and only parses arguments and calls the library.

    slope inspect|survey|report ...        photos through the served models (cli/inspect.py)
    slope import|export|users ...          labels and people in the store (cli/data.py)
    slope train COMMAND ...                build, fine-tune, quantize, evaluate (cli/train.py)
    slope models list|promote|rollback|status   (cli/models.py)
    slope queue [ID] [--cancel]            surveys queued with `slope survey --queue` (cli/queue.py)
    slope worker [--queues surveys,training]  takes queued chunks and jobs (SLOPE_BROKER_URL) until stopped
    slope job RUN_ID                       runs one recorded training job; the job runner starts it

``python -m cli`` is the same command (the job runner uses it: no install needed).
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
from typing import TYPE_CHECKING

from cli import data, inspect, models, queue
from core.statuses import RunStatus

if TYPE_CHECKING:
    from core.pipeline import Inspector


def parser(argv: list[str]) -> argparse.ArgumentParser:
    """The options of ``slope train`` come from the training settings, whose modules import torch:
    they are read only when the command is ``train``."""
    top = argparse.ArgumentParser(prog="slope", description="Slope drainage inspection with a human in the loop.")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    inspect.add_commands(commands)
    data.add_commands(commands)
    train = commands.add_parser("train", help="build, fine-tune, quantize, calibrate and evaluate models")
    if argv[:1] == ["train"]:
        from cli import train as train_commands

        train_commands.add_commands(train.add_subparsers(dest="train_command", required=True, metavar="COMMAND"))
    else:
        train.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    models.add_commands(commands)
    queue.add_commands(commands)
    worker = commands.add_parser(
        "worker", help="take survey chunks and training jobs from the broker (SLOPE_BROKER_URL)"
    )
    worker.add_argument("--name", default=None, help="how the worker is shown (default: worker<pid>@host)")
    worker.add_argument(
        "--threads", type=int, default=None, help="CPU threads for the models (default: SLOPE_MODEL_THREADS)"
    )
    worker.add_argument(
        "--queues", type=_queues, default="surveys,training", help="surveys (chunks), training (jobs), or both"
    )
    worker.set_defaults(run=run_worker)
    job = commands.add_parser("job", help="run one recorded training job (what the job runner starts)")
    job.add_argument("run_id", type=int)
    job.set_defaults(run=run_job)
    return top


def _queues(text: str) -> str:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names or set(names) - {"surveys", "training"}:
        raise argparse.ArgumentTypeError(f"{text!r}: give surveys, training, or surveys,training")
    return ",".join(names)


def run_worker(args: argparse.Namespace, inspector=None) -> int:
    from core.offline import prepare_offline

    prepare_offline()  # before the model libraries are imported
    from core.settings import Settings
    from services.tasks import NoQueue, configure
    from services.tasks import run_worker as take_tasks
    from storage.db import Database

    settings = Settings.from_env()
    try:
        configure(settings)  # refused before the store is opened or the models load
    except NoQueue as refused:
        print(f"error: {refused.message}", file=sys.stderr)
        return 2
    if args.threads:  # one worker per core: each keeps to its own
        settings = dataclasses.replace(settings, model_threads=args.threads)

    take_tasks(settings, Database.from_settings(settings), args.name, args.queues)
    return 0


def run_job(args: argparse.Namespace, inspector=None) -> int:
    from core.offline import prepare_offline
    from core.settings import Settings
    from services.jobs import run_job
    from storage.db import Database

    prepare_offline()
    settings = Settings.from_env()
    return 0 if run_job(Database.from_settings(settings), settings, args.run_id) == RunStatus.SUCCEEDED else 1


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # `kill`, a container stop: the same clean-up as Ctrl-C


def main(argv: list[str] | None = None, inspector: Inspector | None = None) -> int:
    """Run one command; returns its exit status. ``inspector``: models already loaded (tests);
    None loads the served ones (the store's record, else the settings')."""
    program = argv is None
    argv = sys.argv[1:] if argv is None else argv
    args = parser(argv).parse_args(argv)
    if program and args.command == "train":
        signal.signal(signal.SIGTERM, _interrupt)
    return args.run(args, inspector)


if __name__ == "__main__":
    sys.exit(main())
