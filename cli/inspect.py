"""``slope inspect``, ``slope survey``, ``slope report``: photos through the served models.

    slope inspect PATH... [--conf C] [--json]
    slope survey PATH... --name NAME [--site SITE] [--date DATE] [--queue]
    slope report SURVEY --out DIR

PATH may be image files, folders (searched recursively) or zips of a survey. With ``--json`` one
JSON list is printed: one entry per file, ``{image, error}`` for a file that could not be
inspected. The exit code is nonzero only when no image at all could be inspected. Where a store
exists, the models it records as served are used (the same ones the app serves).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.pipeline import Inspector
    from services.inspection import PhotoOutcome

PATHS_HELP = "image files, folders or zips"


class PrintSink:
    """A few readable lines per inspected photo on stdout."""

    purpose = "printing"

    def add(self, outcome: PhotoOutcome) -> None:
        inspection = outcome.inspection
        if inspection is None:
            return
        print(
            f"{outcome.source.origin} ({inspection.width}x{inspection.height}), {len(inspection.findings)} objects, "
            f"{inspection.timings_ms['total']:.0f} ms"
        )
        for f in inspection.findings:
            probs = ", ".join(f"{k} {v:.2f}" for k, v in f.condition_probs.items())
            print(f"  {f.object_type:<12} {f.condition:<8} ({probs})  det {f.confidence:.2f}  {f.context.describe()}")


def add_commands(commands: argparse._SubParsersAction) -> None:
    inspect = commands.add_parser("inspect", help="inspect slope photos")
    inspect.add_argument("paths", nargs="+", metavar="PATH", help=PATHS_HELP)
    inspect.add_argument("--conf", type=_threshold, default=None, help="detector confidence threshold (0 to 1)")
    inspect.add_argument("--json", action="store_true", help="print one JSON list")
    inspect.set_defaults(run=inspect_command)
    survey = commands.add_parser("survey", help="inspect a survey into the store (resumable)")
    survey.add_argument("paths", nargs="+", metavar="PATH", help=PATHS_HELP)
    survey.add_argument("--name", required=True, help="the survey's name, e.g. 'A3 km 12 north slope'")
    survey.add_argument("--site", default=None)
    survey.add_argument("--date", default=None, help="when the photos were taken, e.g. 2026-11-20")
    survey.add_argument(
        "--queue", action="store_true", help="hand the photos to the workers (SLOPE_BROKER_URL) instead of this process"
    )
    survey.set_defaults(run=survey_command)
    report = commands.add_parser("report", help="a survey's HTML report and CSV of findings, from the store")
    report.add_argument("survey")
    report.add_argument("--out", required=True, help="folder for report.html and findings.csv")
    report.set_defaults(run=report_command)


def inspect_command(args: argparse.Namespace, inspector: Inspector | None) -> int:
    from core.settings import Settings
    from core.sources import expand_sources
    from lifecycle.server import ModelServer, open_store_if_present
    from services.inspection import LoadLimits, inspect_batch
    from services.sinks import JsonSink

    settings = Settings.from_env()
    if inspector is None:
        inspector = ModelServer(settings, open_store_if_present(settings)).inspector()
    sources, problems = expand_sources(args.paths, max_bytes=settings.max_upload_bytes)
    sink = JsonSink() if args.json else PrintSink()
    result = inspect_batch(
        sources,
        inspector,
        [sink],
        conf=args.conf,
        limits=LoadLimits(settings.max_image_pixels, settings.max_upload_bytes),
    )
    if args.json:
        print(json.dumps(sink.entries, indent=2))
    for problem in problems + result.problems:
        print(f"error: {problem}", file=sys.stderr)
    if result.inspected == 0:
        print("no image could be inspected", file=sys.stderr)
        return 1
    return 0


def survey_command(args: argparse.Namespace, inspector: Inspector | None) -> int:
    """A named survey into the store, resumable; progress on stderr, a summary line at the end."""
    import getpass

    from core.settings import Settings
    from lifecycle.server import ModelServer
    from services.errors import ServiceError
    from services.survey import run_survey, survey_date, survey_text
    from storage.db import Database

    try:  # refused before the models load
        survey_date(args.date)
        survey_text(args.site, "site")
        if survey_text(args.name, "survey name") is None:
            raise ValueError("a survey needs a name: --name cannot be empty")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    db = Database.from_settings(settings)
    if args.queue:
        from cli.queue import queue_command

        return queue_command(args, settings, db)
    if inspector is None:
        inspector = ModelServer(settings, db).inspector()

    def progress(done: int, total: int, name: str) -> None:
        if done:  # 0: the total, announced before the first photo
            print(f"photo {done} of {total}: {name}", file=sys.stderr, flush=True)

    try:
        run = run_survey(
            db,
            settings,
            inspector,
            args.paths,
            args.name,
            getpass.getuser(),
            site=args.site,
            date=args.date,
            progress=progress,
        )
    except ServiceError as refused:
        print(f"error: {refused.message}", file=sys.stderr)
        return 2
    for problem in run.problems:
        print(f"error: {problem}", file=sys.stderr)
    print(run.summary())
    return 0 if run.batch.inspected else 1


def report_command(args: argparse.Namespace, inspector: Inspector | None = None) -> int:
    from core.settings import Settings
    from services.survey_report import write_survey_report
    from storage.db import Database
    from storage.errors import NotFoundError

    settings = Settings.from_env()
    try:
        files = write_survey_report(Database.from_settings(settings), settings.data_dir, args.survey, args.out)
    except NotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{files.photos} photos, {files.findings} findings: {files.html}, {files.csv}")
    return 0


def _threshold(text: str) -> float:
    """``--conf``: a number from 0 to 1 (NaN, inf and the rest are refused here, by name)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 1")
    return value
