"""The Inspect tab driven in a real headless Chromium (Debian's /usr/bin/chromium via Playwright):
upload a photo through the page's file input, press Inspect, see the drawing and the table."""

import shutil
import tempfile
from pathlib import Path

import pytest

from app import build_app
from core.settings import Settings
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
    demo = build_app(settings, inspector, Database.from_settings(settings))
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    yield demo.local_url
    demo.close()


def test_upload_and_inspect_in_a_browser(app_url, val_images):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(app_url)
        page.locator("input[type=file]").first.set_input_files(str(val_images[0]))
        page.get_by_role("button", name="Inspect", exact=True).click()
        page.get_by_text("photo(s) inspected").first.wait_for(timeout=60_000)
        assert page.locator("text=Findings").count() >= 1
        gallery_images = page.locator(".gallery-item img, button.thumbnail-item img, [data-testid='gallery'] img")
        gallery_images.first.wait_for(timeout=30_000)
        assert gallery_images.count() >= 1
        summary = page.get_by_text("photo(s) inspected").first.inner_text()
        assert summary.startswith("1 photo(s) inspected")
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        browser.close()
