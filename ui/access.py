"""The UI's side of accounts: the logged-in name from Gradio's request, the services' role check,
and every ``ServiceError`` turned into the ``gr.Error`` a person sees (its message and title)."""

from __future__ import annotations

import functools
import inspect
import ipaddress
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html import escape

import gradio as gr

from services import auth
from services.auth import OPEN_ACCOUNT, Account  # noqa: F401  (tabs import the open account from here)
from services.errors import NotLoggedIn, ServiceError
from storage.db import Database
from storage.users import has_users, user_role
from ui.markdown import as_text
from ui.scratch import requester_key
from ui.web_guard import login_check


def username_of(request: gr.Request | None) -> str | None:
    return getattr(request, "username", None) if request is not None else None


def refused(message: str, title: str = "Error") -> gr.Error:
    """A refusal written for the person, as Gradio shows it: no traceback in the server log (the
    person's mistake is not the server's failure, and the log keeps those for real ones)."""
    return gr.Error(message, title=title, print_exception=False)


def shown(error: ServiceError) -> gr.Error:
    return refused(error.message, error.title)


@contextmanager
def refusals_shown() -> Iterator[None]:
    """Around a use case's call: a ``ServiceError`` it raises reaches the person as ``gr.Error``."""
    try:
        yield
    except ServiceError as error:
        raise shown(error) from None


class AccountRefused(gr.Error):
    """A refusal of who asks (not logged in, not allowed): raised to the end, for the page and for
    API clients alike, never written in a tab's message as an action's refusal is (``said_in``)."""


def said_in(outputs: int, at: int = -1) -> Callable[[Callable], Callable]:
    """A decorator for a handler of ``outputs`` outputs (a function or a generator): a refusal of
    what it was asked (``gr.Error``, ``ServiceError``) is written in its output ``at`` (a Markdown
    message), the others left as they are; raised, it marked every output with Gradio's red "Error"
    badge, hiding the photo, the lists and the tables where nothing was wrong. A refusal of who
    asks (``AccountRefused``) is still raised: an API client must not read it as an answer."""

    def answer(refusal: gr.Error | ServiceError) -> tuple:
        values = [gr.update()] * outputs
        values[at] = f"**{as_text(refusal.message)}**"
        return tuple(values)

    def decorate(handler: Callable) -> Callable:
        if inspect.isgeneratorfunction(handler):

            @functools.wraps(handler)
            def generator(*args, **kwargs):
                try:
                    yield from handler(*args, **kwargs)
                except AccountRefused:
                    raise
                except (gr.Error, ServiceError) as refusal:
                    yield answer(refusal)

            return generator

        @functools.wraps(handler)
        def function(*args, **kwargs):
            try:
                return handler(*args, **kwargs)
            except AccountRefused:
                raise
            except (gr.Error, ServiceError) as refusal:
                return answer(refusal)

        return function

    return decorate


def require(request: gr.Request | None, db: Database | None, role: str) -> Account:
    """The logged-in account if its role is ``role`` or higher; otherwise ``AccountRefused`` saying why."""
    try:
        if login_switched_on(request, db):
            raise NotLoggedIn("Accounts exist now, so this app asks for a login: reload the page and log in.")
        return auth.require(username_of(request), db, role)
    except ServiceError as error:
        raise AccountRefused(error.message, title=error.title, print_exception=False) from None


LOGIN_SWITCH_DELAY_S = 2.0


def _server(request: gr.Request | None):
    """The Gradio server app that answered ``request`` (None outside a request)."""
    return getattr(getattr(request, "request", None), "app", None)


def download_owner(request: gr.Request | None) -> str | None:
    """Who may fetch the files a request writes (``ui.scratch.requester_key``)."""
    cookies = getattr(getattr(request, "request", None), "cookies", None) or {}
    return requester_key(_server(request), username_of(request), cookies)


def login_switched_on(request: gr.Request | None, db: Database | None) -> bool:
    """An app started without accounts serves without a login. Once the first account exists
    (made in the first-run form, or with ``slope users add`` while the app runs), it asks for one
    from the next page load on, without a restart. True when this call switched it on."""
    server = _server(request)
    if server is None or db is None or server.auth is not None or server.auth_dependency is not None:
        return False
    if getattr(server.state, "login_coming", False) or not has_users(db):
        return False
    server.state.login_coming = True

    def switch_on() -> None:
        server.auth = login_check(db)

    # Not at once: the answer to this very request (its message) still has to reach the page,
    # and Gradio checks the login on every step of a request's stream.
    threading.Timer(LOGIN_SWITCH_DELAY_S, switch_on).start()
    return True


def from_this_machine(request: gr.Request | None) -> bool:
    """Whether the browser runs on the machine serving the app: a loopback address, reached
    directly (a request through a proxy carries forwarding headers: the proxy is local, the
    visitor may not be)."""
    inner = getattr(request, "request", None)
    if inner is None or inner.client is None:
        return False
    forwarded = any(name in inner.headers for name in ("x-forwarded-for", "forwarded", "x-real-ip"))
    try:
        return not forwarded and ipaddress.ip_address(inner.client.host).is_loopback
    except ValueError:  # a name, not an address (a test client): not known to be this machine
        return False


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
    if _server(request) is not None and _server(request).auth_dependency is not None:  # the public demo
        return f"Public demo: you act as <b>{escape(username)}</b> ({user_role(db, username)})"
    who = f"<b>{escape(username)}</b> ({user_role(db, username) or 'no longer an account'})"
    # In this tab (a Markdown link opens a new one, which leaves this page logged in), and only this
    # browser's session: Gradio's /logout ends every session of the account by default.
    return f"Logged in as {who} · <a href='logout?all_session=false' target='_self'>Log out</a>"
