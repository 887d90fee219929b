"""The UI's side of accounts: the logged-in name from Gradio's request, the services' role check,
and every ``ServiceError`` turned into the ``gr.Error`` a person sees (its message and title)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html import escape

import gradio as gr

from services import auth
from services.auth import OPEN_ACCOUNT, Account  # noqa: F401  (tabs import the open account from here)
from services.errors import ServiceError
from storage.db import Database
from storage.users import user_role


def username_of(request: gr.Request | None) -> str | None:
    return getattr(request, "username", None) if request is not None else None


def shown(error: ServiceError) -> gr.Error:
    return gr.Error(error.message, title=error.title)


@contextmanager
def refusals_shown() -> Iterator[None]:
    """Around a use case's call: a ``ServiceError`` it raises reaches the person as ``gr.Error``."""
    try:
        yield
    except ServiceError as error:
        raise shown(error) from None


def require(request: gr.Request | None, db: Database | None, role: str) -> Account:
    """The logged-in account if its role is ``role`` or higher; otherwise ``gr.Error`` saying why."""
    with refusals_shown():
        return auth.require(username_of(request), db, role)


def guard(db: Database | None, role: str) -> Callable[[gr.Request | None], Account]:
    """``require`` bound to a store and a role, for a tab to call in each handler:
    ``check = guard(db, "inspector")`` then ``user = check(request)``."""
    return lambda request: require(request, db, role)


def refusal(request: gr.Request | None, db: Database | None, role: str) -> str | None:
    """Why the logged-in account may not use a tab needing ``role`` (None: it may, or no login)."""
    return auth.refusal(username_of(request), db, role)


def account_line(request: gr.Request | None, db: Database | None) -> str:
    """HTML naming the logged-in account and its role, with a link that logs this browser out
    (a field tablet is shared); "" without a login."""
    username = username_of(request)
    if not username or db is None:
        return ""
    who = f"<b>{escape(username)}</b> ({user_role(db, username) or 'no longer an account'})"
    # In this tab (a Markdown link opens a new one, which leaves this page logged in), and only this
    # browser's session: Gradio's /logout ends every session of the account by default.
    return f"Logged in as {who} · <a href='logout?all_session=false' target='_self'>Log out</a>"
