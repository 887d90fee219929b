"""What a person reads when a handler fails in a way nobody foresaw: a plain sentence and an id,
never a stack trace, an SQL statement or a server path. The details go to the server's log under
that id, where an administrator finds them.

Refusals (``gr.Error``, which ``ui.access`` makes of every ``ServiceError``) pass as they are:
they were written for the person. Every other exception of every handler is turned into one
here, by wrapping the app's functions once it is built (``plain_errors``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import gradio as gr

from services.errors import ServiceError, plain_reason
from ui.access import shown


def plain(exc: BaseException) -> gr.Error:
    """The error to show for ``exc``: a refusal as written, anything else as
    ``services.errors.plain_reason`` (logged under an id)."""
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, ServiceError):  # written for the person, whether or not the handler caught it
        return shown(exc)
    reason = plain_reason(exc)
    return gr.Error(reason[0].upper() + reason[1:] + ".", title="Server error", print_exception=False)


def _wrapped(fn: Callable) -> Callable:
    """``fn`` of the same kind (Gradio inspects it: coroutine, generator...), raising ``plain``."""
    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def agen(*args, **kwargs):
            try:
                async for item in fn(*args, **kwargs):
                    yield item
            except Exception as exc:
                raise plain(exc) from None

        return agen
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:
                raise plain(exc) from None

        return gen
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def coroutine(*args, **kwargs):
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:
                raise plain(exc) from None

        return coroutine

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise plain(exc) from None

    return call


def plain_errors(demo: gr.Blocks) -> gr.Blocks:
    """Wrap every Python function of ``demo`` (events of the browser's own JavaScript have none)."""
    for block_fn in demo.fns.values():
        if block_fn.fn is not None:
            block_fn.fn = _wrapped(block_fn.fn)
    return demo
