"""The web server in front of the login, as ``app.py`` launches it (with ``MIDDLEWARE``): the
login page carries no API description, guessing is cut off with a reason, and the address is
the caller's."""

import httpx
import pytest

from app import build_app
from core.settings import Settings
from lifecycle.server import ModelServer, register_configured_models
from services import auth
from storage.db import Database
from storage.users import add_user
from ui.web_guard import MIDDLEWARE, login_check


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
    demo.launch(
        prevent_thread_lock=True,
        server_name="127.0.0.1",
        quiet=True,
        auth=login_check(db),
        app_kwargs={"middleware": MIDDLEWARE},
    )
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
