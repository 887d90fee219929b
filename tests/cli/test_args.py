"""The dataclass -> argparse helper: the dataclass is the one source of names, defaults and help."""

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from cli.args import add_settings_arguments, as_options, given_settings, settings_from_args
from cli.main import main


@dataclass
class Example:
    steps: int = field(default=300, metadata={"help": "Optimizer steps."})
    rate: float | None = field(default=None, metadata={"help": "Learning rate; None: chosen by method."})
    method: Literal["lora", "full"] = field(default="lora", metadata={"help": "How to fine-tune."})
    modules: tuple[str, ...] = field(default=("q_proj", "v_proj"), metadata={"help": "Where adapters go."})
    weighted: bool = field(default=True, metadata={"help": "Weight the loss by class."})
    data_dir: Path = field(default=Path("data"), metadata={"help": "A YOLO folder."})

    def __post_init__(self) -> None:
        if self.steps <= 0:
            raise ValueError(f"steps must be positive, got {self.steps}")


def _parser(**options) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="example")
    add_settings_arguments(parser, Example, flags={"data_dir": "--data"}, **options)
    return parser


def test_nothing_given_builds_the_dataclass_defaults():
    parser = _parser()
    assert settings_from_args(Example, parser.parse_args([]), parser) == Example()
    assert given_settings(Example, parser.parse_args([])) == {}  # nothing typed, nothing passed on


def test_options_follow_the_annotations():
    parser = _parser()
    argv = ["--steps", "5", "--rate", "0.1", "--method", "full", "--modules", "a", "b", "--no-weighted"]
    args = parser.parse_args([*argv, "--data", "elsewhere"])
    assert settings_from_args(Example, args, parser) == Example(5, 0.1, "full", ("a", "b"), False, Path("elsewhere"))
    typed = ["--steps 5", "--rate 0.1", "--method full", "--modules a b", "--no-weighted", "--data elsewhere"]
    assert as_options(Example, args, {"data_dir": "--data"}) == typed


def test_a_command_may_have_its_own_default():
    parser = _parser(defaults={"method": "full"})
    assert settings_from_args(Example, parser.parse_args([]), parser).method == "full"


def test_help_lists_every_field_with_its_help_and_default(capsys):
    with pytest.raises(SystemExit) as exit_:
        _parser().parse_args(["--help"])
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for f in dataclasses.fields(Example):
        assert f.metadata["help"] in out
    assert "--data PATH" in out and "(default: 300)" in out and "(default: q_proj v_proj)" in out
    assert "--weighted, --no-weighted" in out and "{lora,full}" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--steps", "many"], "argument --steps: invalid int value: 'many'"),
        (["--method", "half"], "argument --method: invalid choice: 'half'"),
        (["--steps", "0"], "steps must be positive, got 0"),  # refused by the dataclass itself
    ],
)
def test_a_bad_value_is_a_usage_error(argv, message, capsys):
    parser = _parser()
    with pytest.raises(SystemExit) as exit_:
        settings_from_args(Example, parser.parse_args(argv), parser)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_the_training_commands_take_their_defaults_from_the_settings(capsys):
    from training.condition.finetune_settings import FinetuneSettings

    with pytest.raises(SystemExit) as exit_:
        main(["train", "finetune", "--help"])
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for f in dataclasses.fields(FinetuneSettings):
        assert "--" + f.name.replace("_", "-") in out and f.metadata["help"] in out
    with pytest.raises(SystemExit) as exit_:
        main(["train", "finetune", "--method", "half"])
    assert exit_.value.code == 2
    assert "method must be one of" in capsys.readouterr().err
