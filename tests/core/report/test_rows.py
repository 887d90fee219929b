"""Findings as a person reads them: table rows, the CSV report, the summary, position text."""

import pytest

from core.render import finding_label
from core.report.rows import (
    FINDING_COLUMNS,
    NO_OBJECTS,
    REPORT_COLUMNS,
    TABLE_COLUMNS,
    UNCERTAIN_MARGIN,
    ReportMeta,
    finding_rows,
    is_uncertain,
    report_rows,
    short_name,
    summarize,
    table_rows,
)
from core.spatial import ObjectContext, Relation
from core.types import Finding, Inspection

MODELS = {"detector": "det-v1", "condition": "cond-v2"}
CONTEXT = ObjectContext("bottom-center", (0.5, 0.8))


def finding(object_type: str, probs: dict[str, float]) -> Finding:
    return Finding((10, 20, 110, 220), object_type, 0.7, max(probs, key=probs.get), probs, CONTEXT)


SURE_BLOCKED = finding("toe_drain", {"normal": 0.12, "blocked": 0.80, "damaged": 0.08})
NEAR_EVEN = finding("slope_drain", {"normal": 0.32, "blocked": 0.33, "damaged": 0.35})
ROCK = finding("rock_toe", {"normal": 0.9, "damaged": 0.1})


def inspection(*findings: Finding) -> Inspection:
    return Inspection(640, 480, tuple(findings), MODELS)


@pytest.mark.parametrize(
    ("item", "uncertain"),
    [(SURE_BLOCKED, False), (NEAR_EVEN, True), (ROCK, False), (finding("vegetation", {"normal": 1.0}), False)],
)
def test_uncertain_is_a_small_condition_margin(item, uncertain):
    assert is_uncertain(item) is uncertain
    assert (item.condition_margin < UNCERTAIN_MARGIN) is uncertain


def test_table_rows_number_boxes_and_read_in_words():
    name = "survey/IMG_0001_jpg.rf.0123456789abcdef0123456789abcdef.jpg"
    rows = table_rows(name, inspection(SURE_BLOCKED, NEAR_EVEN))
    assert TABLE_COLUMNS[:4] == ["Photo", "Box", "Object", "Condition"]
    assert all(len(row) == len(TABLE_COLUMNS) for row in rows)
    assert [row[1] for row in rows] == [1, 2]
    assert rows[0][2:7] == ["toe drain", "blocked", "0.12", "0.80", "0.08"]
    assert rows[1][3] == "uncertain (damaged?)"
    assert len(rows[0][0]) <= 28 and rows[0][0].endswith(".jpg") and "…" in rows[0][0]
    assert table_rows("a.jpg", inspection(ROCK))[0][5] == "–"  # rock toes cannot be blocked


def test_a_photo_without_detections_keeps_a_row():
    assert table_rows("empty.jpg", inspection())[0][:4] == ["empty.jpg", "", "", NO_OBJECTS]
    (row,) = report_rows("empty.jpg", inspection(), ReportMeta("ines", "2026-11-23T10:00:00+00:00", "north"))
    values = dict(zip(REPORT_COLUMNS, row, strict=True))
    assert values["image"] == "empty.jpg" and values["position"] == NO_OBJECTS
    assert (values["detector_model"], values["condition_model"]) == ("det-v1", "cond-v2")
    assert finding_rows("empty.jpg", inspection()) == []  # the plain finding rows stay one per finding


def test_report_rows_carry_survey_inspector_date_and_models_with_the_full_name():
    name = "IMG_0001_jpg.rf.0123456789abcdef0123456789abcdef.jpg"
    meta = ReportMeta("ines", "2026-11-23T10:00:00+00:00", site="Km 12", survey_date="2026-11-20")
    rows = report_rows(name, inspection(SURE_BLOCKED, NEAR_EVEN), meta)
    values = [dict(zip(REPORT_COLUMNS, row, strict=True)) for row in rows]
    assert REPORT_COLUMNS[5:] == FINDING_COLUMNS
    assert [v["box"] for v in values] == [1, 2]
    assert values[0]["survey"] == "" and values[0]["inspector"] == "ines"
    assert (values[1]["site"], values[1]["survey_date"]) == ("Km 12", "2026-11-20")
    assert values[0]["image"] == name and values[0]["inspected_at"].startswith("2026-11-23")
    assert (values[0]["prob_blocked"], values[1]["uncertain"]) == (0.8, "yes")
    assert values[1]["condition_model"] == "cond-v2"


def test_summary_never_calls_an_uncertain_finding_most_certain():
    text = summarize({"a.jpg": inspection(SURE_BLOCKED, NEAR_EVEN), "b.jpg": inspection()})
    certain, _, uncertain = text.partition("Uncertain")
    assert "Check first: toe drain #1 in a.jpg" in certain and "slope drain" not in certain.split("Check first")[1]
    assert "slope drain #2 in a.jpg" in uncertain
    assert "1 photo with no objects detected" in text
    # the uncertain call is counted apart, as the reports count it, never among the damaged
    assert "Needs attention: 1 blocked. Check first" in text and "Uncertain, 1 object (" in text
    only_uncertain = summarize({"a.jpg": inspection(NEAR_EVEN)})
    assert "Check first" not in only_uncertain and "Uncertain" in only_uncertain


def test_drawn_labels_carry_the_box_number_and_uncertainty():
    assert finding_label(1, SURE_BLOCKED) == "1 toe drain · blocked 0.80"
    assert finding_label(2, NEAR_EVEN) == "2 slope drain · uncertain (damaged 0.35)"


def test_short_name_keeps_start_and_extension():
    assert short_name("a.jpg") == "a.jpg"
    long = "x" * 40 + "_end.jpg"
    assert len(short_name(long)) == 28 and short_name(long).endswith("_end.jpg")


def test_position_text_names_each_other_object_once_most_specific_first():
    context = ObjectContext(
        "bottom-center",
        (0.5, 0.8),
        (
            Relation("above", 1, "toe_drain"),
            Relation("overlaps", 1, "toe_drain"),
            Relation("above_toe_drain", 1, "toe_drain"),
            Relation("left_of", 2, "slope_drain"),
        ),
    )
    assert context.describe() == "bottom-center of the photo, just above a toe drain, left of a slope drain"
    # the table and the reports name the box, as the drawing numbers it (the prompt keeps its words)
    assert (
        context.describe(numbered=True) == "bottom-center of the photo, just above toe drain 2, left of slope drain 3"
    )


def test_text_a_spreadsheet_would_run_is_kept_as_text():
    meta = ReportMeta("ines", "2026-11-23T10:00:00+00:00", "=cmd|' /C calc'!A0", "@SUM(1+1)*cmd", "2026-11-20")
    (row,) = report_rows("+photo.jpg", inspection(), meta)
    values = dict(zip(REPORT_COLUMNS, row, strict=True))
    assert (values["survey"], values["site"]) == ("'=cmd|' /C calc'!A0", "'@SUM(1+1)*cmd")
    assert values["image"] == "'+photo.jpg" and values["survey_date"] == "2026-11-20"
