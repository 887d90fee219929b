"""The per-photo review on SQLite and PostgreSQL: the photo queue, a whole photo saved with one
event per change (who, before, after), undo, conflicts on a stale version and under concurrent
writers; predictions are never touched."""

import threading

import pytest

from core.types import LabelledBox
from storage import errors as errors_store
from storage import history as history_store
from storage import models as m
from storage import review as review_store
from storage.labels import IMPORT, IMPORT_CONDITION, new_label, write_versioned
from storage.review import LabelChange
from tests.storage.helpers import label_events, save, stored_label


def first_label(db, image_id):
    """The photo's least certain label (the slope drain, condition normal, at version 1)."""
    return review_store.photo_view(db, image_id).labels[0]


def test_queue_is_photos_least_certain_first_filtered_and_keyset_paged(db, data_dir):
    north = save(db, data_dir)
    south = save(db, data_dir, content=b"photo-2", survey="south")
    queue = review_store.photo_queue(db, limit=10)
    # One row per photo, keyed by its least certain label: the slope drain (0.05 margin x 0.9).
    assert [image for image, _, _ in queue] == [north, south]
    assert queue[0][1] == pytest.approx(0.045)
    assert review_store.photo_queue(db, after=queue[0][1:], limit=10) == queue[1:]
    assert [image for image, _, _ in review_store.photo_queue(db, survey="south", limit=10)] == [south]
    assert review_store.photo_queue(db, condition="damaged") == []
    # A photo's key under a type filter is its least certain label of that type.
    (row,) = review_store.photo_queue(db, object_type="vegetation", survey="north")
    assert row[1] == pytest.approx(0.95)
    with pytest.raises(ValueError, match="status must be one of"):
        review_store.photo_queue(db, status="done")


def test_every_edit_writes_its_event_and_undo_walks_back(db, data_dir):
    image = save(db, data_dir)
    label = first_label(db, image)
    i = label.label_id
    assert review_store.save_photo(db, image, "sam", [LabelChange(i, 1, accept=True)]).changed == [i]
    review_store.save_photo(db, image, "rita", [LabelChange(i, 2, condition="blocked")])
    review_store.save_photo(db, image, "rita", [LabelChange(i, 3, box=(12, 12, 90, 95))])
    history = label_events(db, i)
    assert [(e.action, e.actor) for e in history] == [
        ("create", "ines"),
        ("accept", "sam"),
        ("relabel", "rita"),
        ("move", "rita"),
    ]
    assert (history[1].before["status"], history[1].after["status"]) == ("pending", "accepted")
    assert history[2].before["condition"] == "normal" and history[2].after["condition"] == "blocked"
    assert history[3].before["box"] == [10, 10, 100, 100] and history[3].after["box"] == [12, 12, 90, 95]
    stored = stored_label(db, i)
    assert (stored.status, stored.author, stored.version) == ("corrected", "rita", 4)
    # Each save is one action: undo walks them back newest first, redo brings the last one back.
    assert history_store.undo_last(db, image, "sam").events[0].action == "move"
    assert stored_label(db, i).x2 == 100
    history_store.undo_last(db, image, "sam")  # the relabel
    assert (stored_label(db, i).condition, stored_label(db, i).status) == ("normal", "accepted")
    assert history_store.redo_last(db, image, "sam").kind == "undo"  # the relabel again
    assert stored_label(db, i).condition == "blocked"
    history_store.undo_last(db, image, "sam")  # the redo
    history_store.undo_last(db, image, "sam")  # the accept
    assert stored_label(db, i).status == "pending"
    assert [e.action for e in label_events(db, i)][-5:] == ["undo", "undo", "redo", "undo", "undo"]
    assert history_store.undo_last(db, image, "sam") is None  # only the model's own label is left
    # predictions are never touched by review
    with db.read() as s:
        prediction = s.get(m.Prediction, stored.prediction_id)
        assert (prediction.condition, prediction.x2) == ("normal", 100)


def test_delete_and_add(db, data_dir):
    image = save(db, data_dir)
    label = first_label(db, image)
    result = review_store.save_photo(
        db,
        image,
        "rita",
        [LabelChange(label.label_id, label.version, delete=True)],
        [LabelledBox((1, 1, 50, 60), "toe_drain", "damaged")],
    )
    added = result.changed[1]
    assert result.changed[0] == label.label_id and not result.conflicts
    assert stored_label(db, label.label_id).status == "deleted"
    assert (stored_label(db, added).status, stored_label(db, added).author) == ("added", "rita")
    assert [(e.action, e.before) for e in label_events(db, added)] == [("add", None)]
    assert review_store.review_counts(db) == {"to_review": 3, "reviewed": 1, "total": 4, "photos_to_review": 1}
    assert label.label_id not in {lb.label_id for lb in review_store.photo_view(db, image).labels}
    # One undo reverts the whole save: the add (the label is deleted) and the delete.
    action = history_store.undo_last(db, image, "rita")
    assert sorted(e.action for e in action.events) == ["add", "delete"]
    assert stored_label(db, added).status == "deleted"
    assert stored_label(db, label.label_id).status == "pending"
    history_store.redo_last(db, image, "rita")
    assert (stored_label(db, added).status, stored_label(db, label.label_id).status) == ("added", "deleted")


@pytest.mark.parametrize(
    "changes, new_boxes, error",
    [
        (
            lambda i: [LabelChange(i.label_id, i.version, object_type="rock_toe", condition="blocked")],
            [],
            "not allowed for rock_toe",
        ),
        (lambda i: [LabelChange(i.label_id, i.version, box=(50, 50, 40, 60))], [], "is empty"),
        (lambda i: [LabelChange(999999, 1, condition="normal")], [], "is not on image"),
        (lambda i: [LabelChange(i.label_id, i.version, box=(10, 10, 9000, 60))], [], "reaches outside the"),
        (lambda i: [], [LabelledBox((0, 0, 5, 9000), "toe_drain", None)], "reaches outside the"),
    ],
)
def test_invalid_edits_are_refused_and_write_nothing(db, data_dir, changes, new_boxes, error):
    image = save(db, data_dir)
    label, other = review_store.photo_view(db, image).labels[:2]
    with pytest.raises((ValueError, LookupError), match=error):
        review_store.save_photo(
            db, image, "x", [LabelChange(other.label_id, other.version, accept=True), *changes(label)], new_boxes
        )
    assert len(label_events(db, other.label_id)) == 1  # not even the accept before the bad change
    assert (stored_label(db, label.label_id).version, stored_label(db, other.label_id).version) == (1, 1)
    assert len(review_store.photo_view(db, image).labels) == 4


def test_a_stale_version_is_a_conflict_and_writes_nothing(db, data_dir):
    image = save(db, data_dir)
    label = first_label(db, image)
    review_store.save_photo(db, image, "first", [LabelChange(label.label_id, label.version, accept=True)])
    result = review_store.save_photo(
        db, image, "second", [LabelChange(label.label_id, label.version, condition="damaged")]
    )
    (conflict,) = result.conflicts
    assert result.changed == []
    assert (conflict.label_id, conflict.wanted, conflict.by) == (label.label_id, "condition -> damaged", "first")
    assert (conflict.now["status"], conflict.now["condition"]) == ("accepted", "normal")
    stored = stored_label(db, label.label_id)
    assert (stored.status, stored.condition, stored.author) == ("accepted", "normal", "first")
    assert [e.actor for e in label_events(db, label.label_id)] == ["ines", "first"]


def test_undo_never_reverts_what_an_import_wrote(db, data_dir):
    """An import's labels and conditions are people's labels from a folder, not a reviewer's
    save: undo deleting them (as the person pressing it) would lose them for good, since an
    import never brings back a label a person deleted."""
    image = save(db, data_dir)
    i = first_label(db, image).label_id
    with db.write() as s:
        label = s.get(m.Label, i)
        write_versioned(s, label, 1, {"condition": "blocked", "status": "accepted"}, "import", IMPORT_CONDITION)
        drawn = LabelledBox((150, 150, 190, 190), "toe_drain", "normal")
        added = new_label(s, image, drawn, "accepted", author="import", actor="import", action=IMPORT).id
    assert history_store.undo_last(db, image, "rita") is None
    review_store.save_photo(db, image, "rita", [LabelChange(i, 2, condition="normal")])
    assert history_store.undo_last(db, image, "rita").events[0].action == "relabel"
    assert (stored_label(db, i).condition, stored_label(db, added).status) == ("blocked", "accepted")
    assert history_store.undo_last(db, image, "rita") is None


def test_an_undo_whose_label_changed_since_is_a_conflict_and_writes_nothing(db, data_dir):
    image = save(db, data_dir)
    label = first_label(db, image)
    review_store.save_photo(db, image, "first", [LabelChange(label.label_id, label.version, condition="blocked")])
    with db.write() as s:  # a writer between reading the history and reverting it
        s.get(m.Label, label.label_id).condition = "damaged"
    with pytest.raises(errors_store.ConflictError, match="reload and try again"):
        history_store.undo_last(db, image, "second")
    assert len(label_events(db, label.label_id)) == 2 and stored_label(db, label.label_id).condition == "damaged"


def test_eight_threads_editing_one_label_one_winner_per_version(db, data_dir):
    image = save(db, data_dir)
    label_id = first_label(db, image).label_id
    rounds, wins, conflicts, unchanged = 5, [], [], []
    lock = threading.Lock()

    def worker(n):
        for _ in range(rounds):
            version = stored_label(db, label_id).version
            change = LabelChange(label_id, version, condition=("blocked", "damaged")[n % 2])
            result = review_store.save_photo(db, image, f"t{n}", [change])
            with lock:  # a condition equal to the current one writes nothing and is no conflict
                (wins if result.changed else conflicts if result.conflicts else unchanged).append(version)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    history = label_events(db, label_id)
    assert len(history) == 1 + len(wins)  # every win has its event, nothing lost, nothing extra
    assert len(wins) == len(set(wins))  # never two winners for one version
    assert stored_label(db, label_id).version == 1 + len(wins)
    assert [e.before["condition"] for e in history[2:]] == [e.after["condition"] for e in history[1:-1]]
    assert len(wins) + len(conflicts) + len(unchanged) == 8 * rounds
