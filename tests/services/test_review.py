"""Review use cases on SQLite and PostgreSQL: the photo queue, saving a photo's changes in one
transaction with their events, conflicts between two reviewers, history and undo."""

import pytest
from sqlalchemy import select

from core.spatial import ObjectContext, Relation
from core.types import Finding, Inspection
from services import review, review_text
from services.review import EditorBox, Filters, LabelEdit
from storage import inspections as inspections_store
from storage import models as m
from storage import review as review_store
from tests.storage import conftest as storage_fixtures
from tests.storage.helpers import label_events, stored_label

# The storage tests' fixtures: a fresh SQLite file and a fresh PostgreSQL database per test.
db_url = storage_fixtures.db_url
db = storage_fixtures.db
data_dir = storage_fixtures.data_dir


def finding(box, object_type, confidence, probs):
    context = ObjectContext("bottom-center", (0.5, 0.8), (Relation("at_foot_of", 1, "slope_drain"),))
    return Finding(tuple(box), object_type, confidence, max(probs, key=probs.get), probs, context)


PHOTO_A = [  # certainty = margin x confidence: 0.05*0.9, 0.8*0.8, 1*0.95
    finding([10, 10, 100, 100], "slope_drain", 0.9, {"normal": 0.5, "blocked": 0.45, "damaged": 0.05}),
    finding([200, 10, 300, 100], "toe_drain", 0.8, {"normal": 0.9, "blocked": 0.05, "damaged": 0.05}),
    finding([300, 300, 400, 400], "vegetation", 0.95, {"normal": 1.0}),
]
PHOTO_B = [finding([10, 200, 100, 300], "rock_toe", 0.5, {"normal": 0.6, "damaged": 0.4})]  # 0.1


def store(db, data_dir, content, findings, survey="north"):
    inspection = Inspection(640, 480, tuple(findings), {"detector": "d", "condition": "c"}, {})
    inspections_store.save_inspection(
        db, data_dir, content, f"{content.decode()}.jpg", inspection, "ines", survey=survey
    )
    with db.read() as s:
        return s.scalar(select(m.Image.id).where(m.Image.original_name == f"{content.decode()}.jpg"))


@pytest.fixture
def photos(db, data_dir):
    return store(db, data_dir, b"a", PHOTO_A), store(db, data_dir, b"b", PHOTO_B, survey="south")


def events(db, label_id):
    return [(e.action, e.actor) for e in label_events(db, label_id)]


def test_queue_is_photos_least_certain_first_with_filters_and_counts(db, photos):
    a, b = photos
    session = review.start(db, Filters())
    assert session.photo.image_id == a  # its slope drain (0.045) is the least certain label
    assert [lb.object_type for lb in session.photo.labels] == ["slope_drain", "toe_drain", "vegetation"]
    first = session.photo.labels[0]
    assert first.condition_probs == {"normal": 0.5, "blocked": 0.45, "damaged": 0.05}
    assert first.relations["relations"][0]["relation"] == "at_foot_of"
    assert review.next_photo(db, session).photo.image_id == b
    assert review.next_photo(db, review.next_photo(db, session)).photo is None
    assert review.start(db, Filters(survey="south")).photo.image_id == b
    assert review.start(db, Filters(object_type="vegetation")).photo.image_id == a
    assert review.start(db, Filters(status="reviewed")).photo is None
    assert review.counts(db, Filters()) == {"to_review": 4, "reviewed": 0, "total": 4, "photos_to_review": 2}
    with pytest.raises(ValueError, match="status must be one of"):
        Filters(status="done")


def test_save_applies_moves_relabels_deletes_new_boxes_and_accepts_the_rest(db, photos):
    a, _ = photos
    photo = review.start(db, Filters()).photo
    drain, toe, veg = (lb.label_id for lb in photo.labels)
    boxes = [
        EditorBox(drain, (12.0, 10.0, 110.0, 100.0), "slope_drain", "normal"),  # moved
        EditorBox(veg, (300.0, 300.0, 400.0, 400.0), "vegetation", "normal"),  # toe drain box removed
        EditorBox(None, (50.0, 400.0, 150.0, 470.0), "rock_toe", "damaged"),  # drawn now
    ]
    outcome = review.save(
        db, "rita", photo, boxes, edits={drain: LabelEdit("slope_drain", "blocked")}, accept_rest=True
    )
    assert outcome.conflicts == []
    fresh = {lb.object_type: lb for lb in outcome.photo.labels}
    assert set(fresh) == {"slope_drain", "vegetation", "rock_toe"}
    assert fresh["slope_drain"].box == (12.0, 10.0, 110.0, 100.0)
    assert (fresh["slope_drain"].condition, fresh["slope_drain"].status) == ("blocked", "corrected")
    assert fresh["vegetation"].status == "accepted"
    assert (fresh["rock_toe"].status, fresh["rock_toe"].author) == ("added", "rita")
    assert stored_label(db, toe).status == "deleted"
    assert events(db, drain) == [("create", "ines"), ("move+relabel", "rita")]
    assert events(db, toe)[-1] == ("delete", "rita")
    assert events(db, veg)[-1] == ("accept", "rita")
    history = review_text.history_rows(db, a)
    assert {row[3] for row in history} == {
        "found by the model",
        "box moved or resized, relabelled",
        "deleted",
        "accepted",
        "drawn",
    }
    drawn = next(row for row in history if row[3] == "drawn")
    assert drawn[4] == "" and drawn[5] == "rock toe · damaged, added; box x 50–150, y 400–470 px"
    assert review.counts(db, Filters(survey="north"))["to_review"] == 0
    # Box numbers: the inspection's order; the deleted toe drain keeps #2, the new box is #4.
    numbered = {lb.object_type: outcome.photo.number(lb.label_id) for lb in outcome.photo.labels}
    assert numbered == {"slope_drain": 1, "vegetation": 3, "rock_toe": 4}
    assert ("#2", "deleted") in {(row[2], row[3]) for row in history}


def test_box_numbers_start_at_one_on_each_photo(db, photos):
    _, b = photos
    photo = review_store.photo_view(db, b)
    (only,) = photo.labels
    assert only.label_id == 4 and photo.number(only.label_id) == 1 and photo.label_id(1) == 4
    assert photo.label_id(2) is None


def test_changing_the_type_resets_a_condition_it_does_not_allow(db, photos):
    photo = review.start(db, Filters()).photo
    drain = photo.labels[0]  # slope_drain, normal
    review.save(db, "rita", photo, review.as_loaded(photo), edits={drain.label_id: LabelEdit("vegetation", None)})
    assert (
        stored_label(db, drain.label_id).object_type,
        stored_label(db, drain.label_id).condition,
    ) == (
        "vegetation",
        "normal",  # the only condition vegetation allows
    )
    photo = review.start(db, Filters(status="all")).photo
    toe = next(lb for lb in photo.labels if lb.object_type == "toe_drain")
    review.save(db, "rita", photo, review.as_loaded(photo), edits={toe.label_id: LabelEdit("rock_toe", None)})
    assert stored_label(db, toe.label_id).condition == "normal"  # normal is allowed for rock toes: kept
    photo = review.start(db, Filters(status="all")).photo
    outcome = review.save(
        db, "rita", photo, review.as_loaded(photo), edits={toe.label_id: LabelEdit("rock_toe", "blocked")}
    )
    assert outcome.message.startswith("Nothing saved: condition 'blocked' is not allowed for rock_toe")


def test_a_second_reviewer_gets_a_conflict_and_the_fresh_state(db, photos):
    mine = review.start(db, Filters()).photo
    theirs = review.start(db, Filters()).photo
    drain, toe = mine.labels[0].label_id, mine.labels[1].label_id
    review.save(db, "bob", theirs, review.as_loaded(theirs), edits={drain: LabelEdit("slope_drain", "damaged")})
    outcome = review.save(
        db, "rita", mine, review.as_loaded(mine), edits={drain: LabelEdit("slope_drain", "blocked")}, accept=(toe,)
    )
    assert [c.label_id for c in outcome.conflicts] == [drain]
    assert "bob changed it" in outcome.message and "condition -> blocked" in outcome.message
    fresh = {lb.label_id: lb for lb in outcome.photo.labels}
    assert fresh[drain].condition == "damaged"  # bob's change stands
    assert fresh[toe].status == "accepted"  # rita's other change is written
    again = review.save(
        db, "rita", outcome.photo, review.as_loaded(outcome.photo), edits={drain: LabelEdit("slope_drain", "blocked")}
    )
    assert again.conflicts == [] and stored_label(db, drain).condition == "blocked"


def test_undo_walks_back_the_photos_changes_newest_first(db, photos):
    photo = review.start(db, Filters()).photo
    drain, toe = photo.labels[0].label_id, photo.labels[1].label_id
    photo = review.save(
        db, "rita", photo, review.as_loaded(photo), edits={drain: LabelEdit("slope_drain", "blocked")}
    ).photo
    photo = review.save(db, "rita", photo, review.as_loaded(photo), delete=(toe,)).photo
    outcome = review.undo_last(db, "rita", photo)
    assert stored_label(db, toe).status == "pending"
    outcome = review.undo_last(db, "rita", outcome.photo)
    assert (stored_label(db, drain).condition, stored_label(db, drain).status) == (
        "normal",
        "pending",
    )
    assert review.undo_last(db, "rita", outcome.photo).message == "Nothing to undo on this photo."
    assert [a for a, _ in events(db, drain)] == ["create", "relabel", "undo"]


def test_a_new_box_without_a_type_saves_nothing(db, photos):
    photo = review.start(db, Filters()).photo
    boxes = [EditorBox(lb.label_id, lb.box) for lb in photo.labels] + [EditorBox(None, (1.0, 1.0, 50.0, 50.0))]
    outcome = review.save(db, "rita", photo, boxes)
    assert outcome.message.startswith("Nothing saved: a new box has no object type")
    assert all(len(label_events(db, lb.label_id)) == 1 for lb in photo.labels)


def test_a_new_box_that_is_empty_or_outside_the_photo_saves_nothing(db, photos):
    photo = review.start(db, Filters()).photo
    kept = [EditorBox(lb.label_id, lb.box) for lb in photo.labels]
    for bad, why in [
        ((30.0, 30.0, 30.0, 80.0), "is empty"),
        ((10.0, 10.0, photo.width + 40.0, 60.0), f"reaches outside the {photo.width}x{photo.height} photo"),
    ]:
        outcome = review.save(db, "rita", photo, [*kept, EditorBox(None, bad, "toe_drain", "blocked")])
        assert outcome.message.startswith("Nothing saved: a new toe drain box was refused: box ")
        assert why in outcome.message
    assert all(len(label_events(db, lb.label_id)) == 1 for lb in photo.labels)
    assert len(review_store.photo_view(db, photo.image_id).labels) == len(photo.labels)


def test_save_next_under_a_filter_accepts_only_the_filtered_labels(db, photos):
    filters = Filters(object_type="toe_drain")
    photo = review.start(db, filters).photo
    drain, toe, veg = (lb.label_id for lb in photo.labels)
    outcome = review.save(db, "rita", photo, review.as_loaded(photo), accept_rest=True, filters=filters)
    assert outcome.changed == [toe]
    assert "2 labels outside the filters left pending" in outcome.message
    assert [stored_label(db, i).status for i in (drain, toe, veg)] == ["pending", "accepted", "pending"]
    assert events(db, drain) == [("create", "ines")]  # not even looked at: no event


def test_a_save_without_the_photos_boxes_is_refused_not_read_as_remove_all(db, photos):
    photo = review.start(db, Filters()).photo
    for boxes in (None, []):
        outcome = review.save(db, "rita", photo, boxes, accept_rest=True)
        assert outcome.message.startswith("Nothing saved: the photo's boxes did not come with the save")
    assert all(len(label_events(db, lb.label_id)) == 1 for lb in photo.labels)
    # The last box of a photo goes by an explicit delete.
    (only,) = review_store.photo_view(db, photos[1]).labels
    single = review_store.photo_view(db, photos[1])
    assert review.save(db, "rita", single, review.as_loaded(single), delete=(only.label_id,)).changed == [only.label_id]


def test_a_label_whose_box_was_not_on_screen_cannot_be_accepted(db, photos):
    photo = review.start(db, Filters()).photo
    drain, toe, _ = (lb.label_id for lb in photo.labels)
    without_toe = [box for box in review.as_loaded(photo) if box.label_id != toe]
    outcome = review.save(db, "rita", photo, without_toe, accept=(toe,))
    assert outcome.message == "Nothing saved: #2 cannot be accepted, its box was not on your screen."
    assert stored_label(db, toe).status == "pending" and stored_label(db, drain).status == "pending"


def test_a_stale_confirm_of_a_condition_someone_changed_is_a_conflict(db, photos):
    mine = review.start(db, Filters()).photo
    theirs = review.start(db, Filters()).photo
    drain = mine.labels[0]  # slope drain, normal (the model's)
    review.save(
        db, "bob", theirs, review.as_loaded(theirs), edits={drain.label_id: LabelEdit("slope_drain", "damaged")}
    )
    outcome = review.save(db, "rita", mine, review.as_loaded(mine), accept=(drain.label_id,))
    assert [c.label_id for c in outcome.conflicts] == [drain.label_id]
    assert "bob changed it" in outcome.message and "Your change (accept as normal) was not applied" in outcome.message
    assert (stored_label(db, drain.label_id).condition, stored_label(db, drain.label_id).author) == ("damaged", "bob")
    # A stale accept of what another reviewer accepted unchanged loses nothing: no conflict.
    toe = mine.labels[1]
    review.save(db, "bob", outcome.photo, review.as_loaded(outcome.photo), accept=(toe.label_id,))
    again = review.save(db, "rita", mine, review.as_loaded(mine), accept=(toe.label_id,))
    assert again.conflicts == [] and stored_label(db, toe.label_id).author == "bob"


def test_a_stale_accept_of_a_label_someone_deleted_is_a_conflict_not_dropped(db, photos):
    """'Keep it' against 'remove it': the reviewer is told, rather than 'Nothing changed'."""
    mine = review.start(db, Filters()).photo
    theirs = review.start(db, Filters()).photo
    drain = mine.labels[0].label_id
    review.save(db, "bob", theirs, review.as_loaded(theirs), delete=(drain,))
    outcome = review.save(db, "rita", mine, review.as_loaded(mine), accept=(drain,))
    assert [c.label_id for c in outcome.conflicts] == [drain] and "bob changed it" in outcome.message
    assert stored_label(db, drain).status == "deleted"


def test_a_box_moved_to_coordinates_that_are_not_numbers_is_refused(db, photos):
    photo = review.start(db, Filters()).photo
    drain = photo.labels[0].label_id
    boxes = [
        EditorBox(b.label_id, (float("nan"), *b.box[1:])) if b.label_id == drain else b for b in review.as_loaded(photo)
    ]
    outcome = review.save(db, "rita", photo, boxes, accept=(drain,))
    assert outcome.message == "Nothing saved: a box came with coordinates that are not numbers; reload the photo."
    assert stored_label(db, drain).status == "pending"


def test_labels_without_a_condition_are_found_by_the_unknown_filter_reviewed_or_not(db, photos):
    """A box drawn with no condition is reviewed (a person drew it) yet unjudged: the queue's
    condition filter "unknown" finds its photo, so it is not lost once the photo leaves the queue."""
    a, _ = photos
    photo = review.start(db, Filters(survey="north")).photo
    drawn = EditorBox(None, (20.0, 300.0, 120.0, 420.0), "toe_drain", None)
    review.save(db, "rita", photo, [*review.as_loaded(photo), drawn], accept_rest=True)
    unknown = Filters(condition="unknown", status="reviewed")
    found = review.start(db, unknown).photo
    assert found.image_id == a and [lb.object_type for lb in found.labels if lb.condition is None] == ["toe_drain"]
    assert review.counts(db, unknown)["reviewed"] == 1
    assert review.start(db, Filters(condition="unknown")).photo is None  # nothing pending is unknown
    assert [row.image_id for row in review.overview(db, unknown)] == [a]


def test_one_save_may_add_at_most_max_new_boxes(db, photos):
    photo = review.start(db, Filters()).photo
    flood = [EditorBox(None, (1.0 + i % 500, 1.0, 5.0 + i % 500, 5.0), "toe_drain", "normal") for i in range(101)]
    outcome = review.save(db, "rita", photo, [*review.as_loaded(photo), *flood])
    assert outcome.message == f"Nothing saved: 101 new boxes in one save, at most {review.MAX_NEW_BOXES}."
    assert len(review_store.photo_view(db, photo.image_id).labels) == 3
    few = review.save(db, "rita", photo, [*review.as_loaded(photo), *flood[:3]], max_new_boxes=2)  # a setting
    assert few.message == "Nothing saved: 3 new boxes in one save, at most 2."


def test_one_undo_reverts_a_whole_save_and_redo_brings_it_back(db, photos):
    photo = review.start(db, Filters()).photo
    ids = [lb.label_id for lb in photo.labels]
    saved = review.save(db, "rita", photo, review.as_loaded(photo), accept_rest=True)  # n: 3 labels
    assert sorted(saved.changed) == sorted(ids)
    undone = review.undo_last(db, "rita", saved.photo)
    assert undone.message == "Undid rita's save of #1, #2, #3." and sorted(undone.changed) == sorted(ids)
    assert [stored_label(db, i).status for i in ids] == ["pending"] * 3
    redone = review.redo_last(db, "bob", undone.photo)
    assert redone.message == "Redid rita's undo of #1, #2, #3."
    assert [stored_label(db, i).status for i in ids] == ["accepted"] * 3
    assert review.redo_last(db, "bob", redone.photo).message == "Nothing to redo on this photo."
    # A new save after an undo ends what there is to redo.
    again = review.undo_last(db, "rita", redone.photo)
    fresh = review.save(db, "rita", again.photo, review.as_loaded(again.photo), accept=(ids[0],))
    assert review.redo_last(db, "rita", fresh.photo).message == "Nothing to redo on this photo."
    assert [(e.action, e.actor) for e in label_events(db, ids[1])] == [
        ("create", "ines"),
        ("accept", "rita"),
        ("undo", "rita"),
        ("redo", "bob"),
        ("undo", "rita"),
    ]


def test_a_photo_inspected_again_under_another_survey_is_in_both(db, data_dir, photos):
    a, _ = photos
    assert store(db, data_dir, b"a", PHOTO_A, survey="east") == a  # the same bytes: the same photo
    east = review.start(db, Filters(survey="east")).photo
    assert east.image_id == a and east.survey == "north, east"
    assert review.start(db, Filters(survey="north")).photo.image_id == a
    assert review.counts(db, Filters(survey="east"))["to_review"] == 3


def test_the_overview_lists_the_queue_and_a_jump_opens_a_photo_then_next_goes_on(db, data_dir, photos):
    a, b = photos
    c = store(db, data_dir, b"c", [finding([10, 10, 50, 50], "toe_drain", 0.9, {"normal": 0.95, "blocked": 0.05})])
    rows = review.overview(db, Filters())
    assert [(r.image_id, r.to_review, r.total) for r in rows] == [(a, 3, 3), (b, 1, 1), (c, 1, 1)]
    assert [r.name for r in review.overview(db, Filters(), " B.JP")] == ["b.jpg"]  # a search by file name
    assert [r.image_id for r in review.overview(db, Filters(object_type="toe_drain"))] == [a, c]
    session = review.start(db, Filters())
    jumped = review.jump_to(db, session, c)
    assert jumped.photo.image_id == c
    assert review.previous_photo(db, jumped).photo.image_id == a  # back where the reviewer was
    assert review.next_photo(db, jumped).photo is None  # c is the last in the queue's order
    photo = jumped.photo
    review.save(db, "rita", photo, review.as_loaded(photo), accept_rest=True)
    assert [r.image_id for r in review.overview(db, Filters())] == [a, b]  # reviewed: out of the queue
    toe_drains = review.start(db, Filters(object_type="toe_drain"))
    with pytest.raises(review.ServiceError, match="no label under these filters"):
        review.jump_to(db, toe_drains, b)  # its only label is a rock toe


def test_the_shown_photo_says_its_place_in_the_queue(db, photos):
    session = review.start(db, Filters())
    assert review.place(db, session) == 1
    following = review.next_photo(db, session)
    assert review.place(db, following) == 2 and review.counts(db, Filters())["photos_to_review"] == 2
    photo = following.photo
    following.photo = review.save(db, "rita", photo, review.as_loaded(photo), accept_rest=True).photo
    assert review.place(db, following) is None  # reviewed: it left the queue
    assert review.place(db, review.start(db, Filters(object_type="vegetation"))) == 1
