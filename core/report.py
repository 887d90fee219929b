"""Plain-language summaries and tabular exports of inspections."""

from __future__ import annotations

from collections import Counter

from core.taxonomy import OBJECT_WORDS
from core.types import Inspection

FINDING_COLUMNS = [
    "image",
    "object",
    "condition",
    "condition_confidence",
    "detector_confidence",
    "x1",
    "y1",
    "x2",
    "y2",
    "position",
    "probabilities",
]


def finding_rows(name: str, inspection: Inspection) -> list[list]:
    """One row per finding, in ``FINDING_COLUMNS`` order."""
    return [
        [
            name,
            f.object_type,
            f.condition,
            round(f.condition_confidence, 3),
            round(f.confidence, 3),
            *(round(v) for v in f.box_xyxy),
            f.context.describe(),
            ", ".join(f"{k} {v:.2f}" for k, v in f.condition_probs.items()),
        ]
        for f in inspection.findings
    ]


def summarize(inspections: dict[str, Inspection]) -> str:
    """A few sentences: what was found, and which objects need attention first."""
    if not inspections:
        return "No photos inspected."
    findings = [(name, f) for name, ins in inspections.items() for f in ins.findings]
    if not findings:
        return f"{len(inspections)} photo(s) inspected; no rock toes, drains or vegetation were detected."
    counts = Counter(f.object_type for _, f in findings)
    found = ", ".join(
        f"{n} {OBJECT_WORDS[t]}{'s' if n > 1 and t != 'vegetation' else ''}" for t, n in counts.most_common()
    )
    lines = [f"{len(inspections)} photo(s) inspected: {found}."]
    problems = sorted(
        ((name, f) for name, f in findings if f.condition != "normal"),
        key=lambda item: -item[1].condition_confidence,
    )
    if problems:
        by_condition = Counter(f.condition for _, f in problems)
        lines.append(
            "Needs attention: "
            + ", ".join(f"{n} {c}" for c, n in by_condition.most_common())
            + ". Most certain: "
            + "; ".join(
                f"{OBJECT_WORDS[f.object_type]} {f.condition} ({f.condition_confidence:.0%}) "
                f"in {name}, {f.context.band}"
                for name, f in problems[:3]
            )
            + "."
        )
    else:
        lines.append("Every detected object was judged normal.")
    return " ".join(lines)
