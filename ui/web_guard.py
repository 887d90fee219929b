"""What the web server does before Gradio sees a request: it knows the caller's address (login
throttling counts failures per address, and Gradio passes its login check only a name and a
password), it keeps the login page from carrying the app's API description, and a logout ends
the browser's session whichever of its cookies came.

Gradio renders its API description (every endpoint, and component values such as survey names)
into every page, the login page included, while ``/gradio_api/info`` itself asks for a login:
the page of a visitor not logged in gets an empty one. Gradio's logout of one session ends the
token of its secure cookie only, which a browser on plain HTTP never sends: the token of the
other cookie stayed valid.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable
from http.cookies import SimpleCookie

from fastapi import HTTPException
from starlette.middleware import Middleware

from services import auth
from services.errors import TooManyFailures
from storage.db import Database

CLIENT_ADDRESS: contextvars.ContextVar[str] = contextvars.ContextVar("client_address", default="")
LOGIN_PAGE = re.compile(rb'"auth_required":\s*true')
API_INFO = re.compile(rb"window\.gradio_api_info = .*?;</script>", re.DOTALL)


def login_check(db: Database) -> Callable[[str, str], bool]:
    """``launch(auth=...)``: ``services.auth.log_in`` with the caller's address; too many
    failures answer 429 with the reason (Gradio answers any other refusal "Incorrect credentials")."""
    check = auth.auth_function(db, CLIENT_ADDRESS.get)

    def guarded(username: str, password: str) -> bool:
        try:
            return check(username, password)
        except TooManyFailures as refused:
            raise HTTPException(status_code=429, detail=refused.message) from None

    return guarded


class WebGuard:
    """ASGI middleware: sets ``CLIENT_ADDRESS``; empties the API description of a login page."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        CLIENT_ADDRESS.set((scope.get("client") or ("",))[0] or "")
        if scope.get("path", "").endswith("/logout"):
            _end_session(scope)
        if scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return
        start: dict = {}
        body = bytearray()

        async def held(message) -> None:
            # An HTML page is held until whole (a few hundred kB), everything else passes through.
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                if not headers.get(b"content-type", b"").startswith(b"text/html"):
                    await send(message)
                    return
                start.update(message)
                return
            if not start:
                await send(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            page = bytes(body)
            if LOGIN_PAGE.search(page):
                page = API_INFO.sub(b"window.gradio_api_info = {};</script>", page, count=1)
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(page)).encode())]})
            await send({"type": "http.response.body", "body": page})

        await self.app(scope, receive, held)


def _end_session(scope) -> None:
    """Forget every login token this request's cookies carry (Gradio then clears the cookies)."""
    tokens = getattr(scope.get("app"), "tokens", None)
    header = dict(scope.get("headers") or []).get(b"cookie", b"").decode("latin-1")
    if tokens is None or not header:
        return
    cookies = SimpleCookie()
    cookies.load(header)
    for name, morsel in cookies.items():
        if name.startswith("access-token-"):
            tokens.pop(morsel.value, None)


MIDDLEWARE = [Middleware(WebGuard)]
