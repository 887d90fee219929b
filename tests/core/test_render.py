"""Drawn findings: every label tag on the photo, none over another."""

import itertools

import numpy as np
import pytest

from core.images import load_image
from core.render import place_tags, render
from core.settings import PROJECT_ROOT
from tests.conftest import DATA_DIR


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


def test_tags_of_a_crowd_of_boxes_find_clear_places_off_their_boxes():
    # Eight boxes a few pixels apart: the seven spots beside each box hold four tags at most, so
    # the others were drawn over them (8 pairs); they go to the nearest clear place instead.
    boxes = np.array([[300 + 6 * k, 300 + 4 * k, 360 + 6 * k, 340 + 4 * k] for k in range(8)])
    tags = place_tags(boxes, [(220, 20)] * 8, (720, 720))
    assert all(0 <= x1 and 0 <= y1 and x2 <= 720 and y2 <= 720 for x1, y1, x2, y2 in tags)
    assert all(_overlap(a, b) == 0 for a, b in itertools.combinations(tags, 2)), tags
    assert tags[0] == (300, 280, 520, 300)  # the first still above its box
    assert all(_gap(tag, box) <= 25 for tag, box in zip(tags, boxes.tolist(), strict=True)), tags  # near their box


def test_a_tag_on_a_full_photo_goes_where_it_covers_the_least():
    # Room for one tag only: the second cannot be clear, and is still drawn on the photo.
    tags = place_tags(np.array([[10, 10, 50, 50], [20, 20, 60, 60]]), [(100, 100), (100, 100)], (100, 100))
    assert tags == [(0, 0, 100, 100), (0, 0, 100, 100)]


def _gap(tag, box) -> float:
    return float(np.hypot(max(0, box[0] - tag[2], tag[0] - box[2]), max(0, box[1] - tag[3], tag[1] - box[3])))


# Photos of 14 findings whose tags were drawn over each other (1 and 2 pairs) before the fallback
# to the nearest clear place; slope_dji_0015.jpg's two rock toes along the top edge.
@pytest.mark.parametrize(
    "photo",
    [
        PROJECT_ROOT / "examples" / "slope_dji_0015.jpg",
        PROJECT_ROOT / "examples" / "slope_lagoon2_620.jpg",
        DATA_DIR / "val" / "images" / "Lagoon2and3_B0_41_V_jpg.rf.3f8247dc7ef6c2365d9413310fd73694.jpg",
    ],
    ids=lambda path: path.name[:20],
)
def test_crowded_photos_are_drawn_with_their_tags_apart(inspector, monkeypatch, photo):
    import core.render

    placed = []
    real = core.render.place_tags
    monkeypatch.setattr(core.render, "place_tags", lambda *args: placed.extend(real(*args)) or placed)
    photo = load_image(photo)
    inspection = inspector.inspect(photo)
    drawn = render(photo, inspection)
    assert len(placed) == len(inspection.findings) >= 5
    assert all(0 <= x1 and 0 <= y1 and x2 <= drawn.width and y2 <= drawn.height for x1, y1, x2, y2 in placed)
    assert all(_overlap(a, b) == 0 for a, b in itertools.combinations(placed, 2)), placed
