"""``slope models``: the model versions on record and which one serves.

slope models list
slope models promote VERSION --reason TEXT
slope models rollback [--kind condition|detector] --reason TEXT
slope models status [--json]
"""

from __future__ import annotations

import argparse
import json
import sys

ACTOR = (
    "cli"  # who promotions from the command line are recorded as: services.jobs.OPERATOR, unimported (a fast --help)
)


def add_commands(commands: argparse._SubParsersAction) -> None:
    models = commands.add_parser("models", help="model versions on record; promote or roll back the served one")
    model_commands = models.add_subparsers(dest="model_command", required=True)
    model_commands.add_parser("list", help="every version on record: kind, status, name, folder").set_defaults(
        run=list_command
    )
    pro = model_commands.add_parser("promote", help="serve this version from the next request on")
    pro.add_argument("version", help="a version on record (see list)")
    pro.add_argument("--reason", required=True, help="why (required): kept with the change, for everyone to read")
    pro.set_defaults(run=serve_command)
    rb = model_commands.add_parser("rollback", help="serve again the version that served before the current one")
    rb.add_argument("--kind", choices=("condition", "detector"), default="condition")
    rb.add_argument("--reason", required=True, help="why (required): kept with the change, for everyone to read")
    rb.set_defaults(run=serve_command)
    st = model_commands.add_parser("status", help="served versions, candidates, the running job")
    st.add_argument("--json", action="store_true")
    st.set_defaults(run=status_command)


def _db():
    from core.settings import Settings
    from storage.db import Database

    return Database.from_settings(Settings.from_env())


def list_command(args: argparse.Namespace, inspector=None) -> int:
    from lifecycle import registry

    for v in registry.versions(_db()):
        print(f"{v.kind:<10} {v.status:<10} {v.name:<40} {v.folder}")
    return 0


def serve_command(args: argparse.Namespace, inspector=None) -> int:
    """``promote`` and ``rollback``: which version serves is one record, changed by either."""
    from lifecycle import registry
    from storage.errors import NotFoundError

    db = _db()
    try:
        if args.model_command == "promote":
            row = registry.find_version(db, args.version)
            row, again = registry.promote(db, row.kind, row.name, actor=ACTOR, reason=args.reason), ""
        else:
            row, again = registry.rollback(db, args.kind, actor=ACTOR, reason=args.reason), " again"
    except (NotFoundError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{row.kind} {row.name} serves{again} from the next request on")
    return 0


def status_command(args: argparse.Namespace, inspector=None) -> int:
    from lifecycle import registry
    from services import jobs

    db = _db()
    now = registry.status(db)
    running = [r for r in jobs.runs(db) if r.status in jobs.ACTIVE]
    status = {
        "served": {kind: v.name for kind, v in now.served.items()},
        "candidates": [{"kind": v.kind, "version": v.name, "metrics": v.metrics} for v in now.candidates],
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
