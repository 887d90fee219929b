"""``slope import``, ``slope export``, ``slope users``: labels and people in the store.

slope import DIR --by ACCOUNT [--survey NAME]
slope export --format yolo|yolo9|coco|hf OUT
slope users add NAME --role inspector|reviewer|admin [--password-stdin]
slope users list | role NAME ROLE | disable NAME | enable NAME | passwd NAME [--password-stdin]
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path


def add_commands(commands: argparse._SubParsersAction) -> None:
    imp = commands.add_parser(
        "import",
        help="import a YOLO export folder as reviewed labels; on photos already stored, objects are "
        "matched to their labels by box overlap and give them their conditions (nothing is doubled)",
    )
    imp.add_argument("folder")
    imp.add_argument(
        "--by",
        required=True,
        metavar="ACCOUNT",
        help="the reviewer or admin account vouching for the folder's labels (the labels' history names it)",
    )
    imp.add_argument("--survey", default=None)
    imp.set_defaults(run=import_command)
    exp = commands.add_parser("export", help="export reviewed labels")
    exp.add_argument("--format", required=True, choices=("yolo", "yolo9", "coco", "hf"))
    exp.add_argument("out")
    exp.set_defaults(run=export_command)
    users = commands.add_parser("users", help="manage users")
    user_commands = users.add_subparsers(dest="user_command", required=True)
    add = user_commands.add_parser("add", help="add a user; the password is asked for (or read from stdin)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=("inspector", "reviewer", "admin"))
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(run=add_user_command)
    user_commands.add_parser("list", help="list the accounts").set_defaults(run=list_users_command)
    role = user_commands.add_parser("role", help="change an account's role")
    role.add_argument("name")
    role.add_argument("role", choices=("inspector", "reviewer", "admin"))
    role.set_defaults(run=lambda args, inspector=None: _update(args, role=args.role))
    for verb, disabled in (("disable", True), ("enable", False)):
        switch = user_commands.add_parser(verb, help=f"{verb} an account (it keeps its name in the history)")
        switch.add_argument("name")
        switch.set_defaults(run=lambda args, inspector=None, disabled=disabled: _update(args, disabled=disabled))
    passwd = user_commands.add_parser("passwd", help="set an account's password (asked for, or read from stdin)")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    passwd.set_defaults(run=lambda args, inspector=None: _update(args, password=_password(args)))


def _store():
    from core.settings import Settings
    from storage.db import Database

    settings = Settings.from_env()
    return Database.from_settings(settings), settings


def import_command(args: argparse.Namespace, inspector=None) -> int:
    from services.auth import refusal
    from storage.formats.yolo_import import import_yolo_folder

    db, settings = _store()
    # Imported labels are ground truth (accepted): someone who may review answers for them.
    if refused := refusal(args.by, db, "reviewer"):
        print(f"slope import: {refused}", file=sys.stderr)
        return 2
    try:
        report = import_yolo_folder(db, settings.data_dir, args.folder, survey=args.survey, by=args.by)
    except (FileNotFoundError, ValueError) as exc:  # no data.yaml, or one without class names
        print(f"slope import: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


def export_command(args: argparse.Namespace, inspector=None) -> int:
    from storage.formats.export import export

    if Path(args.out).exists() and not Path(args.out).is_dir():
        print(f"slope export: {args.out} is a file: give a folder to write the export into", file=sys.stderr)
        return 2
    db, settings = _store()
    try:
        print(json.dumps(export(db, settings.data_dir, args.format, args.out), indent=2))
    except ValueError as refused:  # e.g. a folder that is not an earlier export: left as it is
        print(f"slope export: {refused}", file=sys.stderr)
        return 2
    return 0


def _password(args: argparse.Namespace) -> str:
    return sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass()


def list_users_command(args: argparse.Namespace, inspector=None) -> int:
    from storage.users import list_users

    db, _ = _store()
    for account in list_users(db):
        state = "disabled" if account.disabled else "enabled"
        print(f"{account.username:<24}{account.role:<12}{state:<10}since {account.created_at:%Y-%m-%d}")
    return 0


def _update(args: argparse.Namespace, **change) -> int:
    from storage.users import update_user

    db, _ = _store()
    try:
        update_user(db, args.name, **change)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"account {args.name}: {args.user_command} done")
    return 0


def add_user_command(args: argparse.Namespace, inspector=None) -> int:
    from storage.users import add_user

    db, _ = _store()
    password = _password(args)
    try:
        user_id = add_user(db, args.name, args.role, password)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"user {args.name} ({args.role}) added with id {user_id}")
    return 0
