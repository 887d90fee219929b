"""A newcomer's first login, in a real headless Chromium on the real app: started on a store
without accounts (as the README's set-up command leaves it), the page offers the first-run form
to a browser on this machine; the admin made there logs in after a reload, without a restart.
And the public demo opens on the app itself, as the demo reviewer, with no login form."""

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from app import build_app
from core.settings import Settings
from lifecycle.server import ModelServer
from services.auth import DEMO_USER, ensure_demo_account
from storage.db import Database
from storage.users import has_users, user_role
from tests.ui.test_browser import CHROMIUM, CHROMIUM_ARGS
from ui.access import LOGIN_SWITCH_DELAY_S

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
    pytest.mark.slow,  # a real browser: `pytest -m "not slow"` skips it
]
SCREENSHOT = Path(tempfile.gettempdir()) / "slope-first-run.png"


@contextmanager
def app_page(settings: Settings, db: Database, **launch) -> Iterator:
    """The real app on ``db`` launched with ``launch`` (a login or not), and a Chromium page on it."""
    from playwright.sync_api import sync_playwright

    demo = build_app(settings, ModelServer(settings, db), db)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(demo.local_url)
            yield page
            browser.close()
    finally:
        demo.close()


def test_a_newcomer_creates_the_admin_in_the_browser_and_logs_in(tmp_path):
    from playwright.sync_api import expect

    settings = Settings(data_dir=str(tmp_path / "data"))
    db = Database.from_settings(settings)
    with app_page(settings, db) as page:  # no accounts: no login
        expect(page.get_by_text("First run: create the admin account")).to_be_visible()
        page.get_by_label("Admin name").fill("boss")
        page.get_by_label("Password (8 characters or more)").fill("long-enough")
        page.get_by_label("Password again").fill("long-enough")
        page.screenshot(path=str(SCREENSHOT))
        page.locator("#first-run-create").click()
        expect(page.locator("#first-run-message")).to_contain_text("Admin account boss created. Reload the page")
        assert user_role(db, "boss") == "admin"
        time.sleep(LOGIN_SWITCH_DELAY_S + 0.5)  # a person reads the message first
        page.reload()
        page.get_by_label("username").fill("boss")
        page.get_by_label("password").fill("long-enough")
        page.get_by_role("button", name="Login").click()
        expect(page.locator("#account-line")).to_contain_text("Logged in as boss (admin)")
        expect(page.get_by_text("First run: create the admin account")).to_be_hidden()
    db.dispose()


def test_the_public_demo_opens_on_the_app_as_the_demo_reviewer(tmp_path):
    from playwright.sync_api import expect

    settings = Settings(data_dir=str(tmp_path / "data"), demo_mode=True)
    db = Database.from_settings(settings)
    ensure_demo_account(db)
    with app_page(settings, db, auth_dependency=lambda request: DEMO_USER) as page:
        expect(page.locator("#account-line")).to_contain_text("Public demo: you act as demo (reviewer)")
        assert page.get_by_label("username").count() == 0  # no login form
        page.get_by_role("tab", name="Review").click()
        page.locator("#review-load").click()
        expect(page.locator("#review-message")).to_contain_text("Nothing to review under these filters.")  # not refused
        expect(page.get_by_text("First run: create the admin account")).to_be_hidden()
        assert page.get_by_role("tab", name="Train").count() == 0
    assert has_users(db)
    db.dispose()


def test_an_admin_disables_an_account_in_the_app(tmp_path):
    from playwright.sync_api import expect

    from services.auth import auth_function
    from storage.users import add_user, authenticate

    settings = Settings(data_dir=str(tmp_path / "data"))
    db = Database.from_settings(settings)
    add_user(db, "ada", "admin", "admin-pass-1")
    add_user(db, "rita", "reviewer", "rita-pass-1")
    with app_page(settings, db, auth=auth_function(db)) as page:
        page.get_by_label("username").fill("ada")
        page.get_by_label("password").fill("admin-pass-1")
        page.get_by_role("button", name="Login").click()
        page.get_by_role("tab", name="Train").click()
        page.get_by_role("button", name="Accounts").click()
        page.locator("#accounts-name input").click()
        page.get_by_role("option", name="rita").click()
        page.get_by_role("button", name="Disable").click()
        expect(page.get_by_text("rita is disabled: it can no longer log in")).to_be_visible()
        expect(page.get_by_role("row", name="rita reviewer disabled")).to_be_visible()
        # A refusal is said in the panel; the table and the list stay (they showed "Error" badges)
        page.get_by_label("New account's name").fill("tom")
        page.get_by_label("New password (8 characters or more)").fill("short")
        page.get_by_role("button", name="Add account (with the role and password above)").click()
        expect(page.get_by_text("Not added: password must have at least 8 characters")).to_be_visible()
        expect(page.get_by_role("row", name="rita reviewer disabled")).to_be_visible()
        expect(page.locator("#accounts-name input")).to_have_value("rita")
    assert authenticate(db, "rita", "rita-pass-1") is None
    db.dispose()
