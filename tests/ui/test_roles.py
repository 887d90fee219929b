"""Roles checked on the server for every tab, through gradio_client on the real app with a login:
an inspector inspects (as itself) but may not train; an admin may; nobody acts without a login."""

import re

import pytest
from gradio_client import Client, handle_file

from app import build_app
from core.model_card import read_card
from core.settings import Settings
from lifecycle.server import ModelServer, register_configured_models
from services.auth import auth_function
from storage import registry
from storage import review as review_store
from storage.db import Database
from storage.users import add_user

PASSWORDS = {"ines": "ines-password", "bob": "bob-password"}


@pytest.fixture(scope="module")
def app(tmp_path_factory, inspector):
    settings = Settings(data_dir=str(tmp_path_factory.mktemp("roles-data")))
    db = Database.from_settings(settings)
    register_configured_models(db, settings)
    add_user(db, "ines", "inspector", PASSWORDS["ines"])
    add_user(db, "bob", "admin", PASSWORDS["bob"])
    demo = build_app(settings, ModelServer(settings, db, inspector), db)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, auth=auth_function(db))
    yield demo, db, settings
    demo.close()


def login(demo, user):
    return Client(demo.local_url, auth=(user, PASSWORDS[user]), verbose=False)


def test_an_inspector_inspects_as_itself_and_may_not_train(app, val_images):
    demo, db, settings = app
    client = login(demo, "ines")
    client.predict([handle_file(str(val_images[0]))], 0.25, "east", "", "", api_name="/inspect")
    [(image, _, _)] = review_store.photo_queue(db, survey="east")
    with db.read() as session:
        from storage import models as m

        assert session.get(m.Image, image).uploaded_by == "ines"  # the login, not a typed name
    summary, _ = client.predict("Reviewed labels in the store", api_name="/analyze")
    assert summary  # the Dashboard is open to inspectors
    shipped = registry.served_version(db, "condition").name
    with pytest.raises(Exception, match="ines is an inspector; this action needs an admin"):
        client.predict(f"condition {shipped}", "why", True, api_name="/serve_version")
    with pytest.raises(Exception, match="needs an admin"):
        client.predict("Fine-tune the condition model", "lora", 5, 0.1, 0.0, False, api_name="/start_job")


def serve(client, choice: str, reason: str = "better on blocked drains", confirmed: bool = True) -> str:
    """The confirmation's endpoint; its message (the other outputs clear the confirmation and
    refresh the lists; the client leaves out the confirmation's group)."""
    return client.predict(choice, reason, confirmed, api_name="/serve_version")[2]


def test_nothing_answers_without_a_login(app):
    demo, _, _ = app
    with pytest.raises(ValueError):  # gradio_client cannot even read the app's API without a login
        Client(demo.local_url, verbose=False).predict([], 0.25, "", "", "", api_name="/inspect")


def test_an_admin_serves_versions_and_is_refused_a_second_job(app, tmp_path):
    import shutil

    demo, db, settings = app
    client = login(demo, "bob")
    shipped = read_card(settings.condition_model).version
    folder = tmp_path / "candidate"
    shutil.copytree(settings.condition_model, folder)
    card = read_card(folder).replace(version="condition-tiny-ui")
    card.write(folder)
    registry.record_version(db, card, folder)

    # Promotion is a confirmed decision with a reason, through the API too.
    preview, message = client.predict("condition condition-tiny-ui", api_name="/serve_preview")
    assert "You are about to serve `condition-tiny-ui` for every inspector" in preview
    assert "no gate report" in preview and message == ""
    message = serve(client, "condition condition-tiny-ui", confirmed=False)
    assert message == "Not served: tick the confirmation first (every inspector gets this version)."
    message = serve(client, "condition condition-tiny-ui", reason="  ")
    assert message == "Not served: say why: a promotion or rollback needs a reason, kept with it."
    assert registry.served_version(db, "condition").name == shipped

    assert serve(client, "condition condition-tiny-ui") == (
        "condition `condition-tiny-ui` serves from the next request on. Recorded: bob, “better on blocked drains”."
    )
    assert registry.served_version(db, "condition").name == "condition-tiny-ui"
    assert "roll back to" in client.predict(f"condition {shipped}", api_name="/serve_preview")[0]
    assert serve(client, f"condition {shipped}", "worse on the north slopes").startswith("condition ")
    assert registry.served_version(db, "condition").name == shipped
    assert serve(client, "condition nope").startswith("Not served: no condition version")
    events = registry.events(db)
    assert [(e.action, e.to_version, e.actor) for e in events[:2]] == [
        ("rolled back", shipped, "bob"),
        ("promoted", "condition-tiny-ui", "bob"),
    ]

    assert client.predict(api_name="/cancel_job") == "No job is running."
    # A bad number is refused by name, and nothing starts.
    message = client.predict("Fine-tune the condition model", "lora", 0, 0.1, 0.0, False, api_name="/start_job")
    assert message == "Not started: Steps (condition model) must be a whole number of at least 1."
    message = client.predict("Fine-tune the detector", "lora", 5, 0, 0.0, False, api_name="/start_job")
    assert message == "Not started: Hours (detector) must be at least 0.01."
    from services import jobs

    assert jobs.runs(db) == []
    with db.write() as session:  # a job already running (as recorded by another process)
        import os

        from storage import models as m

        session.add(m.TrainingRun(kind="condition", status="running", settings={}, log="", pid=os.getpid()))
    message = client.predict("Fine-tune the condition model", "lora", 5, 0.1, 0.0, False, api_name="/start_job")
    assert message.startswith("Not started: job") and "one job at a time" in message


def test_an_inspector_sees_its_own_uploads(app, val_images):
    demo, db, _ = app
    client = login(demo, "ines")
    client.predict([handle_file(str(val_images[2]))], 0.25, "west", "", "", api_name="/inspect")
    rows = client.predict(api_name="/my_uploads")["data"]
    assert val_images[2].name in {row[0] for row in rows}
    assert {row[1] for row in rows} >= {"west"}
    assert login(demo, "bob").predict(api_name="/my_uploads")["data"] == []  # the admin uploaded nothing


@pytest.mark.slow  # a real browser
def test_a_click_on_one_of_my_uploads_shows_its_findings_and_report(app, val_images):
    from playwright.sync_api import expect, sync_playwright

    from tests.ui.test_browser import CHROMIUM, CHROMIUM_ARGS

    demo, _, _ = app
    login(demo, "ines").predict([handle_file(str(val_images[3]))], 0.25, "", "", "", api_name="/inspect")
    other = val_images[4].name
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(demo.local_url)
        page.get_by_label("username").fill("ines")
        page.get_by_label("password").fill(PASSWORDS["ines"])
        page.get_by_role("button", name="Login").click()
        # Another photo inspected in the page first: what a click in My uploads must replace.
        page.locator("input[type=file]").first.set_input_files(str(val_images[4]))
        page.get_by_role("button", name="Inspect", exact=True).click()
        expect(page.locator("#inspect-table")).to_contain_text(other[:12])
        page.get_by_role("button", name="My uploads").click()
        # Listed as it opens: no second button to find
        mine = page.locator("#my-uploads")
        mine.locator("span.text", has_text=val_images[3].name[:12]).first.click()
        expect(page.locator("#inspect-html-report")).to_contain_text(re.compile(r"report\s*\.html"))
        expect(page.locator("#inspect-gallery img").first).to_be_visible()
        # The summary and the table are that photo's, not the last inspection's.
        table = page.locator("#inspect-table")
        expect(table).to_contain_text(val_images[3].name[:12])
        expect(table).not_to_contain_text(other[:12])
        browser.close()
