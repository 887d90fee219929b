"""The self-contained HTML report: escaped user input, embedded images, summary counts equal to
the findings, failed and empty photos listed, model provenance and the data credit present."""

import base64
import io
import re
from html.parser import HTMLParser

import pytest
from PIL import Image

from core.model_card import ModelCard
from core.report.html import ReportPhoto, html_report, model_info, write_html_report
from core.report.rows import UNCERTAIN_MARGIN, ReportMeta, summarize
from core.types import Inspection
from tests.core.report.test_narrative import ROCK, SCENE, SLOPE, VEG, photo

EVIL_NAME = "<script>alert(1)</script>.jpg"
EVIL_SURVEY = "Site A & B <north>"
MODELS = {
    "detector": {"version": "det-v1", "data_provenance": "real drone photos", "metrics_data": "45 val photos"},
    "condition": {"version": "cond-v2", "data_provenance": "conditions SYNTHESIZED", "metrics_data": "synth val"},
}
VOID = {"meta", "img", "br", "hr", "link", "input", "source", "wbr", "col", "area", "base", "embed", "track"}


class Checker(HTMLParser):
    """Feeds the page and checks every non-void element is closed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.texts: list[str] = []
        self.counts: dict[str, int] = {}
        self.images: list[str] = []
        self._count: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag not in VOID:
            self.stack.append(tag)
        self._count = attrs.get("data-count")

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data):
        self.texts.append(data)
        if self._count:
            self.counts[self._count] = int(data)
            self._count = None


def image(width: int = 600, height: int = 600) -> Image.Image:
    return Image.new("RGB", (width, height), (120, 140, 110))


@pytest.fixture(scope="module")
def photos() -> list[ReportPhoto]:
    return [
        ReportPhoto(EVIL_NAME, image(), SCENE),
        ReportPhoto("normal.jpg", image(), photo([ROCK, VEG, SLOPE])),
        ReportPhoto("empty.jpg", image(), Inspection(600, 600, (), {})),
        ReportPhoto("broken.jpg", None, None, error="broken.jpg: not a recognised image <bad>"),
    ]


@pytest.fixture(scope="module")
def page(photos) -> str:
    meta = ReportMeta("ann & bob", "2026-11-23T10:00:41+00:00", EVIL_SURVEY, "Km 12 <cutting>", "2026-11-20")
    return html_report(photos, "Survey <report>", meta, MODELS)


@pytest.fixture(scope="module")
def parsed(page) -> Checker:
    checker = Checker()
    checker.feed(page)
    checker.close()
    return checker


def test_page_parses_with_balanced_tags(parsed):
    assert parsed.stack == []


def test_the_header_gives_survey_site_date_inspector_and_a_readable_time(parsed):
    text = "".join(parsed.texts)
    for fact in ("Site: Km 12 <cutting>", "Survey date: 2026-11-20", "Inspector: ann & bob"):
        assert fact in text
    assert "Inspected: 2026-11-23 10:00 UTC" in text


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("2026-11-24T10:08:14+09:00", "2026-11-24 01:08 UTC"),
        ("2026-11-24T01:08:14+00:00", "2026-11-24 01:08 UTC"),
        ("2026-11-24", "2026-11-24"),
        ("2026-11-24T01:08:14", "2026-11-24T01:08:14"),  # no zone: not guessed
        ("yesterday", "yesterday"),
    ],
)
def test_inspection_times_read_in_utc(given, shown):
    from core.report.html import _readable_time

    assert _readable_time(given) == shown


def test_user_input_is_escaped(page, parsed):
    for raw in (EVIL_NAME, EVIL_SURVEY, "ann & bob", "Survey <report>", "<bad>", "Km 12 <cutting>"):
        assert raw not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.jpg" in page
    text = "".join(parsed.texts)  # what a reader sees: the original strings, as text
    for raw in (EVIL_NAME, EVIL_SURVEY, "ann & bob", "<bad>"):
        assert raw in text
    assert "<script" not in page.lower()


def test_images_are_embedded_and_not_too_wide(parsed):
    assert parsed.images and all(src.startswith("data:image/jpeg;base64,") for src in parsed.images)
    # 3 annotated photos + a thumbnail per finding needing action or undecided (2 in SCENE, 1 in normal.jpg).
    assert len(parsed.images) == 3 + 3


def test_large_photos_are_resized():
    big = ReportPhoto("big.jpg", image(2400, 1200), Inspection(2400, 1200, (), {}))
    src = re.search(r"src='(data:image/jpeg;base64,[^']+)'", html_report([big], "t", ReportMeta("i", "d"), {}))
    width, height = Image.open(io.BytesIO(base64.b64decode(src.group(1).split(",", 1)[1]))).size
    assert (width, height) == (1000, 500)


def test_summary_counts_equal_the_findings(photos, parsed):
    findings = [f for p in photos if p.inspection for f in p.inspection.findings]
    for key, value in parsed.counts.items():
        object_type, what = key.split(":")
        of_type = [f for f in findings if f.object_type == object_type]
        if what == "total":
            expected = len(of_type)
        elif what == "uncertain":
            expected = sum(f.condition_margin < UNCERTAIN_MARGIN for f in of_type)
        else:  # sure calls only: the uncertain ones have their own column
            expected = sum(f.condition == what and f.condition_margin >= UNCERTAIN_MARGIN for f in of_type)
        assert value == expected, key
    assert sum(v for k, v in parsed.counts.items() if k.endswith(":total")) == len(findings) == 7
    for object_type in {key.split(":")[0] for key in parsed.counts}:  # sure + uncertain = every finding
        parts = [v for k, v in parsed.counts.items() if k.startswith(f"{object_type}:") and not k.endswith(":total")]
        assert sum(parts) == parsed.counts[f"{object_type}:total"]
    assert parsed.counts["slope_drain:blocked"] == 2
    assert parsed.counts["toe_drain:uncertain"] == 1


def test_the_page_summary_and_the_report_count_alike(photos, parsed):
    """The same inspections: the page's "Needs attention" and "Uncertain" numbers are the report's."""
    page = summarize({p.name: p.inspection for p in photos if p.inspection})
    for condition in ("blocked", "damaged"):
        in_report = sum(v for k, v in parsed.counts.items() if k.endswith(f":{condition}"))
        assert (f"{in_report} {condition}" in page) == (in_report > 0)
    uncertain = sum(v for k, v in parsed.counts.items() if k.endswith(":uncertain"))
    assert f"Uncertain, {uncertain} object" in page


def test_failed_and_empty_photos_appear(page, parsed):
    text = "".join(parsed.texts)
    assert "Not inspected: broken.jpg: not a recognised image <bad>" in text
    assert "broken.jpg: not a recognised image <bad>" in text.replace("Not inspected: broken.jpg: ", "")  # listed
    assert "broken.jpg: broken.jpg" not in text  # the list's link already names the photo
    assert "4 photos: 3 inspected, 1 failed, 1 with no object detected; 7 findings." in text
    assert "empty.jpg" in text and "No objects were detected." in text
    assert [m for m in re.findall(r"id='(photo-\d+)'", page)] == ["photo-1", "photo-2", "photo-3", "photo-4"]


def test_narratives_tables_and_action_links(page, parsed):
    text = "".join(parsed.texts)
    assert "Toe drain 2, in the lower centre of the photo, at the foot of slope drain 1, is uncertain" in text
    assert "uncertain (damaged?)" in text  # the table never states it as a plain condition
    assert "Needs action" in text and "href='#photo-1'" in page and "href='#photo-2'" in page
    # Confident problems listed most certain first, before undecided ones.
    assert text.index("Needs action") < text.index("Uncertain (conditions")


def test_models_and_credit(page, parsed):
    text = "".join(parsed.texts)
    for value in ("det-v1", "cond-v2", "real drone photos", "conditions SYNTHESIZED", "45 val photos"):
        assert value in text
    assert "CC BY 4.0" in text and "conditional-classes / my-first-project-q51lx" in text
    assert "https://universe.roboflow.com/conditional-classes/my-first-project-q51lx" in page


def test_model_info_reads_cards(tmp_path):
    ModelCard(kind="detector", version="det-9", data_provenance="real photos", metrics_data="val").write(tmp_path)
    info = model_info({"detector": tmp_path, "condition": "someone/hub-model"})
    assert info["detector"]["version"] == "det-9" and info["detector"]["data_provenance"] == "real photos"
    assert info["condition"] == {"version": "someone/hub-model"}


def test_write_is_atomic_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "out" / "report.html"
    target.parent.mkdir()
    target.write_text("old")
    written = write_html_report(target, [ReportPhoto("a.jpg", image(64, 64), SCENE)], "t", ReportMeta("i", "d"), MODELS)
    assert written == target and target.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]


def test_photos_with_gps_positions_are_placed_and_those_needing_action_are_red():
    located = [
        ReportPhoto(EVIL_NAME, image(), SCENE, position=(22.3000, 114.1700)),  # SCENE has a blocked drain
        ReportPhoto("normal.jpg", image(), photo([ROCK, VEG]), position=(22.3010, 114.1712)),
        ReportPhoto("no-gps.jpg", image(), photo([ROCK])),
    ]
    page = html_report(located, "t", ReportMeta("ann", "2026-11-23"), MODELS)
    checker = Checker()
    checker.feed(page)
    checker.close()
    circles = re.findall(r"<circle cx='([\d.]+)' cy='([\d.]+)' r='6' fill='(#[0-9a-f]+)'>", page)
    assert [c[2] for c in circles] == ["#d7263d", "#4a6a8a"]
    (x1, y1, _), (x2, y2, _) = circles
    assert float(x2) > float(x1) and float(y2) < float(y1)  # the second is east and north of the first
    assert "2 of 3 photos carry a GPS position" in page
    assert "<script>" not in page.split("<footer>")[0].split("</style>")[1]
    assert "GPS: 22.300000, 114.170000" in page


def test_no_gps_at_all_says_so(page):
    assert "No photo carries a GPS position." in page
