"""Drawn findings: every label tag on the photo, none over another."""

import itertools

import numpy as np

from core.images import load_image
from core.render import place_tags, render
from core.settings import PROJECT_ROOT


def _overlap(a, b) -> int:
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def test_tags_of_boxes_at_the_top_edge_do_not_cover_each_other():
    # The example photo's two rock toes along the top edge: their tags were drawn over each other.
    boxes = np.array([[4, 4, 152, 48], [168, 4, 552, 60], [272, 30, 334, 585]])
    tags = place_tags(boxes, [(212, 20), (212, 20), (222, 20)], (720, 720))
    assert all(0 <= x1 and 0 <= y1 and x2 <= 720 and y2 <= 720 for x1, y1, x2, y2 in tags)
    assert all(_overlap(a, b) == 0 for a, b in itertools.combinations(tags, 2)), tags
    assert tags[0][:2] == (4, 0)  # no room above: on the photo's edge, over the box's top
    assert tags[1][:2] == (168, 60)  # beside tag 1 it would cover it: below its box


def test_a_tag_goes_above_its_box_where_there_is_room():
    assert place_tags(np.array([[100, 200, 300, 400]]), [(120, 20)], (720, 720)) == [(100, 180, 220, 200)]


def test_the_example_photo_is_drawn_with_its_tags_apart(inspector, monkeypatch):
    import core.render

    placed = []
    real = core.render.place_tags
    monkeypatch.setattr(core.render, "place_tags", lambda *args: placed.extend(real(*args)) or placed)
    photo = load_image(PROJECT_ROOT / "examples" / "slope_dji_0015.jpg")
    inspection = inspector.inspect(photo)
    drawn = render(photo, inspection)
    assert len(placed) == len(inspection.findings) >= 5
    assert all(0 <= x1 and 0 <= y1 and x2 <= drawn.width and y2 <= drawn.height for x1, y1, x2, y2 in placed)
    assert all(_overlap(a, b) == 0 for a, b in itertools.combinations(placed, 2)), placed
