"""Roles checked on the server: require() with Gradio's request, the login check, the first admin."""

from types import SimpleNamespace

import gradio as gr
import pytest

from services import auth
from services.auth import ROLE_RANK, auth_function, ensure_first_admin
from services.errors import NotAllowed, NotLoggedIn
from storage.users import add_user, has_users
from tests.storage import conftest as storage_fixtures
from ui.access import guard, require

# The storage tests' fixtures: a fresh SQLite file and a fresh PostgreSQL database per test.
db_url = storage_fixtures.db_url
db = storage_fixtures.db


def request(username):
    return SimpleNamespace(username=username)


@pytest.fixture
def users(db):
    for name, role in [("ines", "inspector"), ("rita", "reviewer"), ("ada", "admin")]:
        add_user(db, name, role, f"{name}-password")
    return db


ARTICLED = {"inspector": "an inspector", "reviewer": "a reviewer", "admin": "an admin"}


@pytest.mark.parametrize(
    "username, role, allowed",
    [
        ("ines", "inspector", True),
        ("ines", "reviewer", False),
        ("rita", "reviewer", True),
        ("rita", "inspector", True),
        ("rita", "admin", False),
        ("ada", "admin", True),
        ("ada", "reviewer", True),
    ],
)
def test_roles_are_ranked_admin_reviewer_inspector(users, username, role, allowed):
    if allowed:
        account = require(request(username), users, role)
        assert account.username == username and ROLE_RANK[account.role] >= ROLE_RANK[role]
    else:
        with pytest.raises(gr.Error, match=f"needs {ARTICLED[role]} account"):
            require(request(username), users, role)


@pytest.mark.parametrize("req", [None, request(None), request("")])
def test_no_login_is_refused(users, req):
    with pytest.raises(gr.Error, match="Please log in"):
        guard(users, "inspector")(req)


def test_the_service_refuses_with_its_own_errors_and_no_gradio(users):
    with pytest.raises(NotLoggedIn, match="Please log in") as refused:
        auth.require(None, users, "reviewer")
    assert refused.value.title == "Not logged in"
    with pytest.raises(NotAllowed, match="ines is an inspector; this action needs a reviewer") as refused:
        auth.require("ines", users, "reviewer")
    assert refused.value.title == "Not allowed"
    assert auth.refusal("ines", users, "reviewer").startswith("ines is an inspector")
    assert auth.refusal("rita", users, "reviewer") is None


def test_a_removed_or_unknown_user_is_refused(users):
    with pytest.raises(gr.Error, match="no longer exists"):
        require(request("mallory"), users, "inspector")


def test_login_checks_the_password(users):
    check = auth_function(users)
    assert check("rita", "rita-password") is True
    assert check("rita", "wrong-password") is False
    assert check("nobody", "rita-password") is False


def test_first_admin_from_the_environment_only_at_first_start(db):
    assert ensure_first_admin(db, {}) is None and not has_users(db)
    env = {"SLOPE_ADMIN_USER": "boss", "SLOPE_ADMIN_PASSWORD": "long-enough-pw"}
    assert ensure_first_admin(db, env) == "boss"
    assert require(request("boss"), db, "admin").role == "admin"
    assert ensure_first_admin(db, {**env, "SLOPE_ADMIN_USER": "second"}) is None  # users exist: ignored
    with pytest.raises(ValueError, match="at least 8"):
        ensure_first_admin(_empty(db), {**env, "SLOPE_ADMIN_PASSWORD": "short"})


def _empty(db):
    from sqlalchemy import delete

    from storage import models as m

    with db.write() as s:
        s.execute(delete(m.User))
    return db


def test_demo_mode_has_a_visible_reviewer_account(tmp_path):
    from core.settings import Settings
    from services.auth import DEMO_PASSWORD, DEMO_USER, ensure_demo_account
    from storage.db import Database
    from storage.users import authenticate

    assert Settings.from_env({"SLOPE_DEMO_MODE": "true"}).demo_mode is True
    db = Database(f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    db.upgrade()
    line = ensure_demo_account(db)
    assert line == f"Demo: log in as {DEMO_USER} / {DEMO_PASSWORD}."
    assert ensure_demo_account(db) == line  # once
    assert authenticate(db, DEMO_USER, DEMO_PASSWORD).role == "reviewer"
