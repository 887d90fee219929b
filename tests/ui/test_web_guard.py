"""The web server in front of the app, as ``app.py`` launches it (``app.launch``): the
login page carries no API description, guessing is cut off with a reason, the address is the
caller's, a logout ends the session, and a failure nobody foresaw reads as a plain sentence."""

import tempfile
from pathlib import Path

import httpx
import pytest

from app import build_app, launch
from core.settings import Settings
from lifecycle.server import ModelServer, register_configured_models
from services import auth
from storage.db import Database
from storage.users import add_user, update_user
from ui.web_guard import LOGIN_PAGE, login_check


@pytest.fixture
def app_url(tmp_path, inspector):
    settings = Settings(data_dir=str(tmp_path / "data"))
    db = Database.from_settings(settings)
    register_configured_models(db, settings)
    add_user(db, "ada", "admin", "ada-password-123")
    with db.write() as session:  # a survey name: data the login page must not carry
        from storage import models as m

        session.add(m.Survey(name="north-embankment-secret"))
    demo = build_app(settings, ModelServer(settings, db, inspector), db)
    launch(demo, settings, db, auth=login_check(db), prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    yield demo.local_url.rstrip("/"), db
    demo.close()


def test_the_login_page_carries_no_api_description_and_a_logged_in_page_does(app_url):
    url, _ = app_url
    with httpx.Client() as client:
        page = client.get(url + "/").text
        assert '"auth_required":true' in page.replace(" ", "")
        assert "window.gradio_api_info = {};" in page
        assert "/inspect" not in page and "north-embankment-secret" not in page
        assert client.get(url + "/gradio_api/info").status_code == 401
        assert client.post(url + "/login", data={"username": "ada", "password": "ada-password-123"}).is_success
        page = client.get(url + "/").text
        assert "window.gradio_api_info = {};" not in page and "/inspect" in page


def test_guessing_a_password_is_cut_off_with_a_reason(app_url):
    url, _ = app_url
    with httpx.Client() as client:
        for _ in range(auth.MAX_FAILURES_PER_NAME):
            answer = client.post(url + "/login", data={"username": "ada", "password": "guess-guess"})
            assert answer.status_code == 400 and answer.json()["detail"] == "Incorrect credentials."
        answer = client.post(url + "/login", data={"username": "ada", "password": "ada-password-123"})
        assert answer.status_code == 429
        assert answer.json()["detail"] == "Too many failed logins for this name: try again in 15 minutes."


def test_failures_are_counted_against_the_callers_address(app_url):
    url, db = app_url
    with httpx.Client() as client:
        client.post(url + "/login", data={"username": "someone", "password": "guess-guess"})
    from sqlalchemy import select

    from storage import models as m

    with db.read() as session:
        assert session.scalar(select(m.LoginFailure.address)) == "127.0.0.1"


def test_logging_out_over_plain_http_ends_the_session(app_url):
    url, _ = app_url
    with httpx.Client() as client:
        assert client.post(url + "/login", data={"username": "ada", "password": "ada-password-123"}).is_success
        # Over plain HTTP only the non-secure cookie comes back (the secure one is never sent).
        [cookie] = [(name, value) for name, value in client.cookies.items() if name.startswith("access-token-unsecure")]
        assert client.get(url + "/gradio_api/info").status_code == 200
        client.get(url + "/logout?all_session=false")  # this browser's session only, as the page's link does
    with httpx.Client(cookies=dict([cookie])) as replay:  # the cookie kept, say by a copy of the browser profile
        assert replay.get(url + "/gradio_api/info").status_code == 401


def test_an_unforeseen_failure_reads_as_a_plain_sentence_with_an_id(app_url, caplog):
    from gradio_client import Client
    from sqlalchemy import text

    url, db = app_url
    client = Client(url, auth=("ada", "ada-password-123"), verbose=False)
    with db.write() as session:  # a damaged store: a table gone
        session.execute(text("DROP TABLE model_events"))
    with pytest.raises(Exception) as failed:
        client.predict(api_name="/dashboard_refresh")
    message = str(failed.value)
    assert "Something went wrong on the server (error " in message
    assert "SQL" not in message and "model_events" not in message and "/tmp" not in message
    error_id = message.split("(error ", 1)[1].split(":", 1)[0]
    assert any(error_id in record.getMessage() and record.exc_info for record in caplog.records)


def _logged_in(url: str, name: str, password: str) -> httpx.Client:
    client = httpx.Client()
    assert client.post(url + "/login", data={"username": name, "password": password}).is_success
    assert client.get(url + "/gradio_api/info").status_code == 200
    return client


def test_a_session_ends_once_its_account_is_disabled_or_its_password_set(app_url, monkeypatch):
    from ui import sessions

    monkeypatch.setattr(sessions, "RECHECK_S", 0.0)  # each request sees the account as it is now
    url, db = app_url
    add_user(db, "bob", "inspector", "bob-password-123")
    ada, bob = _logged_in(url, "ada", "ada-password-123"), _logged_in(url, "bob", "bob-password-123")
    kept = httpx.Client()  # a login made with the leaked password, kept unused until after the reset
    assert kept.post(url + "/login", data={"username": "bob", "password": "bob-password-123"}).is_success
    [(name, token)] = [(k, v) for k, v in kept.cookies.items() if k.startswith("access-token-unsecure")]
    # Bob's password leaked and was reset: the sessions made with it are over, his new login works.
    update_user(db, "bob", password="bob-new-password")
    assert bob.get(url + "/gradio_api/info").status_code == 401
    # The kept token, sent behind a cookie a strict parser gives up on (Gradio's reads past it).
    replay = httpx.get(url + "/gradio_api/info", headers={"cookie": f'x="; {name}={token}'})
    assert replay.status_code == 401
    assert kept.get(url + "/gradio_api/info").status_code == 401
    assert LOGIN_PAGE.search(bob.get(url + "/").content)  # the page asks for a login again
    bob = _logged_in(url, "bob", "bob-new-password")
    # Disabled: every session of his ends at its next request; an enabled account's goes on.
    update_user(db, "bob", disabled=True)
    assert bob.get(url + "/gradio_api/info").status_code == 401
    assert ada.get(url + "/gradio_api/info").status_code == 200
    update_user(db, "bob", disabled=False)
    assert bob.get(url + "/gradio_api/info").status_code == 401  # enabling him again does not revive it


def test_a_request_folders_files_go_to_their_owner_only(app_url):
    from ui.scratch import owner_key, scratch_folder

    url, db = app_url
    add_user(db, "bob", "inspector", "bob-password-123")
    ada, bob = _logged_in(url, "ada", "ada-password-123"), _logged_in(url, "bob", "bob-password-123")
    mine = scratch_folder("inspection-report", owner=owner_key("bob", None)) / "report.html"
    mine.write_text("<p>north embankment findings</p>")
    shared = scratch_folder("dashboard") / "plot.txt"  # nobody's: the served models' plots
    shared.write_text("plot")
    for route in (
        f"/gradio_api/file={mine}",
        f"/gradio_api/file/{mine}",
        f"/gradio_api/file={mine.parent}/../{mine.parent.name}/report.html",
    ):
        assert bob.get(url + route).status_code == 200, route
        answer = ada.get(url + route)  # an admin too: it is Bob's, fetched by Bob's browser
        assert answer.status_code == 404 and "embankment" not in answer.text, route
        assert ada.head(url + route).status_code == 404
    assert ada.get(url + f"/gradio_api/file={shared}").text == "plot"
    # A photo uploaded (shown as a link in the upload box) is its uploader's: the same photo
    # uploaded by another account is theirs too.
    photo = {"files": ("slope.jpg", b"\xff\xd8 a photo's bytes", "image/jpeg")}
    [uploaded] = bob.post(url + "/gradio_api/upload", files=photo).json()
    assert bob.get(url + f"/gradio_api/file={uploaded}").status_code == 200
    assert ada.get(url + f"/gradio_api/file={uploaded}").status_code == 404
    assert ada.post(url + "/gradio_api/upload", files=photo).json() == [uploaded]
    assert ada.get(url + f"/gradio_api/file={uploaded}").status_code == 200
    with httpx.Client() as nobody:
        assert nobody.get(url + f"/gradio_api/file={mine}").status_code in (401, 404)


@pytest.mark.slow  # a real browser
def test_a_page_whose_session_ended_says_so_and_how_to_log_in_again(app_url, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    from tests.ui.test_browser import CHROMIUM, CHROMIUM_ARGS
    from ui import sessions

    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed")
    monkeypatch.setattr(sessions, "RECHECK_S", 0.0)
    url, db = app_url
    add_user(db, "bob", "inspector", "bob-password-123")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.set_default_timeout(60_000)
        page.goto(url)
        page.get_by_label("username").fill("bob")
        page.get_by_label("password").fill("bob-password-123")
        page.get_by_role("button", name="Login").click()
        expect(page.locator("#account-line")).to_contain_text("Logged in as bob")
        page.wait_for_timeout(1000)  # the page's own requests after loading
        assert page.locator("#session-ended").count() == 0
        update_user(db, "bob", disabled=True)
        page.get_by_role("button", name="My uploads").click()  # opening it lists them: refused now
        expect(page.locator("#session-ended")).to_contain_text("Your session has ended")
        page.screenshot(path=str(Path(tempfile.gettempdir()) / "slope-session-ended.png"))
        page.locator("#session-ended a").click()  # the way back: the login page
        expect(page.get_by_label("username")).to_be_visible()
        browser.close()
