"""The per-photo narrative: built only from the findings, every finding named by its box number,
a near-even condition never stated as a fact."""

import re

import numpy as np

from core.report.narrative import NOTHING_DETECTED, band_words, narrative
from core.report.rows import UNCERTAIN_MARGIN
from core.spatial import ObjectContext, relations
from core.taxonomy import OBJECT_WORDS
from core.types import Finding, Inspection

MODELS = {"detector": "det-v1", "condition": "cond-v2"}
SIZE = (600, 600)


def photo(boxes_types_probs: list[tuple[tuple, str, dict[str, float]]]) -> Inspection:
    """An inspection of hand-made boxes whose contexts come from ``spatial.relations``, as in the
    pipeline, so the narrative is tested on the relations the product really computes."""
    boxes = np.array([b for b, _, _ in boxes_types_probs], dtype=float)
    types = [t for _, t, _ in boxes_types_probs]
    contexts = relations(boxes, types, SIZE)
    findings = tuple(
        Finding(tuple(b), t, 0.8, max(p, key=p.get), p, ctx)
        for (b, t, p), ctx in zip(boxes_types_probs, contexts, strict=True)
    )
    return Inspection(*SIZE, findings, MODELS)


# A slope drain down the middle ending in a toe drain at the foot; a rock toe just above that
# toe drain on the left; vegetation at the top right.
SLOPE = ((260, 40, 340, 420), "slope_drain", {"normal": 0.1, "blocked": 0.8, "damaged": 0.1})
TOE = ((40, 420, 560, 500), "toe_drain", {"normal": 0.32, "blocked": 0.33, "damaged": 0.35})  # near-even
ROCK = ((40, 360, 200, 415), "rock_toe", {"normal": 0.9, "damaged": 0.1})
VEG = ((440, 20, 580, 150), "vegetation", {"normal": 1.0})
SCENE = photo([SLOPE, TOE, ROCK, VEG])


def sentence_of(text: str, label: str) -> str:
    """The sentence that starts with ``label`` (e.g. 'Toe drain 2')."""
    match = re.search(rf"{re.escape(label)}\b[^.]*(\.\d[^.]*)*\.", text)
    assert match, f"{label!r} not found in {text!r}"
    return match.group(0)


def test_every_finding_appears_by_number_and_word():
    text = narrative(SCENE).lower()
    for number, f in enumerate(SCENE.findings, 1):
        assert f"{OBJECT_WORDS[f.object_type]} {number}" in text
    assert text.startswith("4 objects detected: 1 rock toe, 1 slope drain, 1 toe drain, 1 vegetation.")


def test_action_first_with_place_relation_and_probability():
    text = narrative(SCENE, name="IMG_7.jpg")
    assert text.startswith("IMG_7.jpg: ")
    slope = sentence_of(text, "Slope drain 1")
    assert "likely blocked (80%)" in slope
    assert "of the photo" in slope
    # Needing action comes before undecided and normal findings.
    assert text.index("Slope drain 1") < text.index("Toe drain 2") < text.index("rock toe 3")


def test_relations_name_the_other_box_by_number():
    text = narrative(SCENE)
    assert "at the foot of slope drain 1" in sentence_of(text, "Toe drain 2")
    # The rock toe is normal and summarised briefly, but it relates "just above toe drain 2"
    # in spatial terms; check the relation phrase on an action finding instead.
    damaged_rock = (ROCK[0], "rock_toe", {"normal": 0.1, "damaged": 0.9})
    text = narrative(photo([SLOPE, TOE, damaged_rock]))
    assert "just above toe drain 2" in sentence_of(text, "Rock toe 3")
    assert "likely damaged (90%)" in sentence_of(text, "Rock toe 3")


def test_an_uncertain_finding_is_never_stated_as_a_plain_condition():
    toe = SCENE.findings[1]
    assert toe.condition_margin < UNCERTAIN_MARGIN
    sentence = sentence_of(narrative(SCENE), "Toe drain 2")
    assert "uncertain" in sentence
    assert "damaged (35%) and blocked (33%)" in sentence  # its two leading conditions
    for condition in ("normal", "blocked", "damaged"):
        assert f"likely {condition}" not in sentence
        assert f"is {condition}" not in sentence
    assert "Needs action" not in narrative(photo([TOE]))


def test_normal_objects_are_summarised_briefly():
    text = narrative(photo([ROCK, VEG]))
    assert "Judged normal: rock toe 1 (middle left), vegetation 2 (upper right)." in text
    assert "Nothing was judged blocked or damaged." in text


def test_nothing_detected_says_so_and_asks_for_a_look():
    text = narrative(Inspection(*SIZE, (), MODELS), name="empty.jpg")
    assert text == f"empty.jpg: {NOTHING_DETECTED}"
    assert "may still need a look" in text


def test_relations_out_of_range_are_ignored_and_output_is_deterministic():
    # A context pointing at a box that is not among the findings (e.g. filtered out) is not used.
    from core.spatial import Relation

    ctx = ObjectContext("middle-center", (0.5, 0.5), (Relation("below", 5, "rock_toe"),))
    lone = Finding((1, 1, 9, 9), "slope_drain", 0.5, "damaged", {"normal": 0.1, "blocked": 0.1, "damaged": 0.8}, ctx)
    ins = Inspection(10, 10, (lone,), MODELS)
    assert narrative(ins) == narrative(ins)
    assert "Slope drain 1, in the centre of the photo, is likely damaged (80%)." in narrative(ins)


def test_band_words():
    assert band_words("bottom-left") == "lower left of the photo"
    assert band_words("top-center") == "upper centre of the photo"
    assert band_words("middle-right") == "middle right of the photo"
    assert band_words("middle-center") == "centre of the photo"
