"""Accounts and roles: who is logged in, and one server-side check every handler makes.

Gradio's login (``launch(auth=auth_function(db))``) sets ``request.username``; a handler calls
``ui.access.require(request, db, role)`` first, which asks ``require`` here with that name. Hiding
a tab is not a check: a client can call any handler's API directly, so the role is checked on the
server, here. Refusals are ``services.errors`` (the UI shows them as they are).

Roles are ordered: admin >= reviewer >= inspector (an admin may review, a reviewer may inspect).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from services.errors import NotAllowed, NotLoggedIn, ServiceError, TooManyFailures
from storage.db import Database
from storage.users import (
    add_user,
    authenticate,
    credential_stamp,
    has_users,
    recent_failures,
    record_failure,
    user_role,
)

ROLE_RANK: dict[str, int] = {"inspector": 1, "reviewer": 2, "admin": 3}
ADMIN_USER_ENV = "SLOPE_ADMIN_USER"
ADMIN_PASSWORD_ENV = "SLOPE_ADMIN_PASSWORD"


@dataclass(frozen=True)
class Account:
    """The logged-in user, as handlers see it."""

    username: str
    role: str

    def may(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


OPEN_ACCOUNT = "anonymous"  # who inspects in an app that has no accounts yet (a local, single-user install)


def require(username: str | None, db: Database | None, role: str) -> Account:
    """The account ``username`` if its role is ``role`` or higher; otherwise a ``ServiceError``
    with a message that says why (not logged in, unknown user, role too low).

    One exception keeps a fresh install usable: while the store has no account at all (the app
    then runs without a login), inspecting is open to everyone as ``anonymous``; reviewing and
    training still need an account."""
    if role not in ROLE_RANK:
        raise ValueError(f"role must be one of {', '.join(ROLE_RANK)}, got {role!r}")
    if not username and role == "inspector" and db is not None and not has_users(db):
        return Account(OPEN_ACCOUNT, "inspector")
    if not username:
        raise NotLoggedIn(f"Please log in: this action needs {_a(role)} account.")
    if db is None:
        raise ServiceError("This app has no user store, so no one can be checked for this action.")
    found = user_role(db, username)
    if found is None:
        raise NotLoggedIn(f"Account {username!r} is disabled or no longer exists.")
    account = Account(username, found)
    if not account.may(role):
        raise NotAllowed(
            f"{account.username} is {_a(account.role)}; this action needs {_a(role)} account"
            + (" or an admin's." if role != "admin" else ".")
        )
    return account


def refusal(username: str | None, db: Database | None, role: str) -> str | None:
    """Why a logged-in account may not use a tab whose actions need ``role`` (None: it may),
    so the tab can say so instead of showing controls that would each refuse. Without a login
    the tab stays as it is: its handlers' refusals say what account is needed. Hiding is not
    the check: every handler still calls ``require``."""
    if not username:
        return None
    try:
        require(username, db, role)
    except ServiceError as error:
        return error.message
    return None


# Guessing is slowed down for everyone sharing the store: after this many failures within the
# window, a name (whichever password) or an address (whichever name) is refused until they age out.
LOGIN_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_NAME = 5
MAX_FAILURES_PER_ADDRESS = 30


def log_in(db: Database, username: str, password: str, address: str = "") -> bool:
    """Whether ``password`` is ``username``'s; every wrong one is counted against the name and
    the address (``""``: unknown, counted against the name only). ``TooManyFailures`` while
    either has failed too often: even the right password waits, so guessing cannot go on."""
    by_name, by_address = recent_failures(db, username, address, LOGIN_WINDOW)
    minutes = int(LOGIN_WINDOW.total_seconds() // 60)
    if by_name >= MAX_FAILURES_PER_NAME:
        raise TooManyFailures(f"Too many failed logins for this name: try again in {minutes} minutes.")
    if address and by_address >= MAX_FAILURES_PER_ADDRESS:
        raise TooManyFailures(f"Too many failed logins from this address: try again in {minutes} minutes.")
    if authenticate(db, username, password) is not None:
        return True
    record_failure(db, username, address)
    return False


def session_stamp(db: Database, username: str) -> str | None:
    """What a login session of ``username`` stays valid under: it changes when the account's
    password is set (a leaked password reset cuts off the sessions made with it), and is None
    once the account is disabled or gone. A hash made again with newer parameters at a login
    changes it too: the account's other sessions then log in again, once."""
    return credential_stamp(db, username)


def auth_function(db: Database, address: Callable[[], str] = lambda: "") -> Callable[[str, str], bool]:
    """The callable for ``launch(auth=...)``: ``log_in`` with the address ``address()`` gives
    (the web layer knows it; Gradio passes only the name and password)."""

    def check(username: str, password: str) -> bool:
        return log_in(db, username, password, address())

    return check


def ensure_first_admin(db: Database, environ: Mapping[str, str] | None = None) -> str | None:
    """At first start (no user at all), create an admin from ``SLOPE_ADMIN_USER`` /
    ``SLOPE_ADMIN_PASSWORD`` when both are set. Returns the name created, else None. Later
    starts ignore the variables (``ignored_admin_variables`` says so): they never reset a
    password or add a second admin."""
    environ = os.environ if environ is None else environ
    username, password = environ.get(ADMIN_USER_ENV, "").strip(), environ.get(ADMIN_PASSWORD_ENV, "")
    if not username or not password or has_users(db):
        return None
    add_user(db, username, "admin", password)  # ValueError names a bad name or a short password
    return username


def ignored_admin_variables(db: Database, environ: Mapping[str, str] | None = None) -> str | None:
    """The line to print when ``SLOPE_ADMIN_USER`` is set but accounts exist already (None else)."""
    environ = os.environ if environ is None else environ
    if not environ.get(ADMIN_USER_ENV, "").strip() or not has_users(db):
        return None
    return (
        f"{ADMIN_USER_ENV} is set but accounts exist already, so it was ignored: "
        "`slope users list|add|role|passwd` manage them."
    )


class FirstRunClosed(ServiceError):
    title = "First run"


def create_first_admin(db: Database, username: str, password: str, repeated: str, local: bool) -> str:
    """The first account of a fresh install, made from the app's first-run form: an admin. Only
    while no account exists, and only for a browser on the machine running the app (``local``):
    anyone else reaching a fresh install must not make themselves its admin."""
    if not local:
        raise FirstRunClosed(
            "The first admin account can only be created from a browser on the machine running the app "
            "(or with `slope users add NAME --role admin` there)."
        )
    if has_users(db):
        raise FirstRunClosed("An account exists already: reload the page and log in.")
    if password != repeated:
        raise ServiceError("The two passwords differ; type the same password twice.")
    try:
        add_user(db, username.strip(), "admin", password)
    except ValueError as bad:  # an empty name or a short password, said plainly
        raise ServiceError(f"Not created: {bad}.") from None
    return username.strip()


DEMO_USER = "demo"  # the account every visitor of the public demo acts as (a reviewer)


def ensure_demo_account(db: Database) -> None:
    """The demo mode's account (a reviewer: it may inspect and review, not train or manage
    users). Nobody logs in as it: the demo app treats every visitor as this account. Its
    password is random and never shown."""
    if user_role(db, DEMO_USER) is None:
        add_user(db, DEMO_USER, "reviewer", secrets.token_urlsafe(24))


def _a(role: str) -> str:
    """'an inspector', 'a reviewer', 'an admin'."""
    return f"{'an' if role[0] in 'aeiou' else 'a'} {role}"
