"""What a person reads of an unforeseen failure: a sentence and an id, never the exception's text."""

from __future__ import annotations

import logging
import re

from sqlalchemy.exc import OperationalError

from services.errors import plain_reason
from storage.errors import StoreBusy


def test_a_busy_store_is_said_in_words_and_the_details_go_to_the_log_under_the_id(caplog):
    locked = OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))
    with caplog.at_level(logging.ERROR, logger="slope.errors"):
        for failure in (locked, StoreBusy("the store stayed busy for 30 s")):
            shown = plain_reason(failure)
            assert shown.startswith("the store is busy (another program is writing to it): nothing was saved")
            assert "SQL" not in shown and "BEGIN" not in shown
            error_id = re.search(r"error ([0-9a-f]{8})", shown).group(1)
            assert any(error_id in record.getMessage() for record in caplog.records)


def test_anything_else_names_no_path_and_no_text_of_the_exception():
    shown = plain_reason(FileNotFoundError("/srv/slope/data/images/ab/secret.jpg"))
    assert shown.startswith("something went wrong on the server (error ")
    assert "/srv" not in shown and "secret" not in shown
