"""The shipped detector on real val photos."""

from pathlib import Path

import numpy as np
import pytest
import supervision as sv

from core.detector import Detector, inside_photo, resolve_weights
from core.images import load_image
from core.taxonomy import OBJECT_TYPES
from tests.conftest import DATA_DIR
from training.data.dataset import from_yolo_folder


def test_detections_are_typed_boxes_inside_the_photo(detector, val_images):
    found = 0
    for path in val_images[:10]:
        image = load_image(path)
        detections = detector.detect(image)
        assert isinstance(detections, sv.Detections)
        found += len(detections)
        assert set(detections.data["object_type"]) <= set(OBJECT_TYPES)
        assert len(detections.data["object_type"]) == len(detections)
        assert np.all(detections.confidence >= detector.conf)
        assert np.all(detections.xyxy >= -1) and np.all(detections.xyxy[:, [0, 2]] <= image.width + 1)
        assert np.all(detections.xyxy[:, [1, 3]] <= image.height + 1)
    assert found > 0


def test_finds_most_labelled_objects_on_val(detector):
    """Recall of the right type at IoU >= 0.5 over all 45 val photos (174 labelled objects)."""
    matched = total = 0
    for photo in from_yolo_folder(DATA_DIR, "val"):
        detections = detector.detect(load_image(photo.path), conf=0.1)
        total += len(photo.objects)
        for box, object_type in zip(photo.boxes, [o.object_type for o in photo.objects], strict=True):
            same = detections[detections.data["object_type"] == object_type]
            if len(same) and sv.box_iou_batch(box[None], same.xyxy).max() >= 0.5:
                matched += 1
    assert total == 174
    assert matched / total >= MIN_RECALL, f"recall {matched / total:.2f}"


MIN_RECALL = 0.55  # the shipped model matches 109 of 174 (0.63) even at conf 0.25; a regression shows here


def test_a_higher_threshold_keeps_a_subset(detector, val_images):
    image = load_image(val_images[1])
    low, high = detector.detect(image, conf=0.1), detector.detect(image, conf=0.6)
    assert len(high) <= len(low)
    assert np.all(high.confidence >= 0.6)


def test_weights_are_found_in_a_folder_or_refused_clearly(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"")
    assert resolve_weights(tmp_path).name == "model.pt"
    (tmp_path / "model.onnx").write_bytes(b"")
    assert resolve_weights(tmp_path).name == "model.onnx"  # preferred: faster on CPU
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="holds none of model.onnx, model.pt"):
        resolve_weights(empty)
    with pytest.raises(FileNotFoundError, match="not found"):
        Detector(tmp_path / "missing.pt")


def test_onnx_export_gives_the_same_boxes(settings, val_images, tmp_path):
    from training.detector.build import export_onnx

    weights = tmp_path / "model.pt"
    weights.write_bytes((Path(settings.detector_model) / "model.pt").read_bytes())
    onnx = export_onnx(weights, 320)
    from_pt, from_onnx = Detector(weights, conf=0.05), Detector(onnx, conf=0.05)
    for path in val_images[:3]:
        image = load_image(path)
        a, b = from_pt.detect(image), from_onnx.detect(image)
        assert len(a) == len(b)
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1.0)
        assert list(a.data["object_type"]) == list(b.data["object_type"])


def test_boxes_are_clipped_to_the_photo_and_degenerate_ones_dropped():
    raw = sv.Detections(
        xyxy=np.array(
            [[10, 10, 50, 40], [-5, 20, 30, 60], [100, 50, 140, 50], [100, 10, 101, 80], [630, 470, 700, 520]],
            dtype=np.float32,
        ),
        confidence=np.array([0.9, 0.8, 0.7, 0.6, 0.5], dtype=np.float32),
        class_id=np.zeros(5, dtype=int),
        data={"object_type": np.array(["slope_drain"] * 5)},
    )
    kept = inside_photo(raw, (640, 480))
    # zero height and 1 px wide are gone; the ones reaching past the edges are clipped
    np.testing.assert_allclose(kept.xyxy, [[10, 10, 50, 40], [0, 20, 30, 60], [630, 470, 640, 480]])
    np.testing.assert_allclose(kept.confidence, [0.9, 0.8, 0.5])
    assert list(kept.data["object_type"]) == ["slope_drain"] * 3
    assert len(inside_photo(sv.Detections.empty(), (640, 480))) == 0


def test_a_zero_height_detection_never_fails_an_inspection(inspector, val_images, monkeypatch):
    """What crashed a run on real 1280x720 drone photos at --conf 0.001: the detector returned a
    box of zero height. It is dropped at the adapter; the photo's other findings stand."""
    image = load_image(val_images[0]).resize((1280, 720))
    real = sv.Detections.from_ultralytics

    def with_degenerate_boxes(result):
        detections = real(result)
        bad = sv.Detections(
            xyxy=np.array([[400, 300, 600, 300], [10, 700, 12, 720.5]], dtype=np.float32),
            confidence=np.array([0.99, 0.98], dtype=np.float32),
            class_id=np.array([1, 2]),
            data={"class_name": np.array(["slope_drain", "toe_drain"])},  # as from_ultralytics gives
        )
        return sv.Detections.merge([detections, bad]) if len(detections) else bad

    monkeypatch.setattr(sv.Detections, "from_ultralytics", staticmethod(with_degenerate_boxes))
    inspection = inspector.inspect(image, conf=0.001)
    for f in inspection.findings:
        x1, y1, x2, y2 = f.box_xyxy
        assert 0 <= x1 and x2 <= 1280 and 0 <= y1 and y2 <= 720
        assert x2 - x1 >= 2 and y2 - y1 >= 2
    assert inspection.findings  # the real detections at a threshold of 0.001 survive


@pytest.mark.parametrize("size", [(4000, 3000), (1280, 720)])
def test_full_resolution_photos_at_any_threshold(inspector, val_images, size):
    image = load_image(val_images[1]).resize(size)
    for conf in (0.001, 0.25):
        inspection = inspector.inspect(image, conf=conf)
        assert (inspection.width, inspection.height) == size
        for f in inspection.findings:
            x1, y1, x2, y2 = f.box_xyxy
            assert 0 <= x1 < x2 <= size[0] and 0 <= y1 < y2 <= size[1]
