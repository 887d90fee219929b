"""Every ``slope`` command line the README shows parses: a README that names a subcommand or an
option the CLI does not have sends a user to an error on their first try."""

import re
import shlex

import pytest

from cli.main import parser
from core.settings import PROJECT_ROOT

# A command in a code block or in backticks, up to the end of its line or the closing backtick.
COMMAND = re.compile(r"(?:^ {4}|`)(slope [^`\n]*)", re.MULTILINE)
# Shown as a pattern, not as a command to type: "list | promote VERSION", "--format yolo|coco OUT".
PLACEHOLDERS = {
    "PATH": "a.jpg",
    "C": "0.25",
    "SURVEY": "north",
    "DIR": "d",
    "OUT": "out",
    "NAME": "n",
    "VERSION": "v1",
    "ID": "1",
    "N": "1",
}


def readme_commands() -> list[str]:
    lines = []
    for found in COMMAND.findall((PROJECT_ROOT / "README.md").read_text()):
        line = found.split("  #")[0].split(" # ")[0].rstrip(" \\")
        lines.extend(_alternatives(line))
    return sorted(set(lines))


def _alternatives(line: str) -> list[str]:
    """``slope models list | promote VERSION`` shows two commands; ``[--x X]`` is optional and
    ``a|b`` a choice: the first of each is taken."""
    head, *more = [part.strip() for part in line.split(" | ")]
    stem = " ".join(head.split()[:2])
    commands = [head] + [f"{stem} {part}" for part in more]
    return [re.sub(r"\[([^\]]*)\]", r"\1", c).replace("...", "") for c in commands]


def _argv(command: str) -> list[str]:
    words = [PLACEHOLDERS.get(word, word.split("|")[0]) for word in shlex.split(command)[1:]]
    return words + ["--help"] if len(words) == 1 else words  # "`slope inspect` on the same store": a name


def test_the_readme_shows_the_command_of_every_noun():
    nouns = {shlex.split(c)[1] for c in readme_commands()}
    assert {"inspect", "survey", "report", "import", "export", "users", "train", "models", "queue", "worker"} <= nouns


@pytest.mark.parametrize("command", readme_commands())
def test_each_readme_command_parses(command, capsys):
    argv = _argv(command)
    if "--help" in argv:
        with pytest.raises(SystemExit) as exit_:
            parser(argv).parse_args(argv)
        assert exit_.value.code == 0 and "usage: slope" in capsys.readouterr().out
    else:
        parser(argv).parse_args(argv)  # an unknown command or option exits 2


def test_the_slope_script_is_declared_and_installed_by_the_set_up():
    """The README's set-up (``pip install -r requirements.txt -e .``) puts ``slope`` beside the
    environment's python."""
    import importlib
    import subprocess
    import sys
    import tomllib
    from pathlib import Path

    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    module, function = project["project"]["scripts"]["slope"].split(":")
    assert getattr(importlib.import_module(module), function) is importlib.import_module("cli.main").main
    script = Path(sys.executable).parent / "slope"
    assert script.is_file(), "slope is not installed: run the README's set-up (pip install -r requirements.txt -e .)"
    result = subprocess.run([script, "models", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("usage: slope models"), result.stderr
