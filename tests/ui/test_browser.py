"""The Inspect tab driven in a real headless Chromium (Debian's /usr/bin/chromium via Playwright):
upload a photo through the page's file input, press Inspect, see the drawing and the table."""

import shutil
import tempfile
from pathlib import Path
from urllib.parse import urljoin

import pytest

from app import build_app, launch
from core.report.rows import TABLE_COLUMNS, short_name
from core.settings import Settings
from lifecycle.server import ModelServer
from storage.db import Database
from ui.inspect_tab import TABLE_WIDTHS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
    pytest.mark.slow,  # a real browser: `pytest -m "not slow"` skips it
]
SCREENSHOT = Path(tempfile.gettempdir()) / "slope-inspect-browser-test.png"
RESULT_SHOT = Path(tempfile.gettempdir()) / "slope-inspect-result.png"
REPORT_SHOT = Path(tempfile.gettempdir()) / "slope-inspect-report.png"
DASHBOARD_SHOT = Path(tempfile.gettempdir()) / "slope-dashboard-browser-test.png"
# Where the drawn photo lies on the page: the img's box, and the part of it the picture fills
# (object-fit contain letterboxes the picture inside the box; cover would crop it).
DRAWN_BOX_JS = """img => {
  const r = img.getBoundingClientRect(), fit = getComputedStyle(img).objectFit;
  const nw = img.naturalWidth, nh = img.naturalHeight;
  let w = r.width, h = r.height;
  if (fit === "contain" || fit === "scale-down") {
    const s = Math.min(r.width / nw, r.height / nh); w = nw * s; h = nh * s;
  }
  const frame = img.closest("#inspect-gallery").getBoundingClientRect();
  const left = r.left + (r.width - w) / 2, top = r.top + (r.height - h) / 2;
  return {fit, natural: nw / nh, drawn: w / h, box: [left, top, left + w, top + h],
          frame: [frame.left, frame.top, frame.right, frame.bottom]};
}"""
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
    launch(demo, settings, db, prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)  # as app.py serves it
    yield demo.local_url
    demo.close()


def test_upload_and_inspect_in_a_browser(app_url, val_images):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app_url)
        gallery_images = page.locator("#inspect-gallery img")
        table_rows = page.locator("#inspect-table .virtual-body [role=row]")
        page.get_by_role("button", name="Inspect", exact=True).wait_for(timeout=30_000)
        # Before the click: no result anywhere on the page.
        assert page.get_by_text("photos inspected").count() == 0
        assert gallery_images.count() == 0
        first, second = val_images[0], val_images[4]
        page.locator("input[type=file]").first.set_input_files([str(first), str(second)])
        # Progress text is shown only while the batch runs: record every "photo n of m" seen.
        page.evaluate(
            """() => { window.progressSeen = new Set();
            new MutationObserver(() => { for (const m of document.body.innerText.matchAll(/photo \\d+ of \\d+/g))
              window.progressSeen.add(m[0]); }).observe(document.body, {subtree: true, childList: true,
              characterData: true}); }"""
        )
        page.get_by_role("button", name="Inspect", exact=True).click()
        page.get_by_text("photos inspected").first.wait_for(timeout=60_000)
        assert set(page.evaluate("[...window.progressSeen]")) & {"photo 1 of 2", "photo 2 of 2"}
        summary = page.get_by_text("photos inspected").first.inner_text()
        assert summary.startswith("2 photos inspected")
        assert "does not apply to the object" in page.locator("#inspect-table-key").inner_text()  # the table's "–"
        gallery_images.first.wait_for(timeout=30_000)
        page.wait_for_function("[...document.querySelectorAll('#inspect-gallery img')].every(i => i.complete)")
        page.wait_for_timeout(500)  # layout settles after the image decodes
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        page.locator("#inspect-gallery").screenshot(path=str(RESULT_SHOT))
        print(f"screenshots: {SCREENSHOT} {RESULT_SHOT}")

        # The drawn photo fits its frame whole (nothing cut off at the bottom) and keeps its shape.
        shown = page.locator("#inspect-gallery .media-button img").evaluate(DRAWN_BOX_JS)
        x1, y1, x2, y2 = shown["box"]
        fx1, fy1, fx2, fy2 = shown["frame"]
        assert fx1 - 1 <= x1 and fy1 - 1 <= y1 and x2 <= fx2 + 1 and y2 <= fy2 + 1, shown
        assert abs(shown["drawn"] - shown["natural"]) < 0.02 * shown["natural"], shown

        # Each table row carries its box number, counted from 1 as drawn on the photo.
        header = [h.strip() for h in page.locator("#inspect-table thead th").all_inner_texts()]
        assert header[:4] == ["Photo", "Box", "Object", "Condition"], header
        # Gradio's table draws its rows as role=row / role=gridcell elements of a virtual list.
        table_rows.first.wait_for(timeout=30_000)
        cells = [[c.strip() for c in r.get_by_role("gridcell").all_inner_texts()] for r in table_rows.all()]
        assert cells and {row[0] for row in cells} <= {short_name(first.name), short_name(second.name)}, cells
        for photo in {row[0] for row in cells}:  # numbered from 1 on each photo, as drawn
            boxes = [row[1] for row in cells if row[0] == photo]
            assert boxes == [str(n) for n in range(1, len(boxes) + 1)] or boxes == [""], cells

        # On a phone the table scrolls sideways and its columns keep their widths (as shares of
        # the frame they were squeezed to one letter a line).
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(300)
        widths = page.locator("#inspect-table thead th").evaluate_all("hs => hs.map(h => h.offsetWidth)")
        assert min(widths) >= 47 and sum(widths) > 1000, widths
        page.set_viewport_size({"width": 1400, "height": 1000})

        # Clicking the second photo's thumbnail leaves only its rows in the table.
        page.locator("#inspect-gallery button.thumbnail-item").nth(1).click()
        page.wait_for_function(
            "name => [...document.querySelectorAll('#inspect-table .virtual-body [role=row]')]"
            ".every(r => r.innerText.includes(name))",
            arg=short_name(second.name),
            timeout=30_000,
        )
        assert table_rows.count() >= 1

        # The HTML report opens in the browser: its summary, both photos, nothing wider than the page.
        link = page.locator("#inspect-html-report a").first
        link.wait_for(timeout=30_000)
        html = page.request.get(urljoin(app_url, link.get_attribute("href"))).text()  # served as a download
        # The report and the drawn photos are this browser's: another one (the app has no accounts
        # here) is told there is no such file, even with their addresses.
        drawn = page.locator("#inspect-gallery img").first.get_attribute("src")
        assert page.request.get(urljoin(app_url, drawn)).ok
        other = browser.new_context()
        other.new_page().goto(app_url)  # a page of its own: it has a browser id too
        for address in (link.get_attribute("href"), drawn):
            assert other.request.get(urljoin(app_url, address)).status == 404, address
        other.close()
        report = browser.new_page(viewport={"width": 1200, "height": 900})
        report.set_content(html)  # self-contained: nothing else to load
        report.get_by_role("heading", name="Summary").wait_for(timeout=30_000)
        assert report.locator("section[id^=photo-] img.photo").count() == 2
        overflow = report.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the report is {overflow} px wider than its window"
        report.screenshot(path=str(REPORT_SHOT), full_page=True)
        print(f"screenshot: {REPORT_SHOT}")
        report.close()

        # New files clear the old result before anything is inspected.
        page.locator("input[type=file]").first.set_input_files(str(val_images[1]))
        page.get_by_text("photos inspected").first.wait_for(state="detached", timeout=10_000)
        assert gallery_images.count() == 0
        browser.close()


# The findings table's columns in the page: whether anything scrolls sideways, each column's
# header and first cell (left, right) against the frame's, and texts cut off in their cells.
TABLE_FIT_JS = """() => {
  const t = document.querySelector('#inspect-table'), view = t.querySelector('.virtual-table-viewport');
  const frame = view.getBoundingClientRect();
  const span = e => { const r = e.getBoundingClientRect(); return [r.left, r.right]; };
  const shown = e => e.getBoundingClientRect().width > 0;
  return {sideways: view.scrollWidth - view.clientWidth, frame: [frame.left, frame.right],
    headers: [...t.querySelectorAll('thead th')].filter(shown)
      .map(h => [h.querySelector('.header-content').innerText.trim(), ...span(h)]),
    cells: [...t.querySelector('.virtual-row').children].map(c => [c.innerText.trim(), ...span(c)]),
    cut: [...t.querySelectorAll('thead th .header-content, .virtual-row .body-cell span')]
      .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)};
}"""
TABLET_SHOT = Path(tempfile.gettempdir()) / "slope-inspect-tablet.png"


def test_the_findings_table_reads_on_a_tablet_without_scrolling_sideways(app_url, val_images):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 800, "height": 1000})
        page.goto(app_url)
        page.get_by_role("button", name="Inspect", exact=True).wait_for(timeout=30_000)
        page.locator("input[type=file]").first.set_input_files([str(val_images[0]), str(val_images[4])])
        page.get_by_role("button", name="Inspect", exact=True).click()
        page.locator("#inspect-table .virtual-body [role=row]").first.wait_for(timeout=60_000)
        page.wait_for_timeout(500)
        # 800 px (a 704 px frame): it scrolled sideways past "Damaged"; 1024 px (960 px frame) too.
        for width in (800, 1024):
            page.set_viewport_size({"width": width, "height": 1000})
            page.wait_for_timeout(500)
            fit = page.evaluate(TABLE_FIT_JS)
            left, right = fit["frame"]
            assert fit["sideways"] <= 0, fit
            assert all(left - 1 <= x1 and x2 <= right + 1 for _, x1, x2 in fit["headers"] + fit["cells"]), fit
            assert not fit["cut"], fit
            assert [h[0] for h in fit["headers"]][:8] == TABLE_COLUMNS[:8], fit  # every column, its header whole
            assert len(fit["cells"]) == len(TABLE_COLUMNS) and fit["cells"][-1][0], fit  # the position too
            if width == 800:
                page.locator("#inspect-table").screenshot(path=str(TABLET_SHOT))
                print(f"screenshot: {TABLET_SHOT}")
        # On a desktop the columns keep their set widths.
        page.set_viewport_size({"width": 1400, "height": 1000})
        page.wait_for_timeout(500)
        widths = page.locator("#inspect-table thead th").evaluate_all("hs => hs.map(h => h.offsetWidth)")
        assert widths == [int(w.removesuffix("px")) for w in TABLE_WIDTHS], widths
        browser.close()


def test_dashboard_in_a_browser(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app_url)
        page.get_by_role("tab", name="Dashboard").click()
        page.get_by_text("Served models").first.wait_for(timeout=30_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(DASHBOARD_SHOT), full_page=True)
        print(f"screenshot: {DASHBOARD_SHOT}")
        text = page.locator("body").inner_text()
        assert "mAP@0.5" in text and page.locator("a[href^='mailto:']").count() == 0
        assert text.count("Dataset analysis") == 1
        # The analysis is chosen by name: the page offers no path to type.
        assert page.get_by_label("Data to analyse").count() == 1
        browser.close()
