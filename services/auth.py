"""Accounts and roles: who is logged in, and one server-side check every handler makes.

Gradio's login (``launch(auth=auth_function(db))``) sets ``request.username``; a handler calls
``ui.access.require(request, db, role)`` first, which asks ``require`` here with that name. Hiding
a tab is not a check: a client can call any handler's API directly, so the role is checked on the
server, here. Refusals are ``services.errors`` (the UI shows them as they are).

Roles are ordered: admin >= reviewer >= inspector (an admin may review, a reviewer may inspect).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from services.errors import NotAllowed, NotLoggedIn, ServiceError
from storage.db import Database
from storage.users import add_user, authenticate, has_users, user_role

ROLE_RANK: dict[str, int] = {"inspector": 1, "reviewer": 2, "admin": 3}
ADMIN_USER_ENV = "SLOPE_ADMIN_USER"
ADMIN_PASSWORD_ENV = "SLOPE_ADMIN_PASSWORD"
CREATE_USER_HINT = (
    "No user accounts exist yet, so nobody can log in. Create the first admin with\n"
    "    slope users add NAME --role admin\n"
    f"or start the app once with {ADMIN_USER_ENV}=NAME {ADMIN_PASSWORD_ENV}=... set."
)


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
        raise NotLoggedIn(f"Account {username!r} no longer exists; log in again.")
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


def auth_function(db: Database) -> Callable[[str, str], bool]:
    """The callable for ``launch(auth=...)``: checks the password against the users table."""

    def check(username: str, password: str) -> bool:
        return authenticate(db, username, password) is not None

    return check


def ensure_first_admin(db: Database, environ: Mapping[str, str] | None = None) -> str | None:
    """At first start (no user at all), create an admin from ``SLOPE_ADMIN_USER`` /
    ``SLOPE_ADMIN_PASSWORD`` when both are set. Returns the name created, else None. Later
    starts ignore the variables: they never reset a password or add a second admin."""
    environ = os.environ if environ is None else environ
    username, password = environ.get(ADMIN_USER_ENV, "").strip(), environ.get(ADMIN_PASSWORD_ENV, "")
    if not username or not password or has_users(db):
        return None
    add_user(db, username, "admin", password)  # ValueError names a bad name or a short password
    return username


DEMO_USER, DEMO_PASSWORD = "demo", "demo-password"


def ensure_demo_account(db: Database) -> str:
    """The demo mode's visible account (a reviewer: it may inspect and review, not train or
    manage users); returns the line the login page shows."""
    if user_role(db, DEMO_USER) is None:
        add_user(db, DEMO_USER, "reviewer", DEMO_PASSWORD)
    return f"Demo: log in as {DEMO_USER} / {DEMO_PASSWORD}."


def _a(role: str) -> str:
    """'an inspector', 'a reviewer', 'an admin'."""
    return f"{'an' if role[0] in 'aeiou' else 'a'} {role}"
