"""Two app processes on two ports sharing one PostgreSQL database, the broker and the photo
store, used in a real browser: a survey queued on one is followed and cancelled on the other; a
promotion made on the record reaches the next request of both replicas and the worker's next
chunk."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from sqlalchemy import select

from core.model_card import read_card
from core.settings import PROJECT_ROOT
from lifecycle import registry
from lifecycle.server import register_configured_models
from storage import models as m
from storage.users import add_user
from tests.ui.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.ui.test_review_browser import logged_in_page

pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"), pytest.mark.slow]
CANDIDATE = "condition-replica-candidate"
PASSWORD = "a long password"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_app(cluster, name: str):
    port = _free_port()
    env = {**cluster.env, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1"}
    log = (cluster.logs / f"{name}.log").open("w")
    process = subprocess.Popen([sys.executable, "app.py"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log)
    cluster.apps.append(process)  # stopped with the workers
    return f"http://127.0.0.1:{port}/", process


def _wait_answering(url: str, process, log) -> None:
    deadline = time.monotonic() + 180
    while True:
        try:
            if urllib.request.urlopen(url, timeout=5).status == 200:
                return
        except OSError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.5)


def _queue(page, photos, name: str) -> None:
    page.get_by_role("tab", name="Queued surveys").click()
    page.locator("#queue-files input[type=file]").set_input_files([str(p) for p in photos])
    page.locator("#queue-files").get_by_text(photos[-1].stem).wait_for()  # uploaded
    page.get_by_label("Survey name", exact=True).fill(name)
    page.get_by_role("button", name="Queue the survey").click()


def test_two_replicas_share_queued_surveys_and_promotions(cluster, val_images, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    add_user(cluster.db, "ines", "inspector", PASSWORD)
    add_user(cluster.db, "ada", "admin", PASSWORD)
    register_configured_models(cluster.db, cluster.settings)
    url_a, app_a = _start_app(cluster, "replica-a")
    url_b, app_b = _start_app(cluster, "replica-b")
    _wait_answering(url_a, app_a, cluster.logs / "replica-a.log")
    _wait_answering(url_b, app_b, cluster.logs / "replica-b.log")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        inspector_page = logged_in_page(browser, url_a, "ines", PASSWORD)
        admin_page = logged_in_page(browser, url_b, "ada", PASSWORD)

        # No worker yet: queued on replica A, the survey waits; replica B sees it and cancels it.
        _queue(inspector_page, val_images[:6], "flight one")
        expect(inspector_page.locator("#queue-message")).to_contain_text("Queued survey 1: 6 photos in 2 chunks.")
        admin_page.get_by_role("tab", name="Queued surveys").click()
        surveys = admin_page.locator("#queued-surveys")
        expect(surveys).to_contain_text("flight one")
        expect(surveys).to_contain_text("2 queued")
        surveys.locator("span.text", has_text="flight one").first.click()
        expect(admin_page.get_by_text("Survey 1 (flight one): Queued")).to_be_visible()
        expect(admin_page.locator("#queue-chunks")).to_contain_text("1 of 2")
        admin_page.get_by_role("button", name="Cancel this survey").click()
        expect(admin_page.locator("#queue-message")).to_contain_text("Survey 1 cancelled: 2 chunks stopped")
        expect(surveys).to_contain_text("Cancelled")
        expect(inspector_page.locator("#queued-surveys")).to_contain_text("Cancelled")  # A follows it too

        # A promotion on the record (what the Train tab's confirmation writes), then a worker.
        folder = tmp_path / "candidate"
        shutil.copytree(cluster.settings.condition_model, folder)
        read_card(folder).replace(version=CANDIDATE).write(folder)
        registry.record(cluster.db, folder)
        registry.promote(cluster.db, "condition", CANDIDATE, actor="ada", reason="replica test")
        cluster.start_worker("w1")
        cluster.wait_ready()
        _queue(inspector_page, val_images[6:12], "flight two")
        expect(inspector_page.locator("#queue-message")).to_contain_text("Queued survey 2: 6 photos in 2 chunks.")
        expect(surveys).to_contain_text("flight two")
        # (survey 1 shows "2 cancelled"; Gradio keeps a hidden copy of the table, so no row locator)
        expect(surveys).to_contain_text("2 done", timeout=120_000)
        # Its report: made by the worker on the first press, handed out by replica B after.
        surveys.locator("span.text", has_text="flight two").first.click()
        expect(admin_page.get_by_text("Survey 2 (flight two): Done")).to_be_visible()
        admin_page.get_by_role("button", name="Report of this survey").click()
        expect(admin_page.locator("#queue-message")).to_contain_text("A worker is making the report of survey 2")
        html = admin_page.locator("#queue-html-report")
        deadline = time.monotonic() + 60
        while not re.search(r"report\s*\.html", html.inner_text()):  # the name shows as "report" ".html"
            assert time.monotonic() < deadline, "no report in 60 s"
            admin_page.wait_for_timeout(1000)
            admin_page.get_by_role("button", name="Report of this survey").click()
        expect(admin_page.locator("#queue-csv-report")).to_contain_text(re.compile(r"findings\s*\.csv"))
        admin_page.screenshot(path=str(tmp_path / "queued-surveys.png"), full_page=True)

        # Replica B's next inspection, in its Inspect tab, runs on the promoted model too.
        admin_page.get_by_role("tab", name="Inspect").click()
        admin_page.locator("input[type=file]").first.set_input_files(str(val_images[20]))
        admin_page.get_by_text(val_images[20].stem).first.wait_for()  # uploaded
        admin_page.get_by_role("button", name="Inspect", exact=True).click()
        expect(admin_page.get_by_text("1 photo inspected").first).to_be_visible(timeout=60_000)
        browser.close()
    with cluster.db.read() as session:
        versions = dict(session.execute(select(m.Inspection.created_by, m.Inspection.condition_version)).all())
        count = len(session.scalars(select(m.Inspection.id)).all())
    # 6 by the worker (for ines) and 1 by replica B (for ada), all on the promoted model
    assert (count, versions) == (7, {"ines": CANDIDATE, "ada": CANDIDATE})
    if os.environ.get("KEEP_SCREENSHOTS"):
        shutil.copy(tmp_path / "queued-surveys.png", os.environ["KEEP_SCREENSHOTS"])
