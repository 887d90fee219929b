import numpy as np
import pytest

from core.spatial import band_of, relations

SIZE = (1000, 1000)


def rels(context):
    return {(r.relation, r.other) for r in context.relations}


@pytest.mark.parametrize(
    "cx, cy, band",
    [
        (0.1, 0.1, "top-left"),
        (0.5, 0.5, "middle-center"),
        (0.9, 0.95, "bottom-right"),
        (1.0, 1.0, "bottom-right"),
        (0.0, 0.7, "bottom-left"),
    ],
)
def test_band_is_the_third_of_the_photo(cx, cy, band):
    assert band_of(cx, cy) == band


def test_slope_drain_ending_in_a_toe_drain_below_a_rock_toe():
    boxes = np.array(
        [
            [450, 100, 550, 700],  # 0 slope drain running down the slope
            [100, 680, 900, 760],  # 1 toe drain along the foot, where the slope drain ends
            [100, 600, 900, 690],  # 2 rock toe just above the toe drain
        ]
    )
    contexts = relations(boxes, ["slope_drain", "toe_drain", "rock_toe"], SIZE)
    assert contexts[1].band == "bottom-center"
    assert ("at_foot_of", 0) in rels(contexts[1])
    assert ("above_toe_drain", 1) in rels(contexts[2])
    assert ("below", 2) in rels(contexts[1]) or ("overlaps", 2) in rels(contexts[1])
    # the domain relations are one-way: a slope drain is not "at the foot" of anything
    assert not any(r.relation in ("at_foot_of", "above_toe_drain") for r in contexts[0].relations)
    assert contexts[1].describe().startswith("bottom-center of the photo, at the foot of a slope drain")


def test_no_domain_relation_when_far_apart_or_side_by_side():
    boxes = np.array(
        [
            [450, 50, 550, 300],  # slope drain ending high up the slope
            [100, 800, 900, 860],  # toe drain far below it
            [0, 700, 80, 790],  # rock toe beside the toe drain, not above it (no x-overlap)
        ]
    )
    contexts = relations(boxes, ["slope_drain", "toe_drain", "rock_toe"], SIZE)
    assert ("at_foot_of", 0) not in rels(contexts[1])
    assert ("above_toe_drain", 1) not in rels(contexts[2])
    assert ("below", 0) in rels(contexts[1])
    assert ("above", 1) in rels(contexts[0])


@pytest.mark.parametrize(
    "a, b, relation",
    [
        ([0, 0, 100, 100], [0, 300, 100, 400], "above"),
        ([0, 300, 100, 400], [0, 0, 100, 100], "below"),
        ([0, 0, 100, 100], [300, 0, 400, 100], "left_of"),
        ([300, 0, 400, 100], [0, 0, 100, 100], "right_of"),
        ([0, 0, 100, 100], [50, 50, 150, 150], "overlaps"),
        ([0, 0, 100, 100], [95, 0, 400, 100], "left_of"),  # touching by 5% is not overlapping
    ],
)
def test_geometric_relation_of_two_boxes(a, b, relation):
    contexts = relations(np.array([a, b]), ["vegetation", "vegetation"], SIZE)
    assert rels(contexts[0]) == {(relation, 1)}


def test_only_the_nearest_three_get_geometric_relations_and_centers_are_normalized():
    boxes = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10], [60, 0, 70, 10], [900, 900, 990, 990]])
    contexts = relations(boxes, ["vegetation"] * 5, SIZE)
    assert {other for _, other in rels(contexts[0])} == {1, 2, 3}
    assert contexts[4].center == pytest.approx((0.945, 0.945))


def test_empty_and_mismatched_input():
    assert relations(np.zeros((0, 4)), [], SIZE) == []
    with pytest.raises(ValueError, match="2 boxes but 1 object types"):
        relations(np.zeros((2, 4)), ["rock_toe"], SIZE)


def test_all_pair_relations_cover_every_ordered_pair_and_the_domain_ones():
    from core.spatial import all_pair_relations

    boxes = np.array([[450, 100, 550, 700], [100, 680, 900, 760], [100, 600, 900, 690]])
    found = all_pair_relations(boxes, ["slope_drain", "toe_drain", "rock_toe"], SIZE)
    assert {(i, j) for i, _, j in found} == {(i, j) for i in range(3) for j in range(3) if i != j}
    assert (1, "at_foot_of", 0) in found and (2, "above_toe_drain", 1) in found
    assert (0, "above", 1) in found


def test_vegetation_takes_no_article():
    boxes = np.array([[100, 400, 200, 500], [600, 400, 700, 500]])  # a rock toe left of a patch of vegetation
    contexts = relations(boxes, ["rock_toe", "vegetation"], SIZE)
    assert contexts[0].describe() == "middle-left of the photo, left of vegetation"
    assert contexts[1].describe() == "middle-center of the photo, right of a rock toe"
