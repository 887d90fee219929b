"""Every command the README shows exists: a README that names a subcommand the CLI does not
have sends a user to an error on their first try."""

import importlib
import re

import pytest

from core.settings import PROJECT_ROOT

COMMAND = re.compile(r"python -m (core|storage|training) ([a-z][a-z-]*)")


def readme_commands() -> list[tuple[str, str]]:
    return sorted(set(COMMAND.findall((PROJECT_ROOT / "README.md").read_text())))


def test_the_readme_shows_commands_of_every_module():
    assert {module for module, _ in readme_commands()} == {"core", "storage", "training"}


@pytest.mark.parametrize("module, command", readme_commands())
def test_each_readme_command_exists(module, command, capsys):
    main = importlib.import_module(f"{module}.__main__").main
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0, capsys.readouterr().err
    assert f" {command}" in capsys.readouterr().out  # its own usage line, not the top-level one
