"""Errors a person can cause, raised by the use cases with the message to show them. The services
know nothing of Gradio: the UI turns a ``ServiceError`` into ``gr.Error`` in one place
(``ui/access.py``), the CLI prints it."""

from __future__ import annotations


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
