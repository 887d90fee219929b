"""Where each object is on the photo and how it stands to the others.

Geometric relations (above / below / left_of / right_of / overlaps) come from box geometry in
image coordinates (y grows downwards). Two domain relations encode how slope drainage is built:
a toe drain runs along the foot of the slope where slope drains end (``at_foot_of``), and a rock
toe sits just above a toe drain (``above_toe_drain``). They feed the condition prompt and are
returned with each finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.taxonomy import object_word

NEAREST = 3  # geometric relations kept per object: the nearest few, to keep prompts short
OVERLAP_FRACTION = 0.1  # intersection / smaller box area from which two boxes "overlap"
RELATION_PHRASES = {  # how a person says each relation
    "at_foot_of": "at the foot of",
    "above_toe_drain": "just above",
    "overlaps": "overlapping",
    "above": "above",
    "below": "below",
    "left_of": "left of",
    "right_of": "right of",
}


def relation_phrase(relation: str) -> str:
    """'at the foot of' for ``at_foot_of``: the words before the other object's name."""
    return RELATION_PHRASES.get(relation, relation.replace("_", " "))


@dataclass(frozen=True)
class Relation:
    relation: str  # above, below, left_of, right_of, overlaps, at_foot_of, above_toe_drain
    other: int  # index of the other object in the same photo
    other_type: str

    def as_dict(self) -> dict:
        return {"relation": self.relation, "other": self.other, "other_type": self.other_type}


@dataclass(frozen=True)
class ObjectContext:
    band: str  # e.g. "bottom-center": vertical third and horizontal third of the photo
    center: tuple[float, float]  # normalized (x, y) in [0, 1]
    relations: tuple[Relation, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict:
        return {
            "band": self.band,
            "center": [round(self.center[0], 4), round(self.center[1], 4)],
            "relations": [r.as_dict() for r in self.relations],
        }

    @classmethod
    def from_dict(cls, values: dict) -> ObjectContext:
        """The inverse of ``as_dict`` (a stored prediction's relations back into a context)."""
        return cls(
            band=values["band"],
            center=(float(values["center"][0]), float(values["center"][1])),
            relations=tuple(Relation(r["relation"], int(r["other"]), r["other_type"]) for r in values["relations"]),
        )

    def describe(self, numbered: bool = False) -> str:
        """One plain sentence for the prompt, e.g. 'bottom-center of the photo, at the foot of a
        slope drain, below a rock toe'. Each other object is named once, by its most specific
        relation (a domain relation, then overlapping, then a direction), so a toe drain just
        below a rock toe is not also listed as "above" and "overlapping" it. ``numbered``: each
        other object by the number drawn on its box ('below rock toe 4'), for the tables and
        reports a person reads beside the drawing; the prompt keeps the words the model learned."""
        best: dict[int, Relation] = {}
        for r in self.relations:
            if r.other not in best or _SPECIFICITY.get(r.relation, 9) < _SPECIFICITY.get(best[r.other].relation, 9):
                best[r.other] = r
        parts = [f"{self.band} of the photo"]
        # Most specific first; among equals, the order relations() gave (nearest first).
        for r in sorted(best.values(), key=lambda r: _SPECIFICITY.get(r.relation, 9)):
            other = object_word(r.other_type)
            if numbered:
                named = f"{other} {r.other + 1}"
            else:  # "right of vegetation": a mass noun takes no article
                named = other if other == "vegetation" else "a " + other
            phrase = f"{relation_phrase(r.relation)} {named}"
            if phrase not in parts:
                parts.append(phrase)
        return ", ".join(parts)


# Lower is more specific: what describe() says when one object relates to another in several ways.
_SPECIFICITY = {"at_foot_of": 0, "above_toe_drain": 0, "overlaps": 1}


def band_of(cx: float, cy: float) -> str:
    vertical = ("top", "middle", "bottom")[min(int(cy * 3), 2)]
    horizontal = ("left", "center", "right")[min(int(cx * 3), 2)]
    return f"{vertical}-{horizontal}"


def relations(xyxy: np.ndarray, object_types: list[str], image_size: tuple[int, int]) -> list[ObjectContext]:
    """Context for each box. ``xyxy`` is (n, 4) in pixels, ``image_size`` is (width, height)."""
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    if len(boxes) != len(object_types):
        raise ValueError(f"{len(boxes)} boxes but {len(object_types)} object types")
    width, height = image_size
    centers = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
    contexts = []
    for i in range(len(boxes)):
        cx, cy = centers[i, 0] / width, centers[i, 1] / height
        found = _domain_partners(i, boxes, object_types, height)
        distance = np.hypot(*(centers - centers[i]).T / np.array([[width], [height]]))
        distance[i] = np.inf
        for j in np.argsort(distance, kind="stable")[:NEAREST]:
            if np.isfinite(distance[j]):
                found.append(Relation(_geometric(boxes[i], boxes[j]), int(j), object_types[j]))
        contexts.append(ObjectContext(band=band_of(cx, cy), center=(float(cx), float(cy)), relations=tuple(found)))
    return contexts


def all_pair_relations(
    xyxy: np.ndarray, object_types: list[str], image_size: tuple[int, int]
) -> set[tuple[int, str, int]]:
    """Every (i, relation, j) for every ordered pair, not only the nearest: for evaluating
    relations found on detected boxes against those of labelled boxes."""
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    found = {(i, _geometric(boxes[i], boxes[j]), j) for i in range(len(boxes)) for j in range(len(boxes)) if i != j}
    for i in range(len(boxes)):
        found |= {(i, r.relation, r.other) for r in _domain_partners(i, boxes, object_types, image_size[1])}
    return found


def _geometric(a: np.ndarray, b: np.ndarray) -> str:
    """How box ``a`` stands to box ``b``."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min(_area(a), _area(b))
    if smaller > 0 and iw * ih / smaller >= OVERLAP_FRACTION:
        return "overlaps"
    dx = (b[0] + b[2]) / 2 - (a[0] + a[2]) / 2
    dy = (b[1] + b[3]) / 2 - (a[1] + a[3]) / 2
    if abs(dy) >= abs(dx):
        return "above" if dy > 0 else "below"
    return "left_of" if dx > 0 else "right_of"


def _domain_partners(i: int, boxes: np.ndarray, object_types: list[str], height: float) -> list[Relation]:
    """``at_foot_of`` for a toe drain meeting the lower end of a slope drain; ``above_toe_drain``
    for a rock toe lying just above a toe drain. Both need the x-ranges to overlap and a
    vertical gap under 10% of the photo height."""
    me, kind = boxes[i], object_types[i]
    wanted = {"toe_drain": ("slope_drain", "at_foot_of"), "rock_toe": ("toe_drain", "above_toe_drain")}
    if kind not in wanted:
        return []
    other_kind, name = wanted[kind]
    tolerance = 0.1 * height
    found = []
    for j, other in enumerate(boxes):
        if j == i or object_types[j] != other_kind or not _x_overlap(me, other):
            continue
        if kind == "toe_drain":
            # The slope drain ends (its bottom edge) inside or near the toe drain's vertical span,
            # and the toe drain is the lower of the two.
            ends_here = me[1] - tolerance <= other[3] <= me[3] + tolerance
            lower = (me[1] + me[3]) / 2 > (other[1] + other[3]) / 2
            if ends_here and lower:
                found.append(Relation(name, j, other_kind))
        else:
            # The rock toe's centre is above the toe drain's, and its bottom edge reaches the
            # toe drain or stops within the tolerance above it.
            above = (me[1] + me[3]) / 2 < (other[1] + other[3]) / 2
            close = other[1] - tolerance <= me[3]
            if above and close:
                found.append(Relation(name, j, other_kind))
    return found


def _x_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0])


def _area(box: np.ndarray) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])
