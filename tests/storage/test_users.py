import os
import subprocess
import sys

import pytest

from core.settings import PROJECT_ROOT
from storage.db import Database
from storage.users import add_user, authenticate, hash_password, verify_password


def test_password_hash_is_salted_scrypt_and_verifies():
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first.startswith("scrypt$") and first != second  # salted
    assert verify_password("correct horse", first)
    assert not verify_password("wrong horse", first)
    assert not verify_password("correct horse", "md5$abc")


def test_add_and_authenticate(db):
    add_user(db, "rita", "reviewer", "s3cret-pass")
    assert authenticate(db, "rita", "s3cret-pass").role == "reviewer"
    assert authenticate(db, "rita", "nope-nope") is None
    assert authenticate(db, "nobody", "s3cret-pass") is None
    with pytest.raises(ValueError, match="already exists"):
        add_user(db, "rita", "admin", "another-pass")
    with pytest.raises(ValueError, match="role must be one of"):
        add_user(db, "sam", "boss", "s3cret-pass")
    with pytest.raises(ValueError, match="at least 8"):
        add_user(db, "sam", "admin", "short")


def test_users_cli(tmp_path):
    env = {**os.environ, "SLOPE_DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/cli.sqlite3"}
    command = [sys.executable, "-m", "storage", "users", "add", "ines", "--role", "inspector", "--password-stdin"]
    result = subprocess.run(
        command, cwd=PROJECT_ROOT, env=env, input="field-pass-1\n", capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "user ines (inspector) added" in result.stdout
    again = subprocess.run(
        command, cwd=PROJECT_ROOT, env=env, input="field-pass-1\n", capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 2 and "already exists" in again.stderr
    db = Database(env["DATABASE_URL"])
    assert authenticate(db, "ines", "field-pass-1") is not None
    db.dispose()


def test_models_cli_lists_and_promotes(tmp_path, monkeypatch, capsys):
    """``python -m storage models``, in-process, on a fresh SQLite store."""
    import shutil

    from core.model_card import read_card
    from core.settings import Settings
    from lifecycle.server import register_configured_models
    from storage import registry
    from storage.__main__ import main
    from storage.db import Database

    monkeypatch.setenv("SLOPE_DATA_DIR", str(tmp_path))
    settings = Settings.from_env()
    db = Database.from_settings(settings)
    register_configured_models(db, settings)
    folder = tmp_path / "candidate"
    shutil.copytree(settings.condition_model, folder)
    card = read_card(folder).replace(version="condition-tiny-next")
    card.write(folder)
    registry.record_version(db, card, folder)

    assert main(["models", "promote", "condition", "condition-tiny-next"]) == 0
    out = capsys.readouterr().out
    assert "condition condition-tiny-next is served from the next request on" in out
    assert registry.served_version(db, "condition").name == "condition-tiny-next"
    assert main(["models", "promote", "condition", "nope"]) == 2
    assert "no condition version named 'nope'" in capsys.readouterr().err
