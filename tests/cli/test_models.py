"""``slope models``: the versions on record and which one serves."""

from cli.main import main
from storage import registry
from tests.cli.conftest import record_condition_copy


def test_models_cli_lists_and_promotes(tmp_path, store, settings, capsys):
    """``slope models list|promote``, in-process, on a fresh SQLite store."""
    record_condition_copy(store, settings, tmp_path / "candidate", "condition-tiny-next")

    assert main(["models", "list"]) == 0
    listed = {line.split()[2]: line.split()[1] for line in capsys.readouterr().out.splitlines()}
    assert listed["condition-tiny-next"] == "candidate" and "served" in listed.values()
    assert main(["models", "promote", "condition-tiny-next", "--reason", "better on the north slopes"]) == 0
    out = capsys.readouterr().out
    assert "condition condition-tiny-next serves from the next request on" in out
    assert registry.served_version(store, "condition").name == "condition-tiny-next"
    assert main(["models", "promote", "nope", "--reason", "r"]) == 2
    assert "no model version named 'nope'" in capsys.readouterr().err
    served = registry.served_version(store, "condition")
    assert (served.served_by, served.served_reason) == ("cli", "better on the north slopes")
    assert main(["models", "promote", "condition-tiny-next", "--reason", " "]) == 2  # a reason, not a blank
    assert "needs a reason" in capsys.readouterr().err

    assert main(["models", "rollback", "--reason", "worse on the north slopes"]) == 0
    assert "serves again from the next request on" in capsys.readouterr().out
    served = registry.served_version(store, "condition")
    assert served.name != "condition-tiny-next" and served.served_reason == "worse on the north slopes"
    assert main(["models", "status", "--json"]) == 0
    assert '"candidates": []' in capsys.readouterr().out  # the promoted one was retired, not a candidate again
