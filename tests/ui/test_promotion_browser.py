"""Serving a version in a real browser, as an admin does it: pick it, read its gate report in the
confirmation, be refused without the tick, give a reason, confirm; the change is listed in the
Train tab, and the Dashboard shows it by itself, without a reload."""

import shutil

import pytest

from app import build_app
from core.model_card import read_card
from core.settings import Settings
from lifecycle import registry
from lifecycle.gate import Evidence, GateRule, decide
from lifecycle.server import ModelServer, register_configured_models
from services.auth import auth_function
from services.improve import _gate_figures
from storage.db import Database
from storage.users import add_user
from tests.ui.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.ui.test_review_browser import logged_in_page

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
    pytest.mark.slow,  # a real browser
]
CANDIDATE = "condition-full-20261204-candidate"


@pytest.fixture
def app_url(tmp_path, inspector):
    settings = Settings(data_dir=str(tmp_path / "data"))
    db = Database.from_settings(settings)
    register_configured_models(db, settings)
    folder = tmp_path / "candidate"
    shutil.copytree(settings.condition_model, folder)
    read_card(folder).replace(version=CANDIDATE).write(folder)
    registry.record(db, folder)
    evidence = Evidence("196 held-out real objects on 48 photos", 48)
    decision = decide(GateRule(min_per_condition=0, min_per_type=0), evidence, 0.62, 0.55, lambda sample: 0.07)
    registry.judge(db, "condition", CANDIDATE, True, _gate_figures(decision))
    add_user(db, "ada", "admin", "ada-password-123")
    demo = build_app(settings, ModelServer(settings, db, inspector), db)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, auth=auth_function(db))
    yield demo.local_url, db
    demo.close()


def test_an_admin_serves_a_version_after_reading_its_gate_report(app_url):
    from playwright.sync_api import expect, sync_playwright

    url, db = app_url
    shipped = registry.served_version(db, "condition").name
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = logged_in_page(browser, url, "ada", "ada-password-123")
        page.get_by_role("tab", name="Dashboard").click()  # opened before the change: it must follow it
        expect(page.locator("#dashboard-events")).not_to_contain_text("better on blocked drains")
        page.get_by_role("tab", name="Train").click()
        page.get_by_text("Served now").wait_for()
        page.get_by_label("Version to serve (an older one rolls back)").click()
        page.get_by_role("option", name=f"condition {CANDIDATE}").click()
        page.locator("#serve-ask").click()
        confirm = page.locator("#serve-report")
        expect(confirm).to_contain_text(f"You are about to serve {CANDIDATE} for every inspector")
        expect(confirm).to_contain_text("Passed: better than the served model beyond chance")

        page.locator("#serve-confirm-button").click()
        expect(page.get_by_text("Not served: tick the confirmation first")).to_be_visible()
        assert registry.served_version(db, "condition").name == shipped
        page.locator("#serve-reason textarea").fill("better on blocked drains")
        page.get_by_label("I have read the gate report").check()
        page.locator("#serve-confirm-button").click()
        expect(page.get_by_text("serves from the next request on")).to_be_visible()
        expect(page.locator("#serve-reason")).to_be_hidden()
        assert registry.served_version(db, "condition").name == CANDIDATE
        expect(page.locator("body")).to_contain_text("better on blocked drains")  # the Train tab's list

        page.get_by_role("tab", name="Dashboard").click()
        # The Dashboard's own timer brings the change (every 10 s), no reload.
        expect(page.locator("#dashboard-events")).to_contain_text("better on blocked drains", timeout=25_000)
        expect(page.locator("#dashboard-models")).to_contain_text(f"Condition model {CANDIDATE}")
        browser.close()
