"""Command line for the store.

python -m storage import DIR [--survey NAME]
python -m storage export --format yolo|yolo9|coco|hf OUT
python -m storage users add NAME --role inspector|reviewer|admin [--password-stdin]
python -m storage models list | promote KIND VERSION
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from core.settings import Settings
from storage.db import Database


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m storage")
    commands = parser.add_subparsers(dest="command", required=True)
    imp = commands.add_parser(
        "import",
        help="import a YOLO export folder as reviewed labels; on photos already stored, objects are "
        "matched to their labels by box overlap and give them their conditions (nothing is doubled)",
    )
    imp.add_argument("folder")
    imp.add_argument("--survey", default=None)
    exp = commands.add_parser("export", help="export reviewed labels")
    exp.add_argument("--format", required=True, choices=("yolo", "yolo9", "coco", "hf"))
    exp.add_argument("out")
    users = commands.add_parser("users", help="manage users")
    user_commands = users.add_subparsers(dest="user_command", required=True)
    add = user_commands.add_parser("add")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=("inspector", "reviewer", "admin"))
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    models = commands.add_parser("models", help="model versions on record; promote one to be served")
    model_commands = models.add_subparsers(dest="model_command", required=True)
    model_commands.add_parser("list")
    promote = model_commands.add_parser("promote", help="serve this version from the next request on")
    promote.add_argument("kind", choices=("detector", "condition"))
    promote.add_argument("version")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    db = Database.from_settings(settings)
    if args.command == "import":
        from storage.formats.yolo_import import import_yolo_folder

        report = import_yolo_folder(db, settings.data_dir, args.folder, survey=args.survey)
        print(report.summary())
    elif args.command == "export":
        from storage.formats.export import export

        print(json.dumps(export(db, settings.data_dir, args.format, args.out), indent=2))
    elif args.command == "users":
        from storage.users import add_user

        password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass()
        try:
            user_id = add_user(db, args.name, args.role, password)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"user {args.name} ({args.role}) added with id {user_id}")
    elif args.command == "models":
        from storage import registry

        if args.model_command == "promote":
            try:
                registry.promote(db, args.kind, args.version)
            except (LookupError, FileNotFoundError) as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            print(f"{args.kind} {args.version} is served from the next request on")
        for v in registry.versions(db):
            print(f"{v.kind:<10} {v.status:<10} {v.name:<40} {v.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
