"""Login sessions that end when the account changes: Gradio keeps each login's token
(``app.tokens``: token -> name) until that browser logs out or the process stops, and asks
nothing of the account again, so a disabled account, or one whose leaked password was reset,
kept reading through its old session (the page, its downloads). Each request's token is checked
here against the account as it is now, in the store every replica shares: a token is forgotten
once its account is disabled or gone, or once its password differs from the one it logged in
with (``services.auth.session_stamp``), as the guard reads it at the login's answer.
"""

from __future__ import annotations

import asyncio
import math
import time

from starlette.requests import Request

from services import auth
from storage.db import Database

# How stale a looked-up account may be: a page load sends dozens of requests, each checked; the
# store is asked at most this often an account (a cut-off session ends within this time).
RECHECK_S = 2.0


def request_cookies(scope) -> dict[str, str]:
    """The request's cookies read exactly as Gradio reads them (Starlette's lenient parser, every
    Cookie header): a stricter reader would miss a token Gradio then accepts."""
    return dict(Request(scope).cookies)


def login_tokens(app, cookies: dict[str, str]) -> list[str]:
    """The Gradio login tokens a request carries (its secure and its plain-HTTP cookie)."""
    cookie_id = getattr(app, "cookie_id", None)
    names = (f"access-token-{cookie_id}", f"access-token-unsecure-{cookie_id}")
    return [cookies[name] for name in names if cookies.get(name)]


def gradio_token(app, cookies: dict[str, str]) -> str | None:
    """The one token Gradio logs the request in with (its ``get_current_user``: the secure
    cookie's, else the plain one's)."""
    return next(iter(login_tokens(app, cookies)), None)


class Sessions:
    """The logged-in account of each request, with the tokens of changed accounts forgotten.
    Each token is tied to its account's stamp as its login answers (``tying``): one never tied
    is not honoured. Used on the web server's event loop only (the web guard)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._logged_in_under: dict[str, str] = {}  # token -> the account's stamp at its login
        self._looked_up: dict[str, tuple[float, str | None]] = {}  # name -> (when asked, its stamp)

    def tying(self, send, app):
        """``send`` for Gradio's login route: a token its answer sets is tied to the account's
        stamp as it is now, just after the password was checked (not at the token's first use:
        a token kept unused across a password reset would then be tied to the new password)."""

        async def tied(message) -> None:
            if message["type"] == "http.response.start" and message.get("status") == 200:
                for key, value in message.get("headers") or []:
                    if key.lower() != b"set-cookie":
                        continue
                    name, _, rest = value.decode("latin-1").partition("=")
                    token = rest.split(";", 1)[0]
                    user = getattr(app, "tokens", {}).get(token)
                    if name == f"access-token-{app.cookie_id}" and user:
                        stamp = await self._stamp(user, fresh=True)
                        if stamp is not None:
                            self._logged_in_under[token] = stamp
            await send(message)

        return tied

    async def account(self, app, cookies: dict[str, str]) -> str | None:
        """The account the request is logged in as (None: none, or a session just ended)."""
        tokens = getattr(app, "tokens", None)
        token = gradio_token(app, cookies)
        if tokens is None or token is None or (name := tokens.get(token)) is None:
            return None
        if len(self._logged_in_under) > 2 * len(tokens) + 100:  # sessions logged out: memory stays bounded
            self._logged_in_under = {t: s for t, s in self._logged_in_under.items() if t in tokens}
        under = self._logged_in_under.get(token)
        if under is not None and await self._stamp(name) == under:
            return name
        self._logged_in_under.pop(token, None)
        tokens.pop(token, None)  # Gradio now answers this browser as logged out
        return None

    async def _stamp(self, name: str, fresh: bool = False) -> str | None:
        when, stamp = self._looked_up.get(name, (-math.inf, None))
        if fresh or time.monotonic() - when > RECHECK_S:
            asked = time.monotonic()
            # On a worker thread: the event loop answers every request of the server, and the
            # store may make a look-up wait (for a pooled connection, a busy disk).
            stamp = await asyncio.to_thread(auth.session_stamp, self.db, name)
            if asked > self._looked_up.get(name, (-math.inf, None))[0]:  # a slower, older look-up loses
                self._looked_up[name] = (asked, stamp)
        return stamp
