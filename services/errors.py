"""Errors a person can cause, raised by the use cases with the message to show them. The services
know nothing of Gradio: the UI turns a ``ServiceError`` into ``gr.Error`` in one place
(``ui/access.py``), the CLI prints it."""

from __future__ import annotations

import logging
import secrets

from storage.errors import StoreBusy

LOG = logging.getLogger("slope.errors")


class ServiceError(Exception):
    """A refusal to show as it is: ``message`` says what was wrong, ``title`` heads it."""

    title = "Error"

    def __init__(self, message: str, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title


class NotLoggedIn(ServiceError):
    title = "Not logged in"


class NotAllowed(ServiceError):
    title = "Not allowed"


class TrainingOff(ServiceError, PermissionError):
    """Training asked of an app where it is switched off (the public demo)."""

    title = "Not allowed"


class TooManyFailures(ServiceError):
    """Logins refused for a while after too many wrong passwords (for a name or an address)."""

    title = "Too many failed logins"


def plain_reason(exc: BaseException) -> str:
    """What a person reads of a failure nobody foresaw: a sentence and an id, never the
    exception's own text (it may carry SQL, a stack or a server path), which is logged under
    that id for an administrator."""
    error_id = secrets.token_hex(4)
    LOG.error("error %s", error_id, exc_info=exc)
    text = str(exc).lower()
    if isinstance(exc, StoreBusy) or "database is locked" in text or "could not obtain lock" in text:
        sentence = "the store is busy (another program is writing to it): nothing was saved, try again in a moment"
    elif "value too long" in text or "string data right truncation" in text or "nul (0x00)" in text:
        sentence = "a value is too long, or holds a character the store does not accept: nothing was saved"
    else:
        sentence = "something went wrong on the server"
    return f"{sentence} (error {error_id}: the administrator finds the details in the server log under this id)"
