"""``slope import --by``: imported labels are ground truth, so the account that vouches for them
must be one that may review; the history then names it."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from cli.main import main
from core.settings import Settings
from storage import models as m
from storage.db import Database
from storage.users import add_user, update_user
from tests.conftest import DATA_DIR


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("SLOPE_DATA_DIR", str(tmp_path / "data"))
    db = Database.from_settings(Settings.from_env())
    add_user(db, "ines", "inspector", "a long password")
    add_user(db, "rita", "reviewer", "a long password")
    add_user(db, "gone", "reviewer", "a long password")
    update_user(db, "gone", disabled=True)
    return db


@pytest.mark.parametrize("by", ["nobody", "ines", "gone"])
def test_an_import_by_an_account_that_may_not_review_is_refused_before_anything_is_read(store, by, capsys):
    assert main(["import", str(DATA_DIR), "--by", by]) == 2
    err = capsys.readouterr().err
    assert err.startswith("slope import: ") and "Traceback" not in err, err
    with store.read() as session:
        assert session.scalar(select(func.count()).select_from(m.Image)) == 0
