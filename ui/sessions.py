"""Login sessions that end when the account changes: Gradio keeps each login's token
(``app.tokens``: token -> name) until that browser logs out or the process stops, and asks
nothing of the account again, so a disabled account, or one whose leaked password was reset,
kept reading through its old session (the page, its downloads). Each request's token is checked
here against the account as it is now, in the store every replica shares: a token is forgotten
once its account is disabled or gone, or once its password differs from the one it logged in
under (``services.auth.session_stamp``).
"""

from __future__ import annotations

import asyncio
import math
import time
from http.cookies import CookieError, SimpleCookie

from services import auth
from storage.db import Database

# How stale a looked-up account may be: a page load sends dozens of requests, each checked; the
# store is asked at most this often an account (a cut-off session ends within this time).
RECHECK_S = 2.0


def request_cookies(scope) -> dict[str, str]:
    header = dict(scope.get("headers") or []).get(b"cookie", b"").decode("latin-1")
    cookies = SimpleCookie()
    try:
        cookies.load(header)
    except CookieError:  # a malformed header: as if it carried none
        return {}
    return {name: morsel.value for name, morsel in cookies.items()}


def login_tokens(app, cookies: dict[str, str]) -> list[str]:
    """The Gradio login tokens a request carries (its secure and its plain-HTTP cookie)."""
    cookie_id = getattr(app, "cookie_id", None)
    names = (f"access-token-{cookie_id}", f"access-token-unsecure-{cookie_id}")
    return [cookies[name] for name in names if cookies.get(name)]


class Sessions:
    """The logged-in account of each request, with the tokens of changed accounts forgotten.
    Used on the web server's event loop only (the web guard), so it needs no lock."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._logged_in_under: dict[str, str] = {}  # token -> the account's stamp when first seen
        self._looked_up: dict[str, tuple[float, str | None]] = {}  # name -> (when, its stamp then)

    async def account(self, app, cookies: dict[str, str]) -> str | None:
        """The account the request is logged in as (None: none, or a session just ended)."""
        tokens = getattr(app, "tokens", None)
        if tokens is None:
            return None
        if len(self._logged_in_under) > 2 * len(tokens) + 100:  # sessions logged out: memory stays bounded
            self._logged_in_under = {t: s for t, s in self._logged_in_under.items() if t in tokens}
        for token in login_tokens(app, cookies):
            name = tokens.get(token)
            if name is None:
                continue
            if await self._still_valid(token, name):
                return name
            tokens.pop(token, None)  # Gradio now answers this browser as logged out
        return None

    async def _still_valid(self, token: str, name: str) -> bool:
        first_seen = token not in self._logged_in_under
        when, stamp = self._looked_up.get(name, (-math.inf, None))
        # A token seen for the first time is a login just made: its stamp is read fresh, never
        # from a look-up older than a password change that came before the login.
        if first_seen or time.monotonic() - when > RECHECK_S:
            # On a worker thread: the event loop answers every request of the server, and the
            # store may make a look-up wait (for a pooled connection, a busy disk).
            stamp = await asyncio.to_thread(auth.session_stamp, self.db, name)
            self._looked_up[name] = (time.monotonic(), stamp)
        under = self._logged_in_under.setdefault(token, stamp) if stamp is not None else None
        if stamp is None or stamp != under:
            self._logged_in_under.pop(token, None)
            return False
        return True
