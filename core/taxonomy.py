"""Object types, conditions, and the mapping from source class names to (type, condition).

The detector finds object types; the condition model picks one of the conditions allowed for
that type. The 9 "classes" of the source dataset are the (type, condition) pairs below.
"""

from __future__ import annotations

import re

OBJECT_TYPES: tuple[str, ...] = ("rock_toe", "slope_drain", "toe_drain", "vegetation")
CONDITIONS: tuple[str, ...] = ("normal", "blocked", "damaged")
# The one palette of conditions, used by the drawn photos, the review editor and the HTML report:
# normal green, blocked amber, damaged red, not yet known (None) grey.
CONDITION_COLOURS: dict[str | None, str] = {
    "normal": "#2e9e44",
    "blocked": "#f0a202",
    "damaged": "#d7263d",
    None: "#64748b",
}
# The same hues darkened for words on white, where amber and red at full strength are hard to read.
CONDITION_TEXT_COLOURS: dict[str, str] = {"blocked": "#a86f00", "damaged": "#b3122b"}

ALLOWED_CONDITIONS: dict[str, tuple[str, ...]] = {
    "rock_toe": ("normal", "damaged"),
    "slope_drain": ("normal", "blocked", "damaged"),
    "toe_drain": ("normal", "blocked", "damaged"),
    "vegetation": ("normal",),
}

# Human-readable words used in prompts ("a toe drain"), one per object type.
OBJECT_WORDS: dict[str, str] = {
    "rock_toe": "rock toe",
    "slope_drain": "slope drain",
    "toe_drain": "toe drain",
    "vegetation": "vegetation",
}


def object_word(object_type: str) -> str:
    """What people call a type ("slope drain"), for everything a person reads."""
    return OBJECT_WORDS.get(object_type, object_type.replace("_", " "))


def counted(n: int, word: str) -> str:
    """'1 photo', '3 photos', '2 vegetation' (a mass noun keeps its form)."""
    return f"{n} {word}{'s' if n != 1 and word != 'vegetation' else ''}"


CLASSES: tuple[tuple[str, str], ...] = tuple((t, c) for t in OBJECT_TYPES for c in ALLOWED_CONDITIONS[t])


def check_pair(object_type: str, condition: str) -> None:
    if object_type not in ALLOWED_CONDITIONS:
        raise ValueError(f"unknown object type {object_type!r}; expected one of {OBJECT_TYPES}")
    if condition not in ALLOWED_CONDITIONS[object_type]:
        raise ValueError(
            f"condition {condition!r} is not allowed for {object_type}; allowed: {ALLOWED_CONDITIONS[object_type]}"
        )


def class_name(object_type: str, condition: str) -> str:
    """The 9-class name of a pair, e.g. ``slope_drain_blocked``; normal objects keep the type name."""
    check_pair(object_type, condition)
    return object_type if condition == "normal" else f"{object_type}_{condition}"


CLASS_NAMES: tuple[str, ...] = tuple(class_name(t, c) for t, c in CLASSES)


def _normalize(name: str) -> str:
    # "Toe drain- Blocked", "toe_drain_blocked", "Toe-Drain blocked" -> "toe drain blocked"
    return re.sub(r"[\s_\-]+", " ", name.strip().lower()).strip()


_BY_NORMALIZED: dict[str, tuple[str, str | None]] = {}
for _t in OBJECT_TYPES:
    _BY_NORMALIZED[_normalize(_t)] = (_t, None)  # 4-class name: condition unknown
    for _c in ALLOWED_CONDITIONS[_t]:
        _BY_NORMALIZED[_normalize(f"{_t} {_c}")] = (_t, _c)


def parse_class_name(name: str, bare_condition: str | None = None) -> tuple[str, str | None]:
    """Map a source spelling to ``(object_type, condition)``.

    A bare type name (``slope drain``, ``Toe drain``, ``rock_toe``) gives ``bare_condition``:
    in a 4-class dataset it says nothing about condition (pass ``None``); in the 9-class set it
    is the normal class (pass ``"normal"``). ``slope drain normal`` is always ``normal``.
    """
    key = _normalize(name)
    if key not in _BY_NORMALIZED:
        raise ValueError(f"unknown class name {name!r}")
    object_type, condition = _BY_NORMALIZED[key]
    if condition is None and bare_condition is not None:
        check_pair(object_type, bare_condition)
        condition = bare_condition
    return object_type, condition


def class_words(name: str) -> str:
    """A 9-class name as people say it: ``rock_toe`` -> 'rock toe normal', ``toe_drain_blocked``
    -> 'toe drain blocked'; any other name with its underscores as spaces."""
    try:
        object_type, condition = parse_class_name(name, "normal")
    except ValueError:
        return name.replace("_", " ")
    return f"{object_word(object_type)} {condition}"
