"""The Review tab's handlers through gradio_client, on an app launched with a login: each action
changes the database and writes its events; each is refused without a login or for an inspector."""

import io
import os
import time
from pathlib import Path

import gradio as gr
import pytest
from gradio_client import Client, handle_file
from PIL import Image
from sqlalchemy import select

from core.settings import Settings
from core.types import Inspection
from services import review
from services.auth import auth_function
from storage import inspections as inspections_store
from storage import models as m
from storage import review as review_store
from storage.db import Database
from storage.review import PhotoLabel, PhotoView
from storage.users import add_user
from tests.services.test_review import PHOTO_A, PHOTO_B
from tests.storage.helpers import label_events, stored_label, untouched
from ui.review_editor import CLASS_LABELS, editor_boxes, editor_value, label_band
from ui.review_tab import build_review_tab

PASSWORDS = {"rita": "rita-password", "bob": "bob-password", "ines": "ines-password"}


def jpeg(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (120, 110, shade)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def store(tmp_path):
    settings = Settings(data_dir=str(tmp_path))
    db = Database.from_settings(settings)
    add_user(db, "rita", "reviewer", PASSWORDS["rita"])
    add_user(db, "bob", "admin", PASSWORDS["bob"])
    add_user(db, "ines", "inspector", PASSWORDS["ines"])
    for n, (findings, survey) in enumerate([(PHOTO_A, "north"), (PHOTO_B, "south")]):
        inspection = Inspection(640, 480, tuple(findings), {"detector": "d", "condition": "c"}, {})
        content = jpeg(60 + 40 * n)  # distinct photos
        inspections_store.save_inspection(db, tmp_path, content, f"p{n}.jpg", inspection, "ines", survey=survey)
    yield settings, db
    db.dispose()


@pytest.fixture
def app(store):
    demo = review_app(*store)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, auth=auth_function(store[1]))
    yield demo
    demo.close()


def review_app(settings, db):
    # The Review tab as app.py mounts it; the other tabs are tested on their own (and load models).
    with gr.Blocks() as demo, gr.Tab("Review"):
        build_review_tab(db, settings.data_dir)
    return demo


def login(app, user):
    return Client(app.local_url, auth=(user, PASSWORDS[user]), verbose=False)


def label(db, label_id):
    return stored_label(db, label_id)


def actions(db, label_id):
    return [e.action for e in label_events(db, label_id)]


def editor_payload(editor, boxes=None):
    return {"image": handle_file(editor["image"]), "boxes": editor["boxes"] if boxes is None else boxes}


def test_each_review_action_writes_the_database_and_its_events(app, store):
    _, db = store
    client = login(app, "rita")
    editor, counts, info, pick, kind, cond, table, history, message = client.predict(
        "(any)", "(any)", "(any)", "to review", api_name="/review_open"
    )
    assert "**To review:** 4 labels on 2 photos" in counts and "p0.jpg" in info
    assert [b["label"].split(" ", 1)[1] for b in editor["boxes"]] == [
        "slope drain · normal",
        "toe drain · normal",
        "vegetation · normal",
    ]
    assert editor["boxes"][0]["color"] == "rgb(46, 158, 68)"  # the palette's green (core.taxonomy), as drawn on photos
    assert table["data"][0][5].startswith("normal 0.50, blocked 0.45")  # the model's probabilities
    assert "at the foot of a slope drain" in table["data"][0][6]  # its spatial relations
    drain, toe, veg = (label_id for _, label_id in pick["choices"])
    assert pick["value"] == drain  # the least certain label is selected
    # Boxes are numbered as the inspection found them (its report's numbers), not by label id.
    assert [row[0] for row in table["data"]] == [1, 2, 3]
    assert [b["label"].split(" ", 1)[0] for b in editor["boxes"]] == ["#1", "#2", "#3"]

    # condition by key/button: one action, saved at once
    out = client.predict(editor_payload(editor), drain, "slope_drain", "normal", api_name="/review_blocked")
    assert (label(db, drain).condition, label(db, drain).status) == ("blocked", "corrected")
    assert out[-1].startswith("Saved 1 label change.")
    editor = out[0]
    assert editor["boxes"][0]["color"] == "rgb(240, 162, 2)"  # amber for blocked, as drawn on photos
    # move a box in the editor and change a type in the side panel, then Save
    boxes = [dict(b) for b in editor["boxes"]]
    boxes[1].update(xmin=210, xmax=320)
    out = client.predict(editor_payload(editor, boxes), toe, "rock_toe", "damaged", api_name="/review_save")
    assert (label(db, toe).object_type, label(db, toe).condition, label(db, toe).x1) == ("rock_toe", "damaged", 210)
    assert actions(db, toe) == ["create", "move+relabel"]
    # accept, delete, undo
    client.predict(editor_payload(out[0]), veg, "vegetation", "normal", api_name="/review_accept")
    assert label(db, veg).status == "accepted"
    out = client.predict(editor_payload(out[0]), veg, "vegetation", "normal", api_name="/review_delete")
    assert label(db, veg).status == "deleted" and actions(db, veg) == ["create", "accept", "delete"]
    out = client.predict(api_name="/review_undo")
    assert label(db, veg).status == "accepted" and actions(db, veg)[-1] == "undo"
    assert out[7]["data"][0][1:4] == ["rita", "#3", "undo"]  # history panel: newest first, who, which box, what
    # draw a new box, then Save & next: accepts what is left and opens the next photo
    boxes = [*out[0]["boxes"], {"xmin": 20, "ymin": 300, "xmax": 120, "ymax": 420, "label": "toe drain · blocked"}]
    out = client.predict(editor_payload(out[0], boxes), drain, "slope_drain", "blocked", api_name="/review_save_next")
    with db.read() as s:
        added = s.scalars(select(m.Label).where(m.Label.status == "added")).one()
    assert (added.object_type, added.condition, added.author) == ("toe_drain", "blocked", "rita")
    assert "p1.jpg" in out[2]
    assert out[0]["boxes"][0]["label"] == "#1 rock toe · normal"  # numbers start at 1 on each photo
    assert out[3]["value"] == 4
    # accept all remaining on the second photo; then the queue is empty
    out = client.predict(editor_payload(out[0]), out[3]["value"], "rock_toe", "normal", api_name="/review_accept_all")
    assert review_store.review_counts(db)["to_review"] == 0
    out = client.predict(api_name="/review_previous")
    assert "p0.jpg" in out[2]
    out = client.predict(api_name="/review_next")
    assert "p1.jpg" in out[2]
    out = client.predict(api_name="/review_next")
    assert out[0] is None and "queue is empty" in out[2]


def test_a_box_drawn_without_a_condition_is_selected_and_keeps_save_and_next_on_its_photo(app, store):
    """The page asks for the drawn box's condition: the condition keys must act on that box, and
    Save & next must not leave the photo with it unjudged; once judged, the message on the next
    photo says what was saved on the last one."""
    _, db = store
    client = login(app, "rita")
    editor, _, info, pick, *_ = client.predict("(any)", "(any)", "(any)", "to review", api_name="/review_open")
    drain = pick["value"]
    boxes = [*editor["boxes"], {"xmin": 20, "ymin": 300, "xmax": 120, "ymax": 420, "label": "toe drain · ?"}]
    out = client.predict(editor_payload(editor, boxes), drain, "slope_drain", "normal", api_name="/review_save")
    with db.read() as s:
        drawn = s.scalars(select(m.Label).where(m.Label.status == "added")).one().id
    assert out[3]["value"] == drawn and out[-1] == "Saved 1 label change. Choose a condition for #4."
    out = client.predict(editor_payload(out[0]), drawn, "toe_drain", None, api_name="/review_save_next")
    assert "p0.jpg" in out[2] and out[3]["value"] == drawn and label(db, drain).status == "accepted"
    assert out[-1] == (
        "Saved 3 label changes. Choose a condition for #4. "
        "Not moved on: a box drawn here has no condition yet (1 normal, 2 blocked, 3 damaged)."
    )
    out = client.predict(editor_payload(out[0]), drawn, "toe_drain", None, api_name="/review_blocked")
    assert label(db, drawn).condition == "blocked"
    boxes = [*out[0]["boxes"]]
    boxes[0] = {**boxes[0], "xmax": boxes[0]["xmax"] + 10}  # and one more change before moving on
    out = client.predict(editor_payload(out[0], boxes), drawn, "toe_drain", "blocked", api_name="/review_save_next")
    assert "p1.jpg" in out[2] and out[-1] == "p0.jpg: saved 1 label change."


def test_the_unknown_condition_queue_opens_on_the_box_drawn_without_one(app, store):
    """Such a box counts as reviewed: the queue of "unknown" finds its photo, and selects it there,
    not the photo's first pending label (a "normal" one, outside the filter)."""
    _, db = store
    client = login(app, "rita")
    editor, _, _, pick, *_ = client.predict("(any)", "(any)", "(any)", "to review", api_name="/review_open")
    boxes = [*editor["boxes"], {"xmin": 20, "ymin": 300, "xmax": 120, "ymax": 420, "label": "toe drain · ?"}]
    client.predict(editor_payload(editor, boxes), pick["value"], None, None, api_name="/review_save")
    with db.read() as s:
        drawn = s.scalars(select(m.Label).where(m.Label.status == "added")).one()
    assert (drawn.condition, label(db, pick["value"]).status) == (None, "pending")
    for status in ("reviewed", "all"):
        out = client.predict("(any)", "(any)", "unknown", status, api_name="/review_open")
        assert "p0.jpg" in out[2] and out[3]["value"] == drawn.id, (status, out[3])
        assert out[5]["value"] is None  # its condition, left for the reviewer to choose
    out = client.predict("(any)", "(any)", "unknown", "to review", api_name="/review_open")
    assert out[-1] == "Nothing to review under these filters."


def test_a_refused_action_is_answered_in_the_message_and_an_inspector_is_still_refused(app, store):
    _, db = store
    rita = login(app, "rita")
    for api_name, args in (("/review_save", (None, None, None, None)), ("/review_undo", ()), ("/review_next", ())):
        out = rita.predict(*args, api_name=api_name)  # no queue open: nothing to act on
        assert out[-1] == "**Open the queue first: no photo is shown.**", api_name
    out = rita.predict("(the whole store)", "YOLO (4 object types)", api_name="/export_reviewed")
    assert out[1].startswith("**Nothing to export: no photo in the whole store is reviewed")  # the download as it was
    with pytest.raises(Exception, match="ines is an inspector; this action needs a reviewer"):
        login(app, "ines").predict(None, None, None, None, api_name="/review_save")
    assert untouched(db)
    # Every survey's name is for those who review: an inspector's list is left as it was.
    assert "north" in str(rita.predict(api_name="/review_surveys"))
    assert "north" not in str(login(app, "ines").predict(api_name="/review_surveys"))


def test_the_labels_own_condition_button_confirms_it_and_a_turned_photo_saves_nothing(app, store):
    _, db = store
    client = login(app, "rita")
    editor, *_, pick, kind, cond, table, history, message = client.predict(
        "(any)", "(any)", "(any)", "to review", api_name="/review_open"
    )
    drain = pick["value"]
    assert (label(db, drain).condition, label(db, drain).status) == ("normal", "pending")
    # The editor's rotate buttons (hidden in the page) turn the boxes with the photo.
    turned = {**editor_payload(editor, [{**b, "xmin": 5, "xmax": 60} for b in editor["boxes"]]), "orientation": 1}
    out = client.predict(turned, drain, "slope_drain", "blocked", api_name="/review_blocked")
    assert out[-1].startswith("Nothing saved: the photo was turned in the editor")
    assert untouched(db)  # nothing written
    # Without a type beside it (the panel not filled in yet) a condition button confirms nothing.
    out = client.predict(editor_payload(out[0]), drain, None, None, api_name="/review_damaged")
    assert (label(db, drain).condition, label(db, drain).status) == ("normal", "pending")
    # Normal on a label the model called normal: the reviewer confirms it.
    out = client.predict(editor_payload(out[0]), drain, "slope_drain", "normal", api_name="/review_normal")
    assert (label(db, drain).condition, label(db, drain).status) == ("normal", "accepted")
    assert actions(db, drain) == ["create", "accept"] and out[-1] == "Saved 1 label change."


def test_a_second_reviewer_gets_a_conflict_message_and_the_fresh_state(app, store):
    _, db = store
    rita, bob = login(app, "rita"), login(app, "bob")  # bob is an admin: admins may review
    mine = rita.predict("(any)", "(any)", "(any)", "to review", api_name="/review_open")
    theirs = bob.predict("(any)", "(any)", "(any)", "to review", api_name="/review_open")
    drain = mine[3]["value"]
    bob.predict(editor_payload(theirs[0]), drain, "slope_drain", "normal", api_name="/review_damaged")
    out = rita.predict(editor_payload(mine[0]), drain, "slope_drain", "blocked", api_name="/review_save_next")
    assert "Conflict on #1: bob changed it" in out[-1]
    assert "Your change (condition -> blocked) was not applied" in out[-1]
    assert "p0.jpg" in out[2]  # stays on the photo, with the fresh state
    assert out[0]["boxes"][0]["label"].endswith("slope drain · damaged")
    assert "it is now slope drain · damaged (corrected)" in out[-1]
    assert label(db, drain).condition == "damaged"
    # rita's other changes (accepting the rest of the photo) are written; only photo 2 is left
    assert review_store.review_counts(db)["to_review"] == 1


@pytest.mark.parametrize(
    "api_name",
    [
        "/review_open",
        "/review_save",
        "/review_save_next",
        "/review_accept",
        "/review_delete",
        "/review_accept_all",
        "/review_normal",
        "/review_blocked",
        "/review_damaged",
        "/review_next",
        "/review_previous",
        "/review_undo",
        "/review_redo",
        "/export_reviewed",
    ],
)
def test_an_inspector_may_not_review(app, store, api_name):
    _, db = store
    client = login(app, "ines")
    args = {
        "/review_open": ("(any)", "(any)", "(any)", "to review"),
        "/review_next": (),
        "/review_previous": (),
        "/review_undo": (),
        "/review_redo": (),
        "/export_reviewed": ("(the whole store)", "YOLO (4 object types)"),
    }.get(api_name, (None, None, None, None))
    with pytest.raises(Exception, match="ines is an inspector; this action needs a reviewer"):
        client.predict(*args, api_name=api_name)
    assert untouched(db)


def test_without_a_login_review_is_refused(store, monkeypatch):
    import ui.access

    monkeypatch.setattr(ui.access, "LOGIN_SWITCH_DELAY_S", 0.2)
    demo = review_app(*store)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)  # no auth=
    try:
        # Started without a login, on a store that has accounts (made while it ran): the first
        # call refuses and switches the login on, and from then on the server asks for one.
        client = Client(demo.local_url, verbose=False)
        with pytest.raises(Exception, match="Accounts exist now, so this app asks for a login"):
            client.predict("(any)", "(any)", "(any)", "to review", api_name="/review_open")
        time.sleep(1.0)
        with pytest.raises(Exception, match="401 Unauthorized"):
            client.predict(None, None, None, None, api_name="/review_accept_all")
    finally:
        demo.close()


def test_box_labels_are_words_and_read_back_to_the_stored_types():
    assert "slope drain · blocked" in CLASS_LABELS and not any("_" in text for text in CLASS_LABELS)
    # Labels 41 and 57 are boxes 1 and 2 of this photo: the editor shows box numbers, not ids.
    photo = PhotoView(1, "p.jpg", "p.jpg", 700, 500, None, (), {41: 1, 57: 2})
    band = label_band(photo)
    corners = {"xmin": 1, "ymin": band + 2, "xmax": 30, "ymax": band + 40}
    texts = [
        "#2 slope drain · blocked",
        "#9 slope drain · normal",
        "rock toe · ?",
        "toe_drain · damaged",
        "a tree · normal",
        "no label",
    ]
    boxes = editor_boxes({"image": "shown.png", "boxes": [{**corners, "label": text} for text in texts]}, photo)
    assert [(b.label_id, b.object_type, b.condition) for b in boxes] == [
        (57, "slope_drain", "blocked"),
        (None, "slope_drain", "normal"),  # no box 9 on this photo: a new box
        (None, "rock_toe", None),
        (None, "toe_drain", "damaged"),  # a stored type's own name is read too
        (None, None, "normal"),  # an unknown type is left for the reviewer to choose
        (None, None, None),
    ]
    assert boxes[0].box == (1.0, 2.0, 30.0, 40.0)


@pytest.mark.parametrize(("size", "shown_width"), [((224, 224), 672), ((1280, 720), 1280), ((4000, 2250), 2048)])
def test_a_box_at_the_top_edge_leaves_room_for_its_label_and_reads_back_in_photo_pixels(tmp_path, size, shown_width):
    """The editor writes a box's label 20 canvas px above the box: a band above the photo keeps
    the label of a box at the top edge on the canvas. A small photo is shown enlarged, a huge one
    shrunk; boxes come back in the photo's pixels, untouched ones as unmoved."""
    width, height = size
    Image.new("RGB", size, (90, 120, 60)).save(tmp_path / "photo.jpg")
    top_box = (10.0, 0.0, 60.0, height / 2)
    labels = tuple(
        PhotoLabel(n, 1, box, "slope_drain", "normal", "pending", 0.5, "model", None, None, 0.9)
        for n, box in enumerate([top_box, (width - 50.0, height - 40.0, width, height)], start=1)
    )
    photo = PhotoView(1, "photo.jpg", "photo.jpg", width, height, None, labels, {1: 1, 2: 2})
    value = editor_value(photo, tmp_path)
    with Image.open(value["image"]) as shown:
        scale = shown.width / width
        band = label_band(photo)
        assert shown.width == shown_width and shown.height == height * scale + band
        # the band is blank and the photo starts under it
        assert shown.getpixel((5, band // 2)) != shown.getpixel((5, band + 5))
        # room for the 20-px tag even where the whole shown image is fitted into 360 canvas px
        assert band * 360 / max(shown.size) >= 20
    top = next(box for box in value["boxes"] if box["label"].startswith("#1 "))
    assert top["ymin"] == band
    back = {box.label_id: box for box in editor_boxes(value, photo)}
    for label in labels:
        assert back[label.label_id].box == pytest.approx(label.box)
    # the editor rounds boxes to whole shown pixels: still no box reads as moved
    for box in value["boxes"]:
        box.update({k: round(box[k]) for k in ("xmin", "ymin", "xmax", "ymax")})
    moved, relabels, removed, new_boxes, problems = review.diff_editor(photo, editor_boxes(value, photo))
    assert (moved, relabels, removed, new_boxes, problems) == ({}, {}, [], [], [])
    # a box dragged up into the band ends at the photo's top edge
    top["ymin"] = 0
    assert next(box for box in editor_boxes(value, photo) if box.label_id == 1).box[1] == 0.0


def test_only_the_newest_shown_copies_are_kept(tmp_path, monkeypatch):
    import ui.review_editor as review_editor

    monkeypatch.setattr(review_editor, "SHOWN_DIR", tmp_path / "shown")
    monkeypatch.setattr(review_editor, "SHOWN_KEEP", 2)
    shown = []
    for n in range(3):
        Image.new("RGB", (700, 500), (40 * n, 90, 60)).save(tmp_path / f"p{n}.jpg")
        photo = PhotoView(n, f"p{n}.jpg", f"p{n}.jpg", 700, 500, None, (), {})
        shown.append(Path(editor_value(photo, tmp_path)["image"]))
        # Written a minute apart: copies made within one clock tick of the file system share a time.
        os.utime(shown[-1], (time.time() - 60 * (3 - n),) * 2)
    assert [path.exists() for path in shown] == [False, True, True]


def test_the_editor_gets_the_smallest_box_first_so_a_click_reaches_a_box_inside_another(tmp_path):
    Image.new("RGB", (400, 300), (90, 120, 60)).save(tmp_path / "photo.jpg")
    big, small = (0.0, 0.0, 300.0, 300.0), (20.0, 20.0, 60.0, 200.0)  # a drain on a rock toe
    labels = tuple(
        PhotoLabel(n, 1, box, kind, "normal", "pending", 0.5, "model", None, None, 0.9)
        for n, (box, kind) in enumerate([(big, "rock_toe"), (small, "slope_drain")], start=1)
    )
    value = editor_value(PhotoView(1, "photo.jpg", "photo.jpg", 400, 300, None, labels, {1: 1, 2: 2}), tmp_path)
    assert [box["label"][:2] for box in value["boxes"]] == ["#2", "#1"]


def test_a_reviewer_downloads_the_reviewed_labels_as_a_zip(app, store):
    import zipfile

    client = login(app, "rita")
    out = client.predict("(any)", "(any)", "(any)", "to review", api_name="/review_open")
    drain = out[3]["value"]
    client.predict(editor_payload(out[0]), drain, "slope_drain", "normal", api_name="/review_save_next")
    archive, line = client.predict(
        "(the whole store)", "COCO JSON (condition as an attribute)", api_name="/export_reviewed"
    )
    assert line.startswith("Exported 1 photo with ") and line.endswith("of the whole store.")
    assert any(name.endswith(".json") for name in zipfile.ZipFile(archive).namelist())
