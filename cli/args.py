"""Command-line options generated from a settings dataclass, so the dataclass stays the one
source of names, types, defaults and help.

Each field becomes ``--kebab-name`` (or the flag given in ``flags``): its type from the
annotation (bool: ``--x/--no-x``; ``tuple[T, ...]``: one or more values; ``T | None``: a T;
``Literal[...]``: choices), its help from ``metadata["help"]`` with the dataclass's default.
An option left out is left out of the namespace (``argparse.SUPPRESS``), so the dataclass fills
it: a default is never repeated here, and ``given_settings`` knows what was typed.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import types
import typing
from pathlib import Path
from typing import Any, Literal


def _flag(name: str, flags: dict[str, str]) -> str:
    return flags.get(name, "--" + name.replace("_", "-"))


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def _shown(value: Any) -> str:
    return " ".join(str(v) for v in value) if isinstance(value, tuple | list) else str(value)


def settings_fields(cls: type, only: tuple[str, ...] | None = None, exclude: tuple[str, ...] = ()) -> list:
    return [f for f in dataclasses.fields(cls) if (only is None or f.name in only) and f.name not in exclude]


def add_settings_arguments(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    flags: dict[str, str] | None = None,
    only: tuple[str, ...] | None = None,
    exclude: tuple[str, ...] = (),
    defaults: dict[str, Any] | None = None,
) -> None:
    """One option per field of ``cls`` (those in ``only``, less ``exclude``). ``defaults``: a
    command's own default for a field, where it deliberately differs from the dataclass's."""
    flags, defaults = flags or {}, defaults or {}
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(f"{cls.__name__} (defaults from the dataclass)")
    for field in settings_fields(cls, only, exclude):
        default = defaults.get(field.name, _default(field))
        text = field.metadata.get("help", "")
        if default is not dataclasses.MISSING and default is not None:
            text = f"{text} (default: {_shown(default)})".strip()
        options = dict(dest=field.name, help=text.replace("%", "%%"))
        options["default"] = default if field.name in defaults else argparse.SUPPRESS
        annotation = hints[field.name]
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            [annotation] = [a for a in typing.get_args(annotation) if a is not type(None)]
        if annotation is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(annotation) is tuple:
            options["nargs"], options["type"] = "+", typing.get_args(annotation)[0]
            options["metavar"] = field.name.upper()
        elif typing.get_origin(annotation) is Literal:
            options["choices"] = typing.get_args(annotation)
        else:
            options["type"] = annotation
            options["metavar"] = "PATH" if annotation is Path else field.name.upper()
        group.add_argument(_flag(field.name, flags), **options)


def given_settings(
    cls: type, args: argparse.Namespace, only: tuple[str, ...] | None = None, exclude: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The fields of ``cls`` set on the command line (or by a command's own default)."""
    found = {}
    for field in settings_fields(cls, only, exclude):
        if hasattr(args, field.name):
            value = getattr(args, field.name)
            found[field.name] = tuple(value) if isinstance(value, list) else value
    return found


def settings_from_args(
    cls: type,
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
    only: tuple[str, ...] | None = None,
    exclude: tuple[str, ...] = (),
):
    """``cls`` built from the options given, the rest its defaults. A value the dataclass refuses
    ends the command as a usage error would: exit status 2 and the dataclass's message."""
    try:
        return cls(**given_settings(cls, args, only, exclude))
    except ValueError as exc:
        parser.error(str(exc))


def as_options(cls: type, args: argparse.Namespace, flags: dict[str, str] | None = None) -> list[str]:
    """The options given, as they would be typed again (in the order they were typed)."""
    names = {f.name for f in dataclasses.fields(cls)}
    options = []
    for name, value in vars(args).items():
        if name not in names or value is None:
            continue
        flag = _flag(name, flags or {})
        if isinstance(value, bool):
            options.append(flag if value else flag.replace("--", "--no-", 1))
        elif isinstance(value, tuple | list):
            options.append(" ".join([flag, *(shlex.quote(str(v)) for v in value)]))
        else:
            options.append(f"{flag} {shlex.quote(str(value))}")
    return options


def field_default(cls: type, name: str) -> Any:
    """The dataclass's default of one field, for a command that reads it before building ``cls``."""
    [field] = settings_fields(cls, only=(name,))
    return _default(field)
