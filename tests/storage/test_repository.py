import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.spatial import ObjectContext
from core.types import Finding, Inspection
from storage import errors as errors_store
from storage import inspections as inspections_store
from storage import labels as labels_store
from storage import models as m


def finding(box, object_type, confidence, probs):
    return Finding(
        tuple(box),
        object_type,
        confidence,
        max(probs, key=probs.get),
        probs,
        ObjectContext("middle-center", (0.5, 0.5)),
    )


def make_inspection(findings):
    return Inspection(
        640,
        480,
        tuple(findings),
        {"detector": "det-v1", "condition": "cond-v1"},
        {"detect": 10.0, "total": 12.0},
    )


FINDINGS = [
    finding([10, 10, 100, 100], "slope_drain", 0.9, {"normal": 0.5, "blocked": 0.45, "damaged": 0.05}),
    finding([200, 10, 300, 100], "toe_drain", 0.8, {"normal": 0.9, "blocked": 0.05, "damaged": 0.05}),
    finding([10, 200, 100, 300], "rock_toe", 0.3, {"normal": 0.7, "damaged": 0.3}),
    finding([300, 300, 400, 400], "vegetation", 0.95, {"normal": 1.0}),
]


def save(db, data_dir, content=b"photo-1", survey="north"):
    return inspections_store.save_inspection(
        db, data_dir, content, "p.jpg", make_inspection(FINDINGS), "ines", survey=survey
    )


def test_saving_an_inspection_stores_image_predictions_and_pending_labels(db, data_dir):
    save(db, data_dir)
    with db.read() as s:
        image = s.scalar(select(m.Image))
        assert (data_dir / image.path).read_bytes() == b"photo-1"
        assert s.scalar(select(func.count()).select_from(m.Prediction)) == 4
        assert s.scalar(select(func.count()).select_from(m.LabelEvent)) == 4  # one "create" each
    assert labels_store.status_counts(db) == {"pending": 4, "accepted": 0, "corrected": 0, "added": 0, "deleted": 0}
    # A second inspection of the same bytes (a newer model) adds predictions, not labels.
    save(db, data_dir)
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(m.Image)) == 1
        assert s.scalar(select(func.count()).select_from(m.Prediction)) == 8
    assert labels_store.status_counts(db)["pending"] == 4


def test_queue_is_least_certain_first_filtered_and_paged(db, data_dir):
    save(db, data_dir)
    save(db, data_dir, content=b"photo-2", survey="south")
    queue = labels_store.review_queue(db)
    certainty = [item.certainty for item in queue]
    assert certainty == sorted(certainty)
    # margin x confidence: slope drain (0.05 x 0.9) is the least certain, vegetation (1 x 0.95) the most
    assert queue[0].labelled.object_type == "slope_drain" and queue[0].certainty == pytest.approx(0.045)
    assert queue[-1].labelled.object_type == "vegetation"
    assert [i.label_id for i in labels_store.review_queue(db, page=0, page_size=3)] + [
        i.label_id for i in labels_store.review_queue(db, page=1, page_size=3)
    ] + [i.label_id for i in labels_store.review_queue(db, page=2, page_size=3)] == [i.label_id for i in queue]
    last = queue[2]
    assert [i.label_id for i in labels_store.review_queue(db, after=(last.certainty, last.label_id))] == [
        i.label_id for i in queue[3:]
    ]
    assert {i.labelled.object_type for i in labels_store.review_queue(db, object_type="toe_drain")} == {"toe_drain"}
    assert len(labels_store.review_queue(db, survey="south")) == 4
    assert labels_store.review_queue(db, condition="damaged") == []
    with pytest.raises(ValueError, match="page_size"):
        labels_store.review_queue(db, page_size=0)


def test_every_edit_writes_its_event_and_undo_walks_back(db, data_dir):
    save(db, data_dir)
    item = labels_store.review_queue(db)[0]
    v = labels_store.relabel(db, item.label_id, item.version, "rita", condition="blocked")
    v = labels_store.move(db, item.label_id, v, "rita", (12, 12, 90, 95))
    v = labels_store.accept(db, item.label_id, v, "sam")
    history = labels_store.label_history(db, item.label_id)
    assert [(e.action, e.actor) for e in history] == [
        ("create", "ines"),
        ("relabel", "rita"),
        ("move", "rita"),
        ("accept", "sam"),
    ]
    assert history[1].before["condition"] == "normal" and history[1].after["condition"] == "blocked"
    assert history[2].after["box"] == [12, 12, 90, 95]
    label = labels_store.get_label(db, item.label_id)
    assert (label.status, label.author, label.version) == ("accepted", "sam", 4)
    v = labels_store.undo(db, item.label_id, v, "sam")  # undo accept
    assert labels_store.get_label(db, item.label_id).status == "corrected"
    v = labels_store.undo(db, item.label_id, v, "sam")  # undo move
    assert labels_store.get_label(db, item.label_id).x2 == 100
    v = labels_store.undo(db, item.label_id, v, "sam")  # undo relabel
    assert labels_store.get_label(db, item.label_id).condition == "normal"
    with pytest.raises(ValueError, match="no change to undo"):
        labels_store.undo(db, item.label_id, v, "sam")
    # predictions are never touched by review
    with db.read() as s:
        prediction = s.get(m.Prediction, label.prediction_id)
        assert (prediction.condition, prediction.x2) == ("normal", 100)


def test_delete_and_add(db, data_dir):
    save(db, data_dir)
    item = labels_store.review_queue(db)[0]
    labels_store.delete(db, item.label_id, item.version, "rita")
    added = labels_store.add_label(db, item.image_id, (1, 1, 50, 60), "toe_drain", "damaged", "rita")
    counts = labels_store.status_counts(db)
    assert counts["deleted"] == 1 and counts["added"] == 1 and counts["pending"] == 3
    assert labels_store.undo(db, added, 1, "rita") == 2
    assert labels_store.get_label(db, added).status == "deleted"


@pytest.mark.parametrize(
    "call, error",
    [
        (
            lambda db, i: labels_store.relabel(
                db, i.label_id, i.version, "x", condition="blocked", object_type="rock_toe"
            ),
            "not allowed for rock_toe",
        ),
        (lambda db, i: labels_store.move(db, i.label_id, i.version, "x", (50, 50, 40, 60)), "is empty"),
        (lambda db, i: labels_store.relabel(db, 999999, 1, "x", condition="normal"), "does not exist"),
        (
            lambda db, i: labels_store.add_label(db, i.image_id, (0, 0, 5, 5), "culvert", None, "x"),
            "unknown object type",
        ),
    ],
)
def test_invalid_edits_are_refused_and_write_nothing(db, data_dir, call, error):
    save(db, data_dir)
    item = labels_store.review_queue(db)[0]
    events = len(labels_store.label_history(db, item.label_id))
    with pytest.raises((ValueError, LookupError), match=error):
        call(db, item)
    assert len(labels_store.label_history(db, item.label_id)) == events
    assert labels_store.get_label(db, item.label_id).version == item.version


def test_a_stale_version_is_a_conflict_and_writes_nothing(db, data_dir):
    save(db, data_dir)
    item = labels_store.review_queue(db)[0]
    labels_store.accept(db, item.label_id, item.version, "first")
    with pytest.raises(errors_store.ConflictError, match="reload and try again"):
        labels_store.relabel(db, item.label_id, item.version, "second", condition="damaged")
    label = labels_store.get_label(db, item.label_id)
    assert (label.status, label.condition, label.author) == ("accepted", "normal", "first")
    assert [e.actor for e in labels_store.label_history(db, item.label_id)] == ["ines", "first"]


def test_eight_threads_editing_one_label_one_winner_per_version(db, data_dir):
    save(db, data_dir)
    item = labels_store.review_queue(db)[0]
    rounds, wins, conflicts = 5, [], []
    lock = threading.Lock()

    def worker(n):
        for _ in range(rounds):
            version = labels_store.get_label(db, item.label_id).version
            try:
                labels_store.relabel(db, item.label_id, version, f"t{n}", condition=("blocked", "damaged")[n % 2])
                with lock:
                    wins.append(version)
            except errors_store.ConflictError:
                with lock:
                    conflicts.append(version)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == len(set(wins))  # never two winners for one version
    label = labels_store.get_label(db, item.label_id)
    assert label.version == 1 + len(wins)
    history = labels_store.label_history(db, item.label_id)
    assert len(history) == 1 + len(wins)  # every win has its event, nothing lost, nothing extra
    assert [e.before["condition"] for e in history[2:]] == [e.after["condition"] for e in history[1:-1]]
    assert len(wins) + len(conflicts) == 8 * rounds


def test_constraints_hold_in_the_database(db, data_dir):
    save(db, data_dir)
    with pytest.raises(IntegrityError):
        with db.write() as s:
            s.add(m.Image(sha256="0" * 64, path="x", original_name="x", width=1, height=1, uploaded_by="u"))
            s.add(m.Image(sha256="0" * 64, path="y", original_name="y", width=1, height=1, uploaded_by="u"))
    with pytest.raises(IntegrityError):
        with db.write() as s:
            s.add(
                m.Label(
                    image_id=1,
                    x1=0,
                    y1=0,
                    x2=1,
                    y2=1,
                    object_type="rock_toe",
                    status="maybe",
                    author="u",
                    version=1,
                )
            )
    with pytest.raises(IntegrityError):
        with db.write() as s:
            s.add(
                m.Label(
                    image_id=424242,
                    x1=0,
                    y1=0,
                    x2=1,
                    y2=1,
                    object_type="rock_toe",
                    status="added",
                    author="u",
                    version=1,
                )
            )


def test_upgrade_is_idempotent(db):
    db.upgrade()
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(m.Label)) == 0


def test_the_labels_fingerprint_changes_with_every_label_change_and_only_then(db, data_dir):
    empty = labels_store.labels_fingerprint(db)
    save(db, data_dir)
    saved = labels_store.labels_fingerprint(db)
    assert saved != empty and labels_store.labels_fingerprint(db) == saved
    item = labels_store.review_queue(db)[0]
    labels_store.relabel(db, item.label_id, item.version, "rita", condition="damaged")
    assert labels_store.labels_fingerprint(db) != saved
