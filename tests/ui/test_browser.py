"""The Inspect tab driven in a real headless Chromium (Debian's /usr/bin/chromium via Playwright):
upload a photo through the page's file input, press Inspect, see the drawing and the table."""

import shutil
import tempfile
from pathlib import Path

import pytest

from app import build_app
from core.settings import Settings
from services.serving import ModelServer
from storage.db import Database

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
SCREENSHOT = Path(tempfile.gettempdir()) / "slope-inspect-browser-test.png"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def app_url(inspector, tmp_path_factory):
    settings = Settings(data_dir=str(tmp_path_factory.mktemp("browser-data")))
    db = Database.from_settings(settings)
    demo = build_app(settings, ModelServer(settings, db, inspector), db)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    yield demo.local_url
    demo.close()


def test_upload_and_inspect_in_a_browser(app_url, val_images):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(app_url)
        gallery_images = page.locator(".gallery-item img, button.thumbnail-item img, [data-testid='gallery'] img")
        table_cells = page.locator("table td", has_text=val_images[0].name)
        page.get_by_role("button", name="Inspect", exact=True).wait_for(timeout=30_000)
        # Before the click: no result anywhere on the page.
        assert page.get_by_text("photo(s) inspected").count() == 0
        assert gallery_images.count() == 0 and table_cells.count() == 0
        page.locator("input[type=file]").first.set_input_files(str(val_images[0]))
        page.get_by_role("button", name="Inspect", exact=True).click()
        page.get_by_text("photo(s) inspected").first.wait_for(timeout=60_000)
        summary = page.get_by_text("photo(s) inspected").first.inner_text()
        assert summary.startswith("1 photo(s) inspected")
        gallery_images.first.wait_for(timeout=30_000)
        assert gallery_images.count() >= 1
        table_cells.first.wait_for(state="attached", timeout=30_000)  # the findings table has its rows
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        browser.close()
