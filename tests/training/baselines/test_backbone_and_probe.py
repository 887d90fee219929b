"""The packaged ImageNet EfficientNet-Lite0 and the probe baseline built on it."""

import numpy as np
import pytest
import torch

from core.taxonomy import ALLOWED_CONDITIONS, CONDITIONS, OBJECT_TYPES
from tests.conftest import PROJECT_ROOT
from training.backbone import FEATURE_SIZE, CropFeatures, efficientnet_lite0, register_with_torchvision
from training.baselines.cnn import CNN, CnnSettings, FineTunedCnnBaseline
from training.baselines.probe import PROBE, ProbeBaseline, place_features, probe_objects
from training.baselines.type_prior import baseline_report, type_prior_baseline
from training.data.dataset import from_yolo_folder
from training.data.examples import condition_examples

pytestmark = pytest.mark.slow  # real training, subprocesses or a browser: `pytest -m "not slow"` skips them

CONDITIONS_DATA = PROJECT_ROOT.parent / "shared" / "data" / "slope-conditions"


def test_the_packaged_weights_are_imagenet_weights_not_a_random_init():
    pretrained, random = efficientnet_lite0(pretrained=True).eval(), efficientnet_lite0(pretrained=False).eval()
    # A plain photo-like input: the ImageNet model is confident of something, a random one is not.
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(128, 40, (224, 224, 3)), 0, 255).astype(np.uint8)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1
    with torch.no_grad():
        assert not torch.equal(pretrained.conv_stem.weight, random.conv_stem.weight)
        assert pretrained(x).shape == (1, 1000)
    assert abs(float(pretrained.bn1.running_var.mean()) - 1.0) > 1e-3  # trained statistics, not the init


def test_the_detector_backbone_is_registered_for_ultralytics_yaml():
    from torchvision.models import get_model

    register_with_torchvision()
    register_with_torchvision()  # idempotent
    backbone = get_model("efficientnet_lite0_imagenet", weights="DEFAULT")
    stages = list(backbone[0].children())
    x = torch.zeros(1, 3, 320, 320)
    shapes = []
    with torch.no_grad():
        for stage in stages:
            x = stage(x)
            shapes.append(tuple(x.shape[1:]))
    # P3, P4, P5 of the yaml: 40 ch at stride 8, 112 at 16, 320 at 32
    assert shapes[3] == (40, 40, 40) and shapes[5] == (112, 20, 20) and shapes[7] == (320, 10, 10)


def test_crop_features_are_remembered_and_sized():
    features = CropFeatures()
    crops = [np.full((40, 60, 3), v, dtype=np.uint8) for v in (0, 200)]
    first = features(crops)
    assert first.shape == (2, FEATURE_SIZE)
    assert not np.allclose(first[0], first[1])
    assert np.array_equal(features(crops[::-1]), first[::-1])  # same crops, same rows, from memory
    small = CropFeatures(112)(crops)  # the probe's size: the same width, other values
    assert small.shape == first.shape and not np.allclose(small, first)


def test_the_probe_learns_real_conditions():
    photos = from_yolo_folder(CONDITIONS_DATA, "train")[:40]
    train_photos, held_out_photos = photos[:20], photos[20:]
    train, provenance = condition_examples(train_photos, 0.1, seed=0)
    held_out, _ = condition_examples(held_out_photos, 0.1, seed=0)
    assert provenance.startswith("real")
    probe = ProbeBaseline().fit(train_photos)
    report = probe.report(held_out_photos)
    # The same objects as the condition model is asked about: scored side by side.
    assert report.model == PROBE and report.examples == len(held_out)
    # On the photos it was fitted on it does better than the type prior: it learned from the crops.
    prior = type_prior_baseline(train)
    assert probe.report(train_photos).accuracy > baseline_report(prior, train).accuracy
    types_allowed = {t for t, allowed in ALLOWED_CONDITIONS.items() if len(allowed) > 1}
    assert set(report.per_object_type) <= types_allowed
    # Its probabilities line up with the CNN's (columns = CONDITIONS), so the two can be averaged.
    objects = list(probe_objects(held_out_photos))
    probabilities = probe.probabilities(objects)
    assert probabilities.shape == (len(objects), len(CONDITIONS))
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert probe.probabilities([]).shape == (0, len(CONDITIONS))


def test_the_fine_tuned_cnn_learns_real_conditions_end_to_end():
    photos = from_yolo_folder(CONDITIONS_DATA, "train")[:30]
    train_photos, held_out_photos = photos[:20], photos[20:]
    train, _ = condition_examples(train_photos, 0.1, seed=0)
    held_out, _ = condition_examples(held_out_photos, 0.1, seed=0)
    cnn = FineTunedCnnBaseline(CnnSettings(epochs=3)).fit(train_photos)
    report = cnn.report(held_out_photos)
    assert report.model == CNN and report.examples == len(held_out)
    assert cnn.report(train_photos).accuracy > baseline_report(type_prior_baseline(train), train).accuracy
    # The backbone itself was trained, not only a classifier on top of ImageNet features.
    imagenet = efficientnet_lite0(pretrained=True)
    assert not torch.equal(cnn.model.backbone.conv_stem.weight, imagenet.conv_stem.weight)
    # ... with its batch-norm statistics kept as ImageNet's.
    assert torch.equal(cnn.model.backbone.bn1.running_mean, imagenet.bn1.running_mean)
    with pytest.raises(ValueError, match="must be positive"):
        CnnSettings(epochs=0)


def test_the_probe_sees_each_object_tight_and_in_its_surroundings():
    photo = from_yolo_folder(CONDITIONS_DATA, "train")[0]
    objects = list(probe_objects([photo]))
    assert objects and all(item.condition is not None for item in objects)
    for item in objects:
        tight, wide = item.views
        assert wide.shape[0] >= tight.shape[0] and wide.shape[1] >= tight.shape[1]
        places = place_features(item)
        # one type, one third of the photo, and the relations it has (0/1 each)
        assert places[: len(OBJECT_TYPES)].sum() == 1 and places[len(OBJECT_TYPES) : len(OBJECT_TYPES) + 9].sum() == 1
        assert places[len(OBJECT_TYPES) + 9 :].sum() == len({(r.relation, r.other_type) for r in item.where.relations})


def test_the_probe_refuses_photos_without_conditions():
    photos = from_yolo_folder(PROJECT_ROOT.parent / "shared" / "data" / "slopes", "val")[:3]
    with pytest.raises(ValueError, match="no object with a known condition"):
        ProbeBaseline().fit(photos)
