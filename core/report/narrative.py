"""A plain-language description of one inspected photo, for people who will not open the image.

It is written from the findings alone (types, conditions, probabilities, spatial relations),
with no model call, so it can never say more than the findings do: every finding is named by
the number drawn on its box, and a near-even condition (margin under ``UNCERTAIN_MARGIN``) is
reported as uncertain with its two leading conditions, never as a fact.
"""

from __future__ import annotations

from collections import Counter

from core.report.rows import is_uncertain
from core.spatial import Relation, relation_phrase
from core.taxonomy import OBJECT_TYPES, counted, object_word
from core.types import Finding, Inspection

NOTHING_DETECTED = (
    "No rock toes, drains or vegetation were detected in this photo. It may still need a look: "
    "the detector can miss objects, so an empty result is not proof that there are none."
)

# Band ("bottom-left") to words: "lower left". Phrased for "in the ... of the photo".
_VERTICAL = {"top": "upper", "middle": "middle", "bottom": "lower"}
_HORIZONTAL = {"left": "left", "center": "centre", "right": "right"}

# Which relation best says where an object is: the domain ones (how drainage is built) name
# the drain that matters, then touching objects, then plain directions.
_RANK = {"at_foot_of": 0, "above_toe_drain": 0, "overlaps": 1}


def label(number: int, finding: Finding) -> str:
    """'toe drain 3': the object word and the number drawn on its box."""
    return f"{object_word(finding.object_type)} {number}"


def band_words(band: str) -> str:
    """'bottom-left' -> 'lower left of the photo'; 'middle-center' -> 'centre of the photo'."""
    vertical, _, horizontal = band.partition("-")
    v, h = _VERTICAL.get(vertical, vertical), _HORIZONTAL.get(horizontal, horizontal)
    if v == "middle" and h == "centre":
        return "centre of the photo"
    return f"{v} {h} of the photo"


def best_relation(finding: Finding, count: int) -> Relation | None:
    """The single most useful relation of ``finding`` to another of the ``count`` findings of the
    same photo; among equals, the first (``spatial.relations`` lists the nearest first)."""
    usable = [r for r in finding.context.relations if 0 <= r.other < count]
    if not usable:
        return None
    return min(usable, key=lambda r: _RANK.get(r.relation, 9))  # min() keeps the first of equals


def where(finding: Finding, findings: tuple[Finding, ...]) -> str:
    """'lower left of the photo, at the foot of slope drain 2'."""
    text = band_words(finding.context.band)
    relation = best_relation(finding, len(findings))
    if relation is not None:
        other = findings[relation.other]  # the other's own type, as drawn, not the relation's copy
        text += f", {relation_phrase(relation.relation)} {label(relation.other + 1, other)}"
    return text


def _leading(finding: Finding) -> list[tuple[str, float]]:
    return sorted(finding.condition_probs.items(), key=lambda item: -item[1])


def verdict(finding: Finding) -> str:
    """'is likely blocked (80%)', or for a near-even one 'is uncertain: blocked (35%) and damaged
    (34%) are nearly even; check it by eye' (the model's top pick is not stated as the answer)."""
    if is_uncertain(finding):
        (first, p1), (second, p2) = _leading(finding)[:2]
        return f"is uncertain: {first} ({p1:.0%}) and {second} ({p2:.0%}) are nearly even; check it by eye"
    return f"is likely {finding.condition} ({finding.condition_confidence:.0%})"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def narrative(inspection: Inspection, name: str | None = None) -> str:
    """Plain sentences about one photo: counts by type; then each finding needing action
    (confidently blocked or damaged), each uncertain one, then the normal ones briefly, each by
    its box number. ``name`` (the photo's), if given, opens the text."""
    findings = inspection.findings
    intro = f"{name}: " if name else ""
    if not findings:
        return intro + NOTHING_DETECTED
    numbered = list(enumerate(findings, 1))
    counts = Counter(f.object_type for f in findings)
    # OBJECT_TYPES order, so the same findings always read the same way.
    kinds = sorted(counts, key=lambda t: (OBJECT_TYPES.index(t) if t in OBJECT_TYPES else len(OBJECT_TYPES), t))
    total = len(findings)
    lines = [
        intro
        + f"{total} object{'s' if total != 1 else ''} detected: "
        + ", ".join(counted(counts[t], object_word(t)) for t in kinds)
        + "."
    ]

    action = [(n, f) for n, f in numbered if f.condition != "normal" and not is_uncertain(f)]
    uncertain = [(n, f) for n, f in numbered if is_uncertain(f)]
    normal = [(n, f) for n, f in numbered if f.condition == "normal" and not is_uncertain(f)]

    if action:
        lines.append(f"Needs action ({len(action)}):")
        lines += [f"{_capital(label(n, f))}, in the {where(f, findings)}, {verdict(f)}." for n, f in action]
    if uncertain:
        lines.append(f"Uncertain ({len(uncertain)}):")
        lines += [f"{_capital(label(n, f))}, in the {where(f, findings)}, {verdict(f)}." for n, f in uncertain]
    if normal:
        # Briefly: a normal object needs no action, but each is still named so none goes missing.
        parts = [f"{label(n, f)} ({band_words(f.context.band).removesuffix(' of the photo')})" for n, f in normal]
        lines.append(f"Judged normal: {', '.join(parts)}.")
    if not action and not uncertain:
        lines.append("Nothing was judged blocked or damaged.")
    return " ".join(lines)
