"""The detector trainer for a moment on a few real photos: the model folder it publishes."""

import json

from core.detector import Detector
from core.images import load_image
from tests.conftest import DATA_DIR
from training.detector import DetectorTrainSettings, train_detector


def test_a_short_run_publishes_weights_onnx_log_and_val_metrics(tiny_data, tmp_path):
    out = tmp_path / "models" / "detector"
    train_detector(
        DetectorTrainSettings(data_dir=tiny_data, out=out, hours=0.001, epochs=1, imgsz=64, batch=2, workers=0)
    )
    assert {p.name for p in out.iterdir()} == {"model.pt", "model.onnx", "metadata.json", "training_log.csv"}
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["version"].startswith("detector-yolo11n-")
    assert "CC BY 4.0" in metadata["data_credit"]
    assert set(metadata["metrics_val"]["per_class"]) == {"rock_toe", "slope_drain", "toe_drain", "vegetation"}
    assert 0 <= metadata["metrics_val"]["map50_95"] <= metadata["metrics_val"]["map50"] <= 1
    detector = Detector(out, imgsz=64)
    assert detector.version == metadata["version"]
    detector.detect(load_image(next((DATA_DIR / "val" / "images").glob("*.jpg"))))
    assert [p.name for p in out.parent.iterdir()] == ["detector"]  # no staging folder left
