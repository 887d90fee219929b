"""Roles checked on the server: require() with Gradio's request, the login check, the first admin."""

import time
from datetime import timedelta
from types import SimpleNamespace

import gradio as gr
import pytest

from services import auth
from services.auth import ROLE_RANK, auth_function, ensure_first_admin
from services.errors import NotAllowed, NotLoggedIn, TooManyFailures
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


def test_demo_mode_has_a_reviewer_account_nobody_logs_in_as(tmp_path):
    from core.settings import Settings
    from services.auth import DEMO_USER, ensure_demo_account
    from storage.db import Database
    from storage.users import user_role

    assert Settings.from_env({"SLOPE_DEMO_MODE": "true"}).demo_mode is True
    db = Database(f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    db.upgrade()
    ensure_demo_account(db)
    ensure_demo_account(db)  # once
    assert user_role(db, DEMO_USER) == "reviewer"
    assert auth_function(db)(DEMO_USER, "demo-password") is False  # no known password


def test_the_first_admin_comes_from_this_machine_only_and_only_once(db):
    from services.auth import FirstRunClosed, create_first_admin, ignored_admin_variables
    from services.errors import ServiceError

    fresh = _empty(db)
    with pytest.raises(FirstRunClosed, match="only be created from a browser on the machine running the app"):
        create_first_admin(fresh, "boss", "long-enough", "long-enough", local=False)
    with pytest.raises(ServiceError, match="The two passwords differ"):
        create_first_admin(fresh, "boss", "long-enough", "long-enougH", local=True)
    with pytest.raises(ServiceError, match="Not created: password must have at least 8 characters."):
        create_first_admin(fresh, "boss", "short", "short", local=True)
    assert not has_users(fresh)
    assert create_first_admin(fresh, " boss ", "long-enough", "long-enough", local=True) == "boss"
    assert auth_function(fresh)("boss", "long-enough") is True
    with pytest.raises(FirstRunClosed, match="An account exists already"):
        create_first_admin(fresh, "eve", "long-enough", "long-enough", local=True)
    assert ignored_admin_variables(fresh, {"SLOPE_ADMIN_USER": "eve"}).startswith("SLOPE_ADMIN_USER is set but")
    assert ignored_admin_variables(fresh, {}) is None


def _http(host, headers=(), auth=None):
    """A Gradio request as a running server hands it over: client address, headers, the app."""
    app = SimpleNamespace(auth=auth, auth_dependency=None, state=SimpleNamespace())
    inner = SimpleNamespace(client=SimpleNamespace(host=host), headers=dict(headers), app=app)
    return SimpleNamespace(username=None, request=inner), app


def test_only_a_direct_loopback_browser_counts_as_this_machine():
    from ui.access import from_this_machine

    assert from_this_machine(_http("127.0.0.1")[0]) and from_this_machine(_http("::1")[0])
    assert not from_this_machine(_http("192.168.1.20")[0])
    assert not from_this_machine(_http("127.0.0.1", {"x-forwarded-for": "203.0.113.9"})[0])  # via a local proxy
    assert not from_this_machine(None) and not from_this_machine(_http("testclient")[0])


def test_an_app_started_without_accounts_asks_for_a_login_once_one_exists(db, monkeypatch):
    import ui.access
    from ui.access import login_switched_on

    monkeypatch.setattr(ui.access, "LOGIN_SWITCH_DELAY_S", 0.1)

    fresh = _empty(db)
    req, app = _http("127.0.0.1")
    assert require(req, fresh, "inspector").username == "anonymous"  # open while no account exists
    assert not login_switched_on(req, fresh) and app.auth is None
    add_user(fresh, "boss", "admin", "long-enough")  # e.g. `slope users add` while the app runs
    with pytest.raises(gr.Error, match="Accounts exist now, so this app asks for a login: reload the page"):
        require(req, fresh, "inspector")
    assert not login_switched_on(req, fresh)  # once
    time.sleep(0.6)  # after the answer to the request that switched it on
    assert app.auth("boss", "long-enough") is True  # the login is on for the next page load


def test_too_many_wrong_passwords_lock_the_name_even_for_the_right_one(users):
    for _ in range(auth.MAX_FAILURES_PER_NAME):
        assert auth.log_in(users, "rita", "guess", "10.0.0.1") is False
    with pytest.raises(TooManyFailures, match="Too many failed logins for this name: try again in 15 minutes"):
        auth.log_in(users, "rita", "rita-password", "10.0.0.2")  # another address: still the name's limit
    assert auth.log_in(users, "ada", "ada-password", "10.0.0.1") is True  # another name from that address: fine


def test_too_many_failures_from_one_address_lock_it_for_every_name(users):
    for n in range(auth.MAX_FAILURES_PER_ADDRESS):
        assert auth.log_in(users, f"name-{n}", "guess", "10.0.0.9") is False  # a different name each time
    with pytest.raises(TooManyFailures, match="from this address"):
        auth.log_in(users, "ada", "ada-password", "10.0.0.9")
    assert auth.log_in(users, "ada", "ada-password", "10.0.0.10") is True


def test_failures_age_out_of_the_window(users, monkeypatch):
    for _ in range(auth.MAX_FAILURES_PER_NAME):
        auth.log_in(users, "rita", "guess", "10.0.0.1")
    monkeypatch.setattr(auth, "LOGIN_WINDOW", timedelta(seconds=0))
    assert auth.log_in(users, "rita", "rita-password", "10.0.0.1") is True


def test_a_name_without_an_account_costs_a_hash_like_a_real_one(users):
    from storage import users as accounts

    accounts._no_account_hash.cache_clear()
    assert auth.log_in(users, "nobody", "whatever-password") is False
    assert accounts._no_account_hash.cache_info().currsize == 1  # a password was checked for nobody
