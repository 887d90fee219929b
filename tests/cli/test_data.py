"""``slope users``: as a real subprocess, the password from stdin."""

import os
import subprocess
import sys

import pytest

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


@pytest.mark.slow  # nine subprocesses
def test_users_list_role_disable_enable_and_passwd(tmp_path):
    from storage.users import add_user, user_role

    env = {**os.environ, "SLOPE_DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/cli.sqlite3"}
    db = Database(env["DATABASE_URL"])
    db.upgrade()
    add_user(db, "ada", "admin", "admin-pass-1")
    add_user(db, "rita", "reviewer", "rita-pass-1")

    def slope(*args, stdin=None):
        return subprocess.run(
            [sys.executable, "-m", "cli", "users", *args],
            cwd=PROJECT_ROOT,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert slope("role", "rita", "admin").returncode == 0 and user_role(db, "rita") == "admin"
    assert slope("disable", "rita").returncode == 0
    assert user_role(db, "rita") is None and authenticate(db, "rita", "rita-pass-1") is None
    listed = slope("list").stdout.splitlines()
    assert [line.split()[:3] for line in listed] == [["ada", "admin", "enabled"], ["rita", "admin", "disabled"]]
    last = slope("disable", "ada")  # the only enabled admin left
    assert last.returncode == 2 and "would leave no enabled admin" in last.stderr and user_role(db, "ada") == "admin"
    assert slope("enable", "rita").returncode == 0 and user_role(db, "rita") == "admin"
    assert slope("passwd", "rita", "--password-stdin", stdin="new-pass-22\n").returncode == 0
    assert authenticate(db, "rita", "new-pass-22") is not None and authenticate(db, "rita", "rita-pass-1") is None
    short = slope("passwd", "rita", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    assert "no account named 'nobody'" in slope("role", "nobody", "reviewer").stderr
    db.dispose()
