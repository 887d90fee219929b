"""The Review tab driven in a real headless Chromium (Debian's /usr/bin/chromium via Playwright),
on the real app (``app.build_app``) launched with a login, over a fresh SQLite store holding real
photos of the val split with pending labels: log in as a reviewer through Gradio's login form,
change a label's condition, drag a box in the annotator canvas, press "Save & next", use a
keyboard shortcut, and find each change in the database with the reviewer as its actor."""

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select, update

from app import build_app
from core.settings import Settings
from lifecycle.server import ModelServer
from services.auth import auth_function
from storage import images as images_store
from storage import models as m
from storage import review as review_store
from storage.db import Database
from storage.formats.yolo_import import import_yolo_folder
from storage.users import add_user
from tests.conftest import DATA_DIR
from tests.storage.helpers import label_events, stored_label
from tests.ui.test_browser import CHROMIUM, CHROMIUM_ARGS
from ui.review_editor import display_scale, label_band

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
    pytest.mark.slow,  # a real browser: `pytest -m "not slow"` skips it
]
SCREENSHOT = Path(tempfile.gettempdir()) / "slope-review-tab.png"  # after the correction
OPENED_SHOT = Path(tempfile.gettempdir()) / "slope-review-tab-opened.png"  # the first photo, as opened
PASSWORD = "rita-password"
INSPECTOR_PASSWORD = "ines-password"
# Real val photos (224 x 224 drone crops) and their boxes: three slope drains, then a rock toe
# and a slope drain.
PHOTOS = {
    "0b172076bc7fc52f_jpg.rf.9f1fc09a3285df1a037d3ab713ba570c": 0.10,  # reviewed first
    "0eca27bc9224a5ec_jpg.rf.9f539a1327e09985ee365901f335d5b4": 0.20,
}
CANVAS_DRAWN_JS = "() => document.querySelector('#review-editor canvas.canvas-annotator')?.height > 0"
# Where the photo lies in the annotator's canvas, in page pixels: the canvas is as wide as its
# frame and as high as the drawn image (the photo under its label band of ``band`` photo pixels),
# which is centred in it.
PHOTO_ON_PAGE_JS = """(canvas, [w, h, band]) => {
  const r = canvas.getBoundingClientRect(), s = r.height / (h + band);
  return {left: r.left + (r.width - w * s) / 2, top: r.top + band * s, scale: s};
}"""


def export_of(tmp_path: Path, stems, size: tuple[int, int] | None = None) -> Path:
    """A YOLO export folder of these val photos (resized to ``size``, if given; YOLO boxes are
    relative, so they follow)."""
    export = tmp_path / "export"
    for sub in ("images", "labels"):
        (export / "val" / sub).mkdir(parents=True)
    shutil.copy(DATA_DIR / "data.yaml", export / "data.yaml")
    for stem in stems:
        with Image.open(DATA_DIR / "val" / "images" / f"{stem}.jpg") as photo:
            (photo.resize(size) if size else photo).save(export / "val" / "images" / f"{stem}.jpg", quality=95)
        shutil.copy(DATA_DIR / "val" / "labels" / f"{stem}.txt", export / "val" / "labels")
    return export


@pytest.fixture
def store(tmp_path):
    # A YOLO export folder of the chosen real photos, imported as a survey; then every label is
    # put back in the queue as a model's guess would stand there: pending, condition "normal".
    settings = Settings(data_dir=str(tmp_path / "data"))
    db = Database.from_settings(settings)
    add_user(db, "rita", "reviewer", PASSWORD)
    add_user(db, "ines", "inspector", INSPECTOR_PASSWORD)
    report = import_yolo_folder(db, settings.data_dir, export_of(tmp_path, PHOTOS), survey="north")
    assert (report.images_added, report.labels_added) == (2, 5)
    with db.write() as s:
        for stem, certainty in PHOTOS.items():
            image_id = s.scalar(select(m.Image.id).where(m.Image.original_name == f"{stem}.jpg"))
            s.execute(
                update(m.Label)
                .where(m.Label.image_id == image_id)
                .values(status="pending", condition="normal", certainty=certainty + m.Label.id / 1000)
            )
    yield settings, db
    db.dispose()


@contextmanager
def launched(settings: Settings, db: Database) -> Iterator[str]:
    """The real app with a login, on ``db``; yields its URL. No models are loaded: the Review tab
    needs none, and the server loads them on first use."""
    demo = build_app(settings, ModelServer(settings, db), db)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, auth=auth_function(db))
    try:
        yield demo.local_url
    finally:
        demo.close()


@pytest.fixture
def app_url(store):
    with launched(*store) as url:
        yield url


def logged_in_page(browser, url: str, user: str, password: str, init_script: str | None = None):
    """A new page on ``url``, logged in through Gradio's login form; ``init_script`` runs before
    the page's own scripts."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    if init_script is not None:
        page.add_init_script(init_script)
    page.goto(url)
    page.get_by_label("username").fill(user)
    page.get_by_label("password").fill(password)
    page.get_by_role("button", name="Login").click()
    return page


def review_page(browser, url: str, stem: str, init_script: str | None = None):
    """A reviewer's page on the Review tab with the queue open at photo ``stem``, drawn."""
    from playwright.sync_api import expect

    page = logged_in_page(browser, url, "rita", PASSWORD, init_script)
    page.get_by_role("tab", name="Review").click()
    page.locator("#review-load").click()
    expect(page.locator("#review-info")).to_contain_text(f"{stem}.jpg")
    page.wait_for_function(CANVAS_DRAWN_JS)
    page.wait_for_timeout(500)  # the photo decodes and the boxes are drawn
    return page


def photo_of(db, stem):
    with db.read() as s:
        image_id = s.scalar(select(m.Image.id).where(m.Image.original_name == f"{stem}.jpg"))
    return review_store.photo_view(db, image_id)


def labels_of(db, stem):
    return [stored_label(db, label.label_id) for label in photo_of(db, stem).labels]


def events(db, label_id):
    return [(e.actor, e.action) for e in label_events(db, label_id)]


def test_a_reviewer_corrects_a_photo_in_a_browser(app_url, store):
    from playwright.sync_api import expect, sync_playwright

    _, db = store
    first, second = PHOTOS
    drain1, drain2, drain3 = labels_of(db, first)  # least certain first: by id here
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = logged_in_page(browser, app_url, "rita", PASSWORD)
        page.get_by_role("tab", name="Review").click()
        # A survey named on the Inspect tab after the page was built is offered in the filter.
        with db.write() as s:
            images_store.get_or_create_survey(s, "East cut, March")
        page.locator("#review-survey input").click()
        expect(page.get_by_role("option", name="East cut, March")).to_be_visible()
        page.keyboard.press("Escape")
        page.locator("#review-load").click()
        info = page.locator("#review-info")
        expect(info).to_contain_text(f"{first}.jpg")
        expect(page.locator("#review-counts")).to_contain_text("To review: 5 labels on 2 photos")
        canvas = page.locator("#review-editor canvas.canvas-annotator")
        page.wait_for_function(CANVAS_DRAWN_JS)
        page.wait_for_timeout(500)  # the photo decodes and the boxes are drawn
        page.screenshot(path=str(OPENED_SHOT), full_page=True)
        # The component's rotate buttons are there, hidden: a turn saved every box wrong.
        rotate = page.locator('#review-editor button[aria-label^="Rotate"]')
        assert rotate.count() == 2 and not rotate.first.is_visible() and not rotate.last.is_visible()
        # The least certain label is selected, with its type and condition beside the photo.
        expect(page.locator("#review-pick input")).to_have_value(
            f"#{photo_of(db, first).number(drain1.id)} slope drain · normal (pending, {drain1.certainty:.2f})"
        )

        # The typical correction: the selected drain is blocked (condition dropdown: 2 clicks, saved
        # at once), another drain's box sits too far left (1 drag), then "Save & next" (1 click).
        page.locator("#review-condition input").click()
        page.get_by_role("option", name="blocked", exact=True).click()
        # Saved at once; the photo is drawn again with it (a drag meanwhile would be drawn over).
        expect(page.locator("#review-message")).to_contain_text("Saved 1 label change")
        page.wait_for_timeout(500)
        photo = photo_of(db, first)
        band = label_band(photo) / display_scale(photo)  # in the photo's pixels
        shown = canvas.evaluate(PHOTO_ON_PAGE_JS, [224, 224, band])  # the photo's size in pixels
        s = shown["scale"]
        x = shown["left"] + (drain3.x1 + drain3.x2) / 2 * s
        y = shown["top"] + (drain3.y1 + drain3.y2) / 2 * s
        page.mouse.move(x, y)
        page.mouse.down()
        for step in range(1, 11):
            page.mouse.move(x + 3 * step * s, y, steps=1)
        page.mouse.up()
        page.locator("#review-save-next").click()
        expect(info).to_contain_text(f"{second}.jpg")
        # On the next photo, the message names the photo it saved (its box numbers are not this one's)
        expect(page.locator("#review-message")).to_contain_text(re.compile(r"\.jpg: saved \d+ label changes?\."))

        label = stored_label(db, drain1.id)
        assert (label.condition, label.status) == ("blocked", "corrected")
        moved = stored_label(db, drain3.id)
        assert moved.x1 == pytest.approx(drain3.x1 + 30, abs=2) and moved.y1 == pytest.approx(drain3.y1, abs=1)
        assert stored_label(db, drain2.id).status == "accepted"
        assert events(db, drain1.id) == [("import", "import"), ("rita", "relabel")]
        assert events(db, drain2.id) == [("import", "import"), ("rita", "accept")]
        assert events(db, drain3.id) == [("import", "import"), ("rita", "move")]
        assert moved.status == "corrected"

        # A key listed on the page: "3" marks the selected label (the rock toe) damaged and saves it.
        expect(page.get_by_text("condition damaged (saves)")).to_be_visible()
        toe, drain = labels_of(db, second)
        expect(page.locator("#review-pick input")).to_have_value(
            f"#{photo_of(db, second).number(toe.id)} rock toe · normal (pending, {toe.certainty:.2f})"
        )
        page.locator("#review-counts").click()  # the page, not a field, has the focus
        page.keyboard.press("3")
        expect(page.locator("#review-message")).to_contain_text("Saved 1")
        assert (stored_label(db, toe.id).condition, events(db, toe.id)[-1][0]) == ("damaged", "rita")
        assert stored_label(db, drain.id).status == "pending"
        page.wait_for_timeout(500)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        print(f"screenshots: {SCREENSHOT} {OPENED_SHOT}")
        browser.close()


def test_each_role_sees_the_controls_it_may_use(app_url, capfd):
    """An inspector sees no Review or Train controls, a reviewer no Train controls: the tab says
    why instead (the handlers refuse them anyway: tests/ui/test_roles.py)."""
    from playwright.sync_api import expect, sync_playwright

    refused = {"Review": "needs a reviewer account", "Train": "needs an admin account"}
    controls = {"Review": "#review-load", "Train": "#train-start"}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for user, password, allowed in (("ines", INSPECTOR_PASSWORD, []), ("rita", PASSWORD, ["Review"])):
            page = logged_in_page(browser, app_url, user, password)
            for tab in ("Review", "Train"):
                page.get_by_role("tab", name=tab).click()
                if tab in allowed:
                    expect(page.locator(controls[tab])).to_be_visible()
                else:
                    expect(page.get_by_text(refused[tab])).to_be_visible()
                    expect(page.locator(controls[tab])).to_be_hidden()
                page.screenshot(path=str(Path(tempfile.gettempdir()) / f"slope-{tab.lower()}-as-{user}.png"))
            role = "reviewer" if allowed else "inspector"
            expect(page.locator("#account-line")).to_have_text(f"Logged in as {user} ({role}) · Log out")
            page.close()
        # Log out ends this browser's session only: a second tablet of the same account stays in.
        page, other = (logged_in_page(browser, app_url, "rita", PASSWORD) for _ in range(2))
        page.get_by_role("link", name="Log out").click()
        expect(page.get_by_role("button", name="Login")).to_be_visible()
        other.reload()
        expect(other.locator("#account-line")).to_contain_text("Logged in as rita")
        browser.close()
    # The box editor's files were loaded on every page, and Gradio's line for each is dropped.
    assert "environment=client" not in capfd.readouterr().out


# Every label tag the editor draws (a white rectangle 20 px high) with the canvas's width; run
# before the tab's script, which wraps it and so hands it the tags as shifted.
RECORD_TAGS_JS = """
window.__tags = [];
const fillRect = CanvasRenderingContext2D.prototype.fillRect;
CanvasRenderingContext2D.prototype.fillRect = function (x, y, w, h) {
  if (h === 20 && this.fillStyle === "#ffffff") window.__tags.push({x, y, w, h, canvas: this.canvas.width});
  return fillRect.call(this, x, y, w, h);
};
"""


def one_photo_store(tmp_path: Path, export: Path) -> tuple[Settings, Database]:
    """A store of ``export``'s photos, every label pending as a model's guess, and a reviewer."""
    settings = Settings(data_dir=str(tmp_path / "data"))
    db = Database.from_settings(settings)
    add_user(db, "rita", "reviewer", PASSWORD)
    import_yolo_folder(db, settings.data_dir, export)
    with db.write() as s:
        s.execute(update(m.Label).values(status="pending", condition="normal"))
    return settings, db


def queue_with_tags_recorded(p, url: str):
    """(browser, page): the reviewer's queue opened, each label tag the editor draws recorded."""
    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = logged_in_page(browser, url, "rita", PASSWORD, RECORD_TAGS_JS)
    page.get_by_role("tab", name="Review").click()
    page.locator("#review-load").click()
    return browser, page


def test_the_label_of_a_box_at_the_right_edge_stays_on_the_canvas(tmp_path):
    """A slope drain along the right edge of a 16:9 photo (a val photo un-stretched to 1280x720):
    the editor would start its label tag at the box's left edge and run it off the canvas; the
    tab's script shifts it left, so every tag lies on the canvas and that one ends at its edge."""
    from playwright.sync_api import sync_playwright

    stem = "0dee010601754d46_jpg.rf.e16b913cf7114fb8846515a6dcbbe137"  # a drain from 96% of the width
    settings, db = one_photo_store(tmp_path, export_of(tmp_path, [stem], size=(1280, 720)))
    try:
        with launched(settings, db) as url, sync_playwright() as p:
            browser, page = queue_with_tags_recorded(p, url)
            page.wait_for_function("() => window.__tags.length >= 3")  # the photo's 3 boxes
            page.wait_for_timeout(500)
            tags = page.evaluate("window.__tags")
            page.locator("#review-editor").screenshot(path=str(Path(tempfile.gettempdir()) / "slope-review-right.png"))
            browser.close()
    finally:
        db.dispose()
    assert all(0 <= t["x"] and t["x"] + t["w"] <= t["canvas"] + 0.5 for t in tags), tags
    assert any(abs(t["x"] + t["w"] - t["canvas"]) < 0.5 for t in tags), tags  # the right-edge drain's


def test_the_labels_of_boxes_side_by_side_do_not_cover_each_other(tmp_path):
    """Six drains side by side with their tops level (a drone photo of a long slope): the
    editor drew their tags, each wider than the gap between two drains, over each other; each is
    now drawn clear of the others."""
    from playwright.sync_api import sync_playwright

    stem = "Lagoon2and3_B0_41_V_jpg.rf.3f8247dc7ef6c2365d9413310fd73694"
    export = export_of(tmp_path, [stem])
    drains = "".join(f"1 {0.1 + 0.08 * i:.2f} 0.5 0.04 0.5\n" for i in range(6))  # class 1: slope drain
    (export / "val" / "labels" / f"{stem}.txt").write_text(drains)
    settings, db = one_photo_store(tmp_path, export)
    boxes = len(photo_of(db, stem).labels)
    try:
        with launched(settings, db) as url, sync_playwright() as p:
            browser, page = queue_with_tags_recorded(p, url)
            page.wait_for_function(f"() => window.__tags.length >= {boxes}")
            page.wait_for_timeout(500)
            page.evaluate("window.__tags = []")  # one whole frame: the space key redraws the photo
            page.locator("#review-editor .annotator-container").press(" ")
            page.wait_for_function(f"() => window.__tags.length >= {boxes}")
            tags = page.evaluate("window.__tags")[:boxes]
            page.locator("#review-editor").screenshot(
                path=str(Path(tempfile.gettempdir()) / "slope-review-crowded.png")
            )
            browser.close()
    finally:
        db.dispose()
    covered = [
        (a, b)
        for i, a in enumerate(tags)
        for b in tags[i + 1 :]
        if a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"]
        and b["y"] < a["y"] + a["h"]
    ]
    assert boxes == 6 and not covered, covered


def test_a_click_on_a_box_selects_it_and_a_filtered_queue_accepts_only_what_it_shows(app_url, store):
    """Click box #2 on the canvas, press 3, then n: #2 (not the pre-selected #1) is damaged. With
    the queue filtered to slope drains, n accepts the drains shown and leaves the rock toe
    pending; Enter after a button click means save & next, not that button again."""
    from playwright.sync_api import expect, sync_playwright

    _, db = store
    first, second = PHOTOS
    drain1, drain2, drain3 = labels_of(db, first)
    toe, drain = labels_of(db, second)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = logged_in_page(browser, app_url, "rita", PASSWORD)
        page.get_by_role("tab", name="Review").click()
        page.get_by_role("combobox", name="Object type").first.click()  # the queue's filter
        page.get_by_role("option", name="slope drain", exact=True).click()
        page.locator("#review-load").click()
        expect(page.locator("#review-info")).to_contain_text(f"{first}.jpg")
        pick = page.locator("#review-pick input")
        expect(pick).to_have_value(re.compile(r"^#1 slope drain"))
        page.wait_for_function(CANVAS_DRAWN_JS)
        page.wait_for_timeout(500)  # the photo decodes and the boxes are drawn
        photo = photo_of(db, first)
        number = photo.number(drain2.id)
        band = label_band(photo) / display_scale(photo)
        shown = page.locator("#review-editor canvas.canvas-annotator").evaluate(PHOTO_ON_PAGE_JS, [224, 224, band])
        s = shown["scale"]
        x, y = (drain2.x1 + drain2.x2) / 2, (drain2.y1 + drain2.y2) / 2
        page.mouse.click(shown["left"] + x * s, shown["top"] + y * s)
        expect(pick).to_have_value(re.compile(rf"^#{number} slope drain"))
        page.wait_for_timeout(1000)  # the outline follows at the next frame
        page.screenshot(path=str(Path(tempfile.gettempdir()) / "slope-review-selected.png"))
        page.keyboard.press("3")  # right after the click: 3 actions for a correction, with n
        expect(page.locator("#review-message")).to_contain_text("Saved 1")
        assert (stored_label(db, drain2.id).condition, events(db, drain2.id)[-1]) == ("damaged", ("rita", "relabel"))
        assert stored_label(db, drain1.id).condition == "normal"
        page.keyboard.press("n")  # the focus is on the photo: the editor takes it after a save
        expect(page.locator("#review-info")).to_contain_text(f"{second}.jpg")
        assert [stored_label(db, i).status for i in (drain1.id, drain3.id)] == ["accepted", "accepted"]
        # The rock toe is on this photo but outside the filter: Enter (after a button) saves & moves on.
        page.locator("#review-label-next").click()
        page.keyboard.press("Enter")
        expect(page.locator("#review-message")).to_contain_text("1 label outside the filters left pending")
        assert stored_label(db, drain.id).status == "accepted"
        assert stored_label(db, toe.id).status == "pending" and events(db, toe.id) == [("import", "import")]
        browser.close()


def test_the_queue_overview_finds_a_photo_by_name_and_opens_it(app_url, store):
    from playwright.sync_api import expect, sync_playwright

    first, second = PHOTOS
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = review_page(browser, app_url, first)
        expect(page.locator("#review-info")).to_contain_text("photo 1 of 2 in the queue")
        page.get_by_role("button", name="Queue overview: every photo under the filters").click()
        overview = page.locator("#review-overview")
        expect(overview).to_contain_text(f"{second}.jpg")
        page.get_by_label("Search by file name").fill(second[:10])
        page.get_by_label("Search by file name").press("Enter")
        expect(overview).not_to_contain_text(f"{first}.jpg")
        overview.locator("span.text", has_text=second).first.click()  # the cell, not its hidden twin
        expect(page.locator("#review-info")).to_contain_text(f"{second}.jpg")
        expect(page.locator("#review-info")).to_contain_text("photo 2 of 2 in the queue")
        page.screenshot(path=str(Path(tempfile.gettempdir()) / "slope-review-overview.png"), full_page=True)
        browser.close()


def test_a_box_drawn_takes_the_class_chosen_before_drawing_without_a_dialog(app_url, store):
    from playwright.sync_api import expect, sync_playwright

    _, db = store
    first, _ = PHOTOS
    before = {label.id for label in labels_of(db, first)}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = review_page(browser, app_url, first)
        chooser = page.locator("#review-new-class input")
        chooser.click()
        chooser.fill("toe drain · bl")  # typed to filter the list, then picked with Enter
        chooser.press("Enter")
        expect(chooser).to_have_value("toe drain · blocked")
        page.wait_for_function(CANVAS_DRAWN_JS)
        page.wait_for_timeout(500)
        photo = photo_of(db, first)
        band = label_band(photo) / display_scale(photo)
        shown = page.locator("#review-editor canvas.canvas-annotator").evaluate(PHOTO_ON_PAGE_JS, [224, 224, band])
        s = shown["scale"]
        page.locator('#review-editor button[aria-label="Create box"]').click()
        x, y = shown["left"] + 110 * s, shown["top"] + 180 * s  # empty ground below the middle
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 40 * s, y + 25 * s, steps=8)
        page.mouse.up()
        expect(page.locator(".modal")).to_have_count(0)  # no dialog asked for the class
        page.locator("#review-save").click()
        expect(page.locator("#review-message")).to_contain_text("Saved 1 label change")
        browser.close()
    (added,) = [label for label in labels_of(db, first) if label.id not in before]
    assert (added.object_type, added.condition, added.status, added.author) == ("toe_drain", "blocked", "added", "rita")
    assert added.x1 == pytest.approx(110, abs=2) and added.y2 == pytest.approx(205, abs=2)


def test_box_labels_can_be_hidden_and_boxes_still_select_and_fit(app_url, store):
    from playwright.sync_api import expect, sync_playwright

    _, db = store
    first, _ = PHOTOS
    _, drain2, _ = labels_of(db, first)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = review_page(browser, app_url, first, RECORD_TAGS_JS)
        page.get_by_label("Box labels on the photo").uncheck()
        page.wait_for_timeout(300)
        page.evaluate("() => { window.__tags = []; }")
        page.locator("#review-fit").click()  # draws the photo again
        page.wait_for_timeout(300)
        assert page.evaluate("() => window.__tags.length") == 0  # no tag drawn
        photo = photo_of(db, first)
        band = label_band(photo) / display_scale(photo)
        page.evaluate("() => window.scrollTo(0, 0)")  # the switch under the photo scrolled the page
        shown = page.locator("#review-editor canvas.canvas-annotator").evaluate(PHOTO_ON_PAGE_JS, [224, 224, band])
        s = shown["scale"]
        page.mouse.click(
            shown["left"] + (drain2.x1 + drain2.x2) / 2 * s, shown["top"] + (drain2.y1 + drain2.y2) / 2 * s
        )
        expect(page.locator("#review-pick input")).to_have_value(re.compile(rf"^#{photo.number(drain2.id)} "))
        page.get_by_label("Box labels on the photo").check()
        page.wait_for_timeout(300)
        assert page.evaluate("() => window.__tags.length") > 0
        browser.close()


# Gradio's red "Error" badges shown on the page's components (the status tracker of each output of
# an event that raised), by the component's id.
ERROR_BADGES_JS = """() => [...document.querySelectorAll('.block span.error')]
  .filter(e => e.offsetParent !== null).map(e => e.closest('.block').id || e.closest('.block').className)"""


def test_a_refused_action_is_said_in_the_message_and_marks_nothing_else(app_url, store):
    """Save (s) and a label key (j) before the queue is open, then Export with nothing reviewed:
    each refusal is written in its panel's message; raised, it put an "Error" badge on the photo,
    the label lists, the tables and the download, hiding what they showed."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = logged_in_page(browser, app_url, "rita", PASSWORD)
        page.get_by_role("tab", name="Review").click()
        page.locator("#review-load").wait_for()
        page.locator("#review-save").click()
        expect(page.locator("#review-message")).to_have_text("Open the queue first: no photo is shown.")
        page.keyboard.press("j")
        page.get_by_role("button", name="Export reviewed labels").click()
        page.locator("#export-run").click()
        expect(page.locator("#export-message")).to_contain_text("Nothing to export")
        page.wait_for_timeout(500)
        page.screenshot(path=str(Path(tempfile.gettempdir()) / "slope-review-refused.png"), full_page=True)
        assert page.evaluate(ERROR_BADGES_JS) == []
        # The queue opens as ever afterwards, and the message is cleared.
        page.locator("#review-load").click()
        expect(page.locator("#review-info")).to_contain_text(f"{next(iter(PHOTOS))}.jpg")
        expect(page.locator("#review-message")).to_have_text("")
        browser.close()
