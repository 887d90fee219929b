"""``slope users``: as a real subprocess, the password from stdin."""

import os
import subprocess
import sys

from core.settings import PROJECT_ROOT
from storage.db import Database
from storage.users import authenticate


def test_users_cli(tmp_path):
    env = {**os.environ, "SLOPE_DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/cli.sqlite3"}
    command = [sys.executable, "-m", "cli", "users", "add", "ines", "--role", "inspector", "--password-stdin"]
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
