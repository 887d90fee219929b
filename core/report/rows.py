"""Plain-language summaries and tabular exports of inspections.

Three shapes of the same findings: ``finding_rows`` (one CSV row per finding, machine-readable),
``report_rows`` (the downloadable report: those rows plus who, when and which survey, and one
row for a photo where nothing was detected), and ``table_rows`` (what a person reads in the
app: words for headers, short photo names, box numbers matching the drawing).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from core.taxonomy import CONDITIONS, counted, object_word
from core.types import Finding, Inspection

# Top-1 minus top-2 condition probability under which a finding is called "uncertain": the
# model could not tell the conditions apart (0.32 / 0.34 / 0.35 has a margin of 0.01).
UNCERTAIN_MARGIN = 0.15
NO_OBJECTS = "no objects were detected"
SHORT_NAME = 28  # characters of a photo name shown in the table; the CSV keeps the full name

FINDING_COLUMNS = [
    "image",
    "box",
    "object",
    "condition",
    "uncertain",
    "condition_confidence",
    "condition_margin",
    *(f"prob_{c}" for c in CONDITIONS),
    "detector_confidence",
    "x1",
    "y1",
    "x2",
    "y2",
    "position",
    "detector_model",
    "condition_model",
]
REPORT_COLUMNS = ["survey", "site", "survey_date", "inspector", "inspected_at", *FINDING_COLUMNS]


@dataclass(frozen=True)
class ReportMeta:
    """What a report is of, and who made it when: the first columns of every CSV row and the
    HTML report's header."""

    inspector: str
    inspected_at: str  # ISO 8601, when the inspection ran
    survey: str | None = None
    site: str | None = None
    survey_date: str | None = None  # the day of the survey (YYYY-MM-DD), as the inspector gave it

    def columns(self) -> list[str]:
        return [self.survey or "", self.site or "", self.survey_date or "", self.inspector, self.inspected_at]


TABLE_COLUMNS = [
    "Photo",
    "Box",
    "Object",
    "Condition",
    *(c.capitalize() for c in CONDITIONS),
    "Detector conf.",
    "Position",
]


def is_uncertain(finding: Finding) -> bool:
    return finding.condition_margin < UNCERTAIN_MARGIN


def condition_text(finding: Finding) -> str:
    """The condition as a person should read it: 'blocked', or 'uncertain (blocked?)'."""
    return f"uncertain ({finding.condition}?)" if is_uncertain(finding) else finding.condition


def short_name(name: str, limit: int = SHORT_NAME) -> str:
    """``name`` cut in the middle to ``limit`` characters, keeping its start and its extension."""
    if len(name) <= limit:
        return name
    tail = max(8, limit // 3)
    return f"{name[: limit - tail - 1]}…{name[-tail:]}"


def _models(inspection: Inspection) -> list[str]:
    return [inspection.models.get("detector", ""), inspection.models.get("condition", "")]


def finding_rows(name: str, inspection: Inspection) -> list[list]:
    """One row per finding, in ``FINDING_COLUMNS`` order; ``box`` is the number drawn on the photo."""
    return [
        [
            name,
            number,
            f.object_type,
            f.condition,
            "yes" if is_uncertain(f) else "no",
            round(f.condition_confidence, 3),
            round(f.condition_margin, 3),
            *(round(f.condition_probs[c], 3) if c in f.condition_probs else "" for c in CONDITIONS),
            round(f.confidence, 3),
            *(round(v) for v in f.box_xyxy),
            f.context.describe(numbered=True),
            *_models(inspection),
        ]
        for number, f in enumerate(inspection.findings, 1)
    ]


def report_rows(name: str, inspection: Inspection, meta: ReportMeta) -> list[list]:
    """``REPORT_COLUMNS`` rows: the findings, or one row saying nothing was detected (so a photo
    never silently drops out of a survey's report)."""
    rows = finding_rows(name, inspection)
    if not rows:
        empty = dict.fromkeys(FINDING_COLUMNS, "")
        empty.update(image=name, position=NO_OBJECTS, detector_model=_models(inspection)[0])
        empty["condition_model"] = _models(inspection)[1]
        rows = [list(empty.values())]
    return [[_spreadsheet_text(cell) for cell in [*meta.columns(), *row]] for row in rows]


def _spreadsheet_text(cell: object) -> object:
    """Text a spreadsheet would run as a formula (a site typed as ``=HYPERLINK(...)``) starts
    with an apostrophe, which spreadsheets show as text (OWASP's CSV injection advice)."""
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell


def table_rows(name: str, inspection: Inspection) -> list[list]:
    """``TABLE_COLUMNS`` rows for the app's table; a photo without detections gets one row."""
    shown = short_name(name)
    if not inspection.findings:
        return [[shown, "", "", NO_OBJECTS, *("" for _ in CONDITIONS), "", ""]]
    return [
        [
            shown,
            number,
            object_word(f.object_type),
            condition_text(f),
            *(f"{f.condition_probs[c]:.2f}" if c in f.condition_probs else "–" for c in CONDITIONS),
            f"{f.confidence:.2f}",
            f.context.describe(numbered=True),
        ]
        for number, f in enumerate(inspection.findings, 1)
    ]


def _where(name: str, number: int, f: Finding) -> str:
    # The short name, as in the table's Photo column, so a sentence leads to its row.
    return f"{object_word(f.object_type)} #{number} in {short_name(name)}, {f.context.band}"


@dataclass(frozen=True)
class Tally:
    """The counts of a set of inspections, made once for every summary that shows them (the
    page's sentences, the HTML report's table and lists), so they never disagree. A finding is a
    *sure* call or an *uncertain* one (``is_uncertain``), never both: counts by condition are of
    sure calls, and the uncertain ones are counted apart; sure + uncertain = every finding. The
    CSV's ``uncertain`` column splits its rows the same way. A photo is keyed by its name (the
    page) or its place in the report."""

    photos: int
    empty: int  # inspected photos with no finding
    findings: tuple[tuple[object, int, Finding], ...]  # (photo key, box number, finding)

    @classmethod
    def of(cls, inspections: Mapping[object, Inspection | None]) -> Tally:
        """``inspections`` by photo key; None for a photo that was not inspected (it counts as a
        photo, not as an empty one)."""
        done = [(key, ins) for key, ins in inspections.items() if ins is not None]
        return cls(
            len(inspections),
            sum(1 for _, ins in done if not ins.findings),
            tuple((key, n, f) for key, ins in done for n, f in enumerate(ins.findings, 1)),
        )

    @property
    def sure(self) -> tuple[tuple[object, int, Finding], ...]:
        return tuple(item for item in self.findings if not is_uncertain(item[2]))

    @property
    def uncertain(self) -> tuple[tuple[object, int, Finding], ...]:
        return tuple(item for item in self.findings if is_uncertain(item[2]))

    @property
    def problems(self) -> list[tuple[object, int, Finding]]:
        """Sure blocked or damaged calls, the most confident first: what to check first."""
        return sorted((i for i in self.sure if i[2].condition != "normal"), key=lambda i: -i[2].condition_confidence)

    def by_type(self) -> Counter[str]:
        return Counter(f.object_type for _, _, f in self.findings)

    def sure_by(self) -> Counter[tuple[str, str]]:
        """Sure calls by (object type, condition)."""
        return Counter((f.object_type, f.condition) for _, _, f in self.sure)

    def uncertain_by_type(self) -> Counter[str]:
        return Counter(f.object_type for _, _, f in self.uncertain)


def summarize(inspections: dict[str, Inspection]) -> str:
    """A few sentences: what was found, which objects need attention first (the most certain
    problems), and which the model could not decide (never counted as certain)."""
    if not inspections:
        return "No photos inspected."
    tally = Tally.of(inspections)
    if not tally.findings:
        return f"{counted(tally.photos, 'photo')} inspected; no rock toes, drains or vegetation were detected."
    found = ", ".join(counted(n, object_word(t)) for t, n in tally.by_type().most_common())
    lines = [f"{counted(tally.photos, 'photo')} inspected: {found}."]
    if tally.empty:
        lines.append(f"{counted(tally.empty, 'photo')} with no objects detected.")
    problems, uncertain = tally.problems, tally.uncertain
    if problems:
        by_condition = Counter(f.condition for _, _, f in problems)
        lines.append(
            "Needs attention: "
            + ", ".join(f"{n} {c}" for c, n in by_condition.most_common())
            # "Check first", not "most certain": on a photo with few problems the top of this
            # list may be a 55% call, which is a problem to check, not a certain one.
            + ". Check first: "
            + "; ".join(
                f"{_where(name, n, f)}: {f.condition} ({f.condition_confidence:.0%})" for name, n, f in problems[:3]
            )
            + "."
        )
    elif not uncertain:
        lines.append("Every detected object was judged normal.")
    else:
        lines.append("No object was judged blocked or damaged with confidence.")
    if uncertain:
        lines.append(
            f"Uncertain, {counted(len(uncertain), 'object')} (conditions within {UNCERTAIN_MARGIN:.2f} of each "
            "other, check by eye): "
            + "; ".join(f"{_where(name, n, f)}" for name, n, f in uncertain[:5])
            + (f"; and {len(uncertain) - 5} more" if len(uncertain) > 5 else "")
            + "."
        )
    return " ".join(lines)
