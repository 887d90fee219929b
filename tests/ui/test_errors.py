"""Every handler's failure as a person reads it (``ui.errors``), without a running app."""

import gradio as gr
import pytest

from services.errors import NotAllowed
from ui.errors import _wrapped, plain


def test_a_refusal_is_shown_as_written_and_anything_else_plainly(caplog):
    assert plain(NotAllowed("ines is an inspector")).message == "ines is an inspector"
    locked = plain(RuntimeError("(sqlite3.OperationalError) database is locked [SQL: BEGIN IMMEDIATE]"))
    assert locked.message.startswith("The store is busy (another program is writing to it): nothing was saved")
    other = plain(FileNotFoundError("/srv/slope/data/images/ab/abc.jpg"))
    assert other.message.startswith("Something went wrong on the server (error ")
    for shown in (locked.message, other.message):
        assert "SQL" not in shown and "/srv" not in shown
    assert "/srv/slope/data/images/ab/abc.jpg" in caplog.text  # the details, in the log


def test_a_wrapped_generator_stays_a_generator_and_fails_plainly():
    def handler(n):
        yield n
        raise KeyError("internal")

    wrapped = _wrapped(handler)
    steps = wrapped(1)
    assert next(steps) == 1
    with pytest.raises(gr.Error, match="Something went wrong on the server"):
        next(steps)
