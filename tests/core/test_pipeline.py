"""The whole inspection on real val photos with the shipped models."""

import json

import numpy as np
import pytest
from PIL import ImageColor

from core.images import load_image
from core.render import MIN_DRAWN_SIDE, render
from core.report.rows import summarize
from core.taxonomy import ALLOWED_CONDITIONS, CONDITION_COLOURS, class_name
from tests.conftest import FINDING_KEYS


@pytest.fixture(scope="module")
def inspections(inspector, val_images):
    return {p.name: (load_image(p), inspector.inspect(load_image(p))) for p in val_images[:8]}


def test_findings_are_consistent(inspections, inspector):
    assert sum(len(ins.findings) for _, ins in inspections.values()) > 0
    for image, inspection in inspections.values():
        assert (inspection.width, inspection.height) == image.size
        assert inspection.models == inspector.models
        assert set(inspection.timings_ms) == {"detect", "relate", "classify", "total"}
        for f in inspection.findings:
            assert tuple(f.condition_probs) == ALLOWED_CONDITIONS[f.object_type]
            assert sum(f.condition_probs.values()) == pytest.approx(1.0, abs=1e-6)
            assert f.condition == max(f.condition_probs, key=f.condition_probs.get)
            assert f.class_name == class_name(f.object_type, f.condition)
            assert 0 < f.confidence <= 1
            x1, y1, x2, y2 = f.box_xyxy
            assert 0 <= x1 < x2 <= image.width + 1 and 0 <= y1 < y2 <= image.height + 1
            for r in f.context.relations:
                assert r.other_type == inspection.findings[r.other].object_type


def test_inspection_serializes_to_json(inspections):
    _, inspection = next(iter(inspections.values()))
    data = json.loads(json.dumps(inspection.as_dict()))
    assert len(data["findings"]) == len(inspection.findings)
    if data["findings"]:
        assert set(data["findings"][0]) == FINDING_KEYS


def test_render_draws_on_a_copy(inspections):
    image, inspection = max(inspections.values(), key=lambda item: len(item[1].findings))
    drawn = render(image, inspection)
    scale = MIN_DRAWN_SIDE / min(image.size)  # the val photos are small: drawn enlarged
    assert drawn.size == (round(image.width * scale), round(image.height * scale))
    blank = render(image, inspection.__class__(image.width, image.height, (), {}))
    assert drawn.tobytes() != blank.tobytes()  # boxes drawn
    finding = inspection.findings[0]
    x1, y1 = (round(v * scale) for v in finding.box_xyxy[:2])
    x2 = round(finding.box_xyxy[2] * scale)
    expected = ImageColor.getrgb(CONDITION_COLOURS[finding.condition])
    edge = np.asarray(drawn)[y1 + 1, x1 + 1 : x2 - 1]  # along the box's top edge, inside the corners
    assert (np.abs(edge.astype(int) - expected).sum(axis=1) < 30).mean() > 0.5  # in its condition's colour
    big = image.resize((1600, 1200))
    assert render(big, inspection.__class__(1600, 1200, (), {})).size == (1600, 1200)
    # A photo drawn at another size than it was inspected at (a report's copy): boxes follow it.
    larger = render(image.resize((image.width * 4, image.height * 4)), inspection)
    assert larger.size == (image.width * 4, image.height * 4)
    x1, y1, x2 = (round(v * 4) for v in (*finding.box_xyxy[:2], finding.box_xyxy[2]))
    edge = np.asarray(larger)[y1 + 1, x1 + 1 : x2 - 1]
    assert (np.abs(edge.astype(int) - expected).sum(axis=1) < 30).mean() > 0.5


def test_summary_names_the_photo_count(inspections):
    by_name = {name: ins for name, (_, ins) in inspections.items()}
    assert summarize(by_name).startswith(f"{len(by_name)} photos inspected")
    one = dict(list(by_name.items())[:1])
    assert summarize(one).startswith("1 photo inspected")


def test_requests_served_at_once_get_the_answers_of_one_at_a_time(inspector, val_images):
    """The app may serve Inspect requests at once (``Settings.inspect_concurrency``): answers
    from several threads must equal those of one thread (the models take turns)."""
    from concurrent.futures import ThreadPoolExecutor

    images = [load_image(p) for p in val_images[:6]]
    alone = [inspector.inspect(image).findings for image in images]
    inside, most = [0], [0]  # threads in the detector now, and at most
    detect = inspector.detector.detect

    def watched(*args, **kwargs):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        try:
            return detect(*args, **kwargs)
        finally:
            inside[0] -= 1

    inspector.detector.detect = watched
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            together = list(pool.map(lambda image: inspector.inspect(image).findings, images * 2))
    finally:
        del inspector.detector.detect  # the class's method again
    assert together == alone * 2
    assert most[0] == 1  # ultralytics' predictor is not safe to share between threads: never two at once


def test_inspect_concurrency_is_at_least_one_and_set_from_the_machine(monkeypatch):
    from core.settings import Settings

    assert Settings.from_env({"SLOPE_INSPECT_CONCURRENCY": "3"}).inspect_concurrency == 3
    for cores, served in ((1, 1), (2, 2), (16, 2), (None, 1)):
        monkeypatch.setattr("os.cpu_count", lambda cores=cores: cores)
        assert Settings().inspect_concurrency == served
    with pytest.raises(ValueError, match="inspect_concurrency must be at least 1"):
        Settings(inspect_concurrency=0)
