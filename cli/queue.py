"""``slope survey --queue`` and ``slope queue``: surveys handed to the workers, followed and
cancelled from any machine that shares the store and the broker.

    slope survey PATH... --name NAME --queue
    slope queue [ID] [--cancel]
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.settings import Settings
    from storage.db import Database


def add_commands(commands: argparse._SubParsersAction) -> None:
    queue = commands.add_parser("queue", help="queued surveys: the latest, one's chunks, or cancel one")
    queue.add_argument("id", nargs="?", type=int, help="a queued survey's number: its chunks")
    queue.add_argument("--cancel", action="store_true", help="cancel that queued survey")
    queue.set_defaults(run=status_command)


def queue_command(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    """The survey's photos staged and queued; prints its number."""
    from services.errors import ServiceError
    from services.survey_queue import queue_survey
    from services.tasks import CeleryQueue

    try:  # no broker, or one that does not answer: refused before anything is stored
        queue, user = CeleryQueue(settings), getpass.getuser()
        state = queue_survey(db, settings, queue, args.paths, args.name, user, site=args.site, date=args.date)
    except (ServiceError, ValueError) as refused:
        print(f"error: {getattr(refused, 'message', refused)}", file=sys.stderr)
        return 2
    for problem in state.problems:
        print(f"error: {problem}", file=sys.stderr)
    from core.taxonomy import counted

    photos, chunks = counted(state.photos, "photo"), counted(sum(state.chunks.values()), "chunk")
    print(f"queued survey {state.id} ({args.name}): {photos} in {chunks}; `slope queue {state.id}`")
    return 0 if state.photos else 1


def status_command(args: argparse.Namespace, inspector=None) -> int:
    from core.settings import Settings
    from core.taxonomy import counted
    from services.errors import ServiceError
    from services.survey_queue import cancel_queued_survey, queued_survey, queued_surveys
    from storage.db import Database

    settings = Settings.from_env()
    db = Database.from_settings(settings)
    try:
        if args.cancel:
            if args.id is None:
                raise ValueError("--cancel needs the queued survey's number")
            print(f"cancelled: {cancel_queued_survey(db, settings, args.id, getpass.getuser())} chunks stopped")
        if args.id is None:
            for state in queued_surveys(db):
                print(_line(state))
            return 0
        state, chunks = queued_survey(db, args.id)
    except (ServiceError, ValueError, LookupError) as refused:
        print(f"error: {getattr(refused, 'message', refused)}", file=sys.stderr)
        return 2
    print(_line(state))
    for c in chunks:
        counts = f"{counted(c.photos, 'photo')}, {c.inspected} inspected, {c.failed} failed, {c.attempts} attempts"
        print(f"  chunk {c.position + 1}: {c.status}, {counts}, {c.worker or '-'}")
        for problem in c.problems:
            print(f"    {problem}")
    return 0


def _line(state) -> str:
    from core.taxonomy import counted

    counts = ", ".join(f"{n} {status}" for status, n in sorted(state.chunks.items())) or "no chunks"
    return (
        f"{state.id}: {state.survey or '(no survey)'} by {state.created_by}, {counted(state.photos, 'photo')}, "
        f"{state.inspected} inspected, {state.failed} failed; chunks: {counts}"
        + (" (cancel asked)" if state.cancel_requested else "")
    )
