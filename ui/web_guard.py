"""What the web server does before Gradio sees a request: it knows the caller's address (login
throttling counts failures per address, and Gradio passes its login check only a name and a
password), it keeps the login page from carrying the app's API description, a logout ends
the browser's session whichever of its cookies came, a session ends once its account is disabled
or its password set (``ui.sessions``), and a request folder's files go to their owner only
(``ui.scratch``: the account, or the browser, whose id it gives each page in a cookie).

Gradio renders its API description (every endpoint, and component values such as survey names)
into every page, the login page included, while ``/gradio_api/info`` itself asks for a login:
the page of a visitor not logged in gets an empty one. Gradio's logout of one session ends the
token of its secure cookie only, which a browser on plain HTTP never sends: the token of the
other cookie stayed valid.
"""

from __future__ import annotations

import contextvars
import json
import os
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from fastapi import HTTPException
from starlette.middleware import Middleware

from services import auth
from services.errors import TooManyFailures
from storage.db import Database
from ui.scratch import BROWSER_COOKIES, LIFETIME_S, owner_of, requester_key
from ui.sessions import Sessions, login_tokens, request_cookies

CLIENT_ADDRESS: contextvars.ContextVar[str] = contextvars.ContextVar("client_address", default="")
LOGIN_PAGE = re.compile(rb'"auth_required":\s*true')
API_INFO = re.compile(rb"window\.gradio_api_info = .*?;</script>", re.DOTALL)
FILE_ROUTE = re.compile(r"/file[=/](.+)$")  # Gradio's /file=PATH and its older /file/PATH
NOT_FOUND = (b"text/plain; charset=utf-8", b"No such file.")  # said alike whether it exists or not


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
    """ASGI middleware: sets ``CLIENT_ADDRESS``; ends the sessions of changed accounts; hands a
    request folder's files to their owner only; gives a browser its id; empties the API
    description of a login page."""

    def __init__(self, app, db: Database | None = None) -> None:
        self.app = app
        self.sessions = Sessions(db) if db is not None else None
        self.uploads = UploadOwners()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        CLIENT_ADDRESS.set((scope.get("client") or ("",))[0] or "")
        cookies = request_cookies(scope)
        gradio = scope.get("app")
        account = await self.sessions.account(gradio, cookies) if self.sessions is not None else None
        path = scope.get("path", "")
        if path.endswith("/logout"):
            _end_session(gradio, cookies)
        requester = requester_key(gradio, account, cookies)
        fetched = FILE_ROUTE.search(path)
        if fetched and not self._may_fetch(Path(os.path.abspath(fetched.group(1))), gradio, account, requester):
            await _not_found(send)
            return
        if scope.get("method") == "POST" and path.endswith("/login") and self.sessions is not None:
            await self.app(scope, receive, self.sessions.tying(send, gradio))
            return
        if scope.get("method") == "POST" and path.endswith("/upload") and requester is not None:
            await self.app(scope, receive, self.uploads.recording(send, requester))
            return
        if scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return
        browser = None if any(cookies.get(name) for name in BROWSER_COOKIES) else secrets.token_urlsafe(18)
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
            headers += [(b"content-length", str(len(page)).encode()), *_browser_cookies(browser)]
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": page})

        await self.app(scope, receive, held)

    def _may_fetch(self, file: Path, gradio, account: str | None, requester: str | None) -> bool:
        """Whether ``file`` may go to this request: a request folder's files and an upload to
        their owners only; anything else as Gradio decides. A request of nobody logged in, where
        a login is asked for, is left to Gradio, which answers it 401 (log in)."""
        if account is None and getattr(gradio, "auth", None) is not None:
            return True
        owner, uploaders = owner_of(file), self.uploads.owners(file)
        if owner is None and uploaders is None:
            return True
        return requester is not None and (requester == owner or requester in (uploaders or ()))


class UploadOwners:
    """Who uploaded each file Gradio keeps, from the paths its upload route answers: a photo's
    copy in Gradio's folder (shown as a link in the upload box) is named by a hash of its content,
    so the same photo uploaded by two people is one file, of both. Kept in this process's memory
    (a browser stays on one replica) for a day, Gradio's own lifetime of an upload at most; a file
    uploaded before a restart is left to Gradio."""

    def __init__(self) -> None:
        self._owners: dict[str, tuple[float, set[str]]] = {}  # path -> (when last uploaded, owner keys)
        self._prune_at = 1000

    def owners(self, file: Path) -> set[str] | None:
        held = self._owners.get(str(file.resolve()))
        return held[1] if held is not None else None

    def recording(self, send, owner: str):
        """``send`` passing the upload route's answer on as it is, recording its files as ``owner``'s."""
        status, body = [0], bytearray()

        async def recorded(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message.get("status", 0)
            elif status[0] == 200:
                body.extend(message.get("body", b""))
                if not message.get("more_body"):
                    self._record(bytes(body), owner)
            await send(message)

        return recorded

    def _record(self, answer: bytes, owner: str) -> None:
        try:
            paths = json.loads(answer)
        except ValueError:
            return
        now = time.time()
        for path in paths if isinstance(paths, list) else []:
            if isinstance(path, str):
                path = str(Path(path).resolve())
                owners = self._owners.get(path, (now, set()))[1]
                self._owners[path] = (now, owners | {owner})
        if len(self._owners) >= self._prune_at:  # now and then, those older than a day go
            self._owners = {p: held for p, held in self._owners.items() if now - held[0] < LIFETIME_S}
            self._prune_at = max(1000, 2 * len(self._owners))


async def _not_found(send) -> None:
    content_type, text = NOT_FOUND
    headers = [(b"content-type", content_type), (b"content-length", str(len(text)).encode())]
    await send({"type": "http.response.start", "status": 404, "headers": headers})
    await send({"type": "http.response.body", "body": text})


def _browser_cookies(browser: str | None) -> list[tuple[bytes, bytes]]:
    """The Set-Cookie headers giving a page's browser its id (none where it has one)."""
    if browser is None:
        return []
    secure, plain = BROWSER_COOKIES
    return [
        (b"set-cookie", f"{secure}={browser}; Path=/; HttpOnly; Secure; SameSite=None".encode()),
        (b"set-cookie", f"{plain}={browser}; Path=/; HttpOnly; SameSite=Lax".encode()),
    ]


def _end_session(gradio, cookies: dict[str, str]) -> None:
    """Forget every login token this request's cookies carry (Gradio then clears the cookies)."""
    tokens = getattr(gradio, "tokens", None)
    for token in login_tokens(gradio, cookies) if tokens is not None else []:
        tokens.pop(token, None)


def middleware(db: Database | None) -> list[Middleware]:
    """``app_kwargs={"middleware": ...}`` of ``launch``: the web guard, checking sessions against ``db``."""
    return [Middleware(WebGuard, db=db)]
