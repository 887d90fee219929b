"""The shared value types and their conversions to and from ``sv.Detections``."""

import numpy as np
import pytest

from core.spatial import ObjectContext
from core.types import (
    Finding,
    Inspection,
    LabelledBox,
    LabelledPhoto,
    condition_margin,
    labelled_from_detections,
    labelled_to_detections,
)


def finding(box, object_type, confidence, probs) -> Finding:
    condition = max(probs, key=probs.get)
    return Finding(box, object_type, confidence, condition, probs, ObjectContext("top-left", (0.1, 0.1)))


@pytest.mark.parametrize(
    "probs, margin",
    [
        ({"normal": 1.0}, 1.0),
        ({"normal": 0.6, "damaged": 0.4}, 0.2),
        ({"normal": 0.32, "blocked": 0.34, "damaged": 0.34}, 0.0),
        ({"normal": 0.1, "blocked": 0.7, "damaged": 0.2}, 0.5),
    ],
)
def test_condition_margin_and_review_certainty(probs, margin):
    assert condition_margin(probs) == pytest.approx(margin)
    f = finding((0, 0, 10, 10), "toe_drain", 0.5, probs)
    assert f.condition_margin == pytest.approx(margin)
    assert f.review_certainty == pytest.approx(margin * 0.5)


def test_inspection_to_detections_keeps_types_and_conditions():
    findings = (
        finding((0, 0, 10, 20), "toe_drain", 0.9, {"normal": 0.2, "blocked": 0.7, "damaged": 0.1}),
        finding((5, 5, 30, 40), "vegetation", 0.4, {"normal": 1.0}),
    )
    detections = Inspection(100, 80, findings, {}).detections()
    np.testing.assert_allclose(detections.xyxy, [[0, 0, 10, 20], [5, 5, 30, 40]])
    assert list(detections.class_id) == [2, 3]  # index in OBJECT_TYPES
    assert list(detections.data["condition"]) == ["blocked", "normal"]
    np.testing.assert_allclose(detections.data["condition_confidence"], [0.7, 1.0])
    assert len(Inspection(100, 80, (), {}).detections()) == 0


def test_labelled_boxes_round_trip_through_detections(tmp_path):
    boxes = (LabelledBox((1, 2, 3, 4), "rock_toe", "damaged"), LabelledBox((5, 6, 70, 80), "slope_drain", None))
    assert labelled_from_detections(labelled_to_detections(boxes)) == list(boxes)
    photo = LabelledPhoto("p.jpg", tmp_path / "p.jpg", "val", 100, 100, boxes)
    assert photo.boxes.shape == (2, 4) and photo.object_types == ["rock_toe", "slope_drain"]
    assert list(photo.detections().class_id) == [0, 1]
    empty = LabelledPhoto("q.jpg", tmp_path / "q.jpg", "val", 100, 100, ())
    assert photo.boxes.shape == (2, 4) and empty.boxes.shape == (0, 4)
    assert labelled_from_detections(empty.detections()) == []


@pytest.mark.parametrize(
    "box, object_type, condition, error",
    [
        ((10, 10, 5, 20), "rock_toe", None, "is empty"),
        ((10, 10, 10, 20), "rock_toe", None, "is empty"),
        ((0, 0, float("nan"), 20), "rock_toe", None, "finite"),
        ((0, 0, 5), "rock_toe", None, "four finite numbers"),
        (("a", 0, 5, 5), "rock_toe", None, "not four numbers"),
        ((0, 0, 5, 5), "culvert", None, "unknown object type"),
        ((0, 0, 5, 5), "vegetation", "blocked", "not allowed for vegetation"),
    ],
)
def test_a_labelled_box_cannot_be_made_invalid(box, object_type, condition, error):
    with pytest.raises(ValueError, match=error):
        LabelledBox(box, object_type, condition)


def test_a_labelled_box_knows_whether_it_is_inside_its_photo(tmp_path):
    box = LabelledBox((0, 0, 100.4, 50), "toe_drain", "blocked")
    assert box.box == (0.0, 0.0, 100.4, 50.0)  # floats, whatever it was given
    box.check_inside(100, 50)  # half a pixel of rounding is allowed
    with pytest.raises(ValueError, match="reaches outside the 99x50 photo"):
        box.check_inside(99, 50)
    with pytest.raises(ValueError, match="reaches outside"):
        LabelledPhoto("p.jpg", tmp_path / "p.jpg", "val", 99, 50, (box,))
