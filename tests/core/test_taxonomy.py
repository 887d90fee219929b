import pytest

from core.taxonomy import (
    ALLOWED_CONDITIONS,
    CLASS_NAMES,
    class_name,
    class_words,
    parse_class_name,
)


@pytest.mark.parametrize(
    "source, bare, expected",
    [
        # the 9 source spellings of the conditional dataset
        ("rock toe", "normal", ("rock_toe", "normal")),
        ("rock toe damaged", "normal", ("rock_toe", "damaged")),
        ("slope drain", "normal", ("slope_drain", "normal")),
        ("slope drain blocked", "normal", ("slope_drain", "blocked")),
        ("slope drain damaged", "normal", ("slope_drain", "damaged")),
        ("Toe drain", "normal", ("toe_drain", "normal")),
        ("Toe drain- Blocked", "normal", ("toe_drain", "blocked")),
        ("Toe drain- Damaged", "normal", ("toe_drain", "damaged")),
        ("vegetation", "normal", ("vegetation", "normal")),
        # 4-class names, with spaces or underscores: no condition known
        ("rock_toe", None, ("rock_toe", None)),
        ("slope_drain", None, ("slope_drain", None)),
        ("toe drain", None, ("toe_drain", None)),
        ("Vegetation", None, ("vegetation", None)),
        # our own 9-class names round-trip
        ("toe_drain_blocked", None, ("toe_drain", "blocked")),
        ("  SLOPE-DRAIN   damaged ", None, ("slope_drain", "damaged")),
        ("slope drain normal", None, ("slope_drain", "normal")),
    ],
)
def test_source_spellings_map_to_type_and_condition(source, bare, expected):
    assert parse_class_name(source, bare_condition=bare) == expected


@pytest.mark.parametrize(
    "name, message",
    [
        ("culvert", "unknown class name"),
        ("vegetation blocked", "unknown class name"),
        ("rock toe blocked", "unknown class name"),
        ("", "unknown class name"),
    ],
)
def test_unknown_or_disallowed_names_are_refused(name, message):
    with pytest.raises(ValueError, match=message):
        parse_class_name(name)


def test_nine_classes_and_their_names_round_trip():
    assert len(CLASS_NAMES) == 9
    for name in CLASS_NAMES:
        object_type, condition = parse_class_name(name, bare_condition="normal")
        assert class_name(object_type, condition) == name
    assert ALLOWED_CONDITIONS["vegetation"] == ("normal",)


def test_class_name_refuses_a_condition_the_type_cannot_have():
    with pytest.raises(ValueError, match="not allowed for vegetation"):
        class_name("vegetation", "damaged")


def test_class_names_read_as_words():
    assert class_words("rock_toe") == "rock toe normal"  # a bare 9-class name is the normal class
    assert class_words("toe_drain_blocked") == "toe drain blocked"
    assert class_words("not_a_class") == "not a class"
