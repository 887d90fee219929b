"""What the web server does before Gradio sees a request: it knows the caller's address (login
throttling counts failures per address, and Gradio passes its login check only a name and a
password), and it keeps the login page from carrying the app's API description.

Gradio renders its API description (every endpoint, and component values such as survey names)
into every page, the login page included, while ``/gradio_api/info`` itself asks for a login:
the page of a visitor not logged in gets an empty one.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable

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


MIDDLEWARE = [Middleware(WebGuard)]
