"""Condition examples synthesized from real object crops.

The real photos carry object types only, so until reviewers label real conditions, the default
condition model learns from crops of real objects that we alter:

- blocked (drains): sediment filling part of the channel, scattered debris, plants growing in it;
- damaged (drains): cracks, a broken or missing segment; (rock toes): displaced rocks, a gap;
- normal: the crop untouched.

Every example also gets the same photometric jitter, so "altered or not" cannot be read from
jitter artifacts. All randomness comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x1, y1, x2, y2 of the object inside the crop


def _noise_mask(shape: tuple[int, int], rng: np.random.Generator, scale: int, fill: float) -> np.ndarray:
    """A blobby mask covering about ``fill`` of the area: smoothed noise, thresholded."""
    h, w = shape
    small = rng.random((max(2, h // scale), max(2, w // scale))).astype(np.float32)
    field = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return field > np.quantile(field, 1.0 - fill)


def _textured(
    color: tuple[float, float, float], shape: tuple[int, int], rng: np.random.Generator, amount: float
) -> np.ndarray:
    """A flat colour with mostly low-frequency variation, like soil or foliage seen from a drone
    (pure per-pixel noise would teach the model to look for noise, not for sediment)."""
    coarse = cv2.GaussianBlur(rng.normal(0, amount * 3, shape).astype(np.float32), (0, 0), 2.5)
    fine = rng.normal(0, amount * 0.3, shape)
    shade = (coarse + fine)[..., None]
    return np.clip(np.array(color)[None, None, :] * (1 + shade / 255.0) + shade * 0.3, 0, 255)


def _segment_along(box: Box, rng: np.random.Generator, low: float, high: float) -> Box:
    """A stretch of the object along its long axis, covering ``low``..``high`` of its length."""
    x1, y1, x2, y2 = box
    length_fraction = rng.uniform(low, high)
    if (x2 - x1) >= (y2 - y1):
        length = max(2, int((x2 - x1) * length_fraction))
        start = int(rng.integers(x1, max(x1 + 1, x2 - length)))
        return start, y1, start + length, y2
    length = max(2, int((y2 - y1) * length_fraction))
    start = int(rng.integers(y1, max(y1 + 1, y2 - length)))
    return x1, start, x2, start + length


def _blend(crop: np.ndarray, region: Box, mask: np.ndarray, paint: np.ndarray, alpha: float) -> None:
    x1, y1, x2, y2 = region
    target = crop[y1:y2, x1:x2].astype(np.float32)
    m = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 1.0)[..., None] * alpha
    crop[y1:y2, x1:x2] = (target * (1 - m) + paint * m).astype(np.uint8)


def sediment(crop: np.ndarray, box: Box, rng: np.random.Generator) -> None:
    region = _segment_along(box, rng, 0.3, 0.9)
    h, w = region[3] - region[1], region[2] - region[0]
    color = (rng.uniform(110, 175), rng.uniform(85, 135), rng.uniform(50, 95))
    mask = _noise_mask((h, w), rng, scale=6, fill=rng.uniform(0.55, 0.9))
    _blend(crop, region, mask, _textured(color, (h, w), rng, 14), rng.uniform(0.75, 0.95))


def plant_growth(crop: np.ndarray, box: Box, rng: np.random.Generator) -> None:
    region = _segment_along(box, rng, 0.3, 0.9)
    h, w = region[3] - region[1], region[2] - region[0]
    color = (rng.uniform(40, 100), rng.uniform(90, 160), rng.uniform(20, 70))
    mask = _noise_mask((h, w), rng, scale=3, fill=rng.uniform(0.4, 0.8))
    _blend(crop, region, mask, _textured(color, (h, w), rng, 25), rng.uniform(0.8, 1.0))


def debris(crop: np.ndarray, box: Box, rng: np.random.Generator) -> None:
    x1, y1, x2, y2 = box
    size = max(3, int(min(x2 - x1, y2 - y1) * 0.5))
    for _ in range(int(rng.integers(6, 16))):
        cx, cy = int(rng.integers(x1, max(x1 + 1, x2))), int(rng.integers(y1, max(y1 + 1, y2)))
        # earthy greys and browns: wood, rubble, litter faded by weather
        shade = rng.uniform(35, 190)
        color = (shade, shade * rng.uniform(0.8, 1.0), shade * rng.uniform(0.6, 0.95))
        if rng.random() < 0.5:  # a stick or branch
            angle = rng.uniform(0, np.pi)
            length = rng.uniform(0.5, 1.5) * size
            end = (int(cx + np.cos(angle) * length), int(cy + np.sin(angle) * length))
            cv2.line(crop, (cx, cy), end, color, int(rng.integers(1, 4)), cv2.LINE_AA)
        else:  # a lump of rubbish or rubble
            points = np.array([[cx + rng.normal(0, size / 3), cy + rng.normal(0, size / 3)] for _ in range(5)])
            cv2.fillPoly(crop, [cv2.convexHull(points.astype(np.int32))], color, cv2.LINE_AA)


def cracks(crop: np.ndarray, box: Box, rng: np.random.Generator) -> None:
    x1, y1, x2, y2 = box
    for _ in range(int(rng.integers(1, 4))):
        point = np.array([rng.uniform(x1, x2), rng.uniform(y1, y2)])
        heading = rng.uniform(0, 2 * np.pi)
        step = max(2.0, min(x2 - x1, y2 - y1) * 0.12)
        points = [point.copy()]
        for _ in range(int(rng.integers(6, 18))):
            heading += rng.normal(0, 0.5)
            point = point + step * np.array([np.cos(heading), np.sin(heading)])
            points.append(point.copy())
        shade = rng.uniform(0, 60)
        cv2.polylines(
            crop,
            [np.array(points, np.int32)],
            False,
            (shade, shade, shade),
            int(rng.integers(1, 3)),
            cv2.LINE_AA,
        )


def missing_segment(crop: np.ndarray, box: Box, rng: np.random.Generator) -> None:
    """A stretch of the structure gone: filled in from the surroundings, with rubble at its edges."""
    x1, y1, x2, y2 = box
    if (x2 - x1) >= (y2 - y1):
        length = max(3, int((x2 - x1) * rng.uniform(0.12, 0.35)))
        start = int(rng.integers(x1, max(x1 + 1, x2 - length)))
        region = (start, y1, start + length, y2)
    else:
        length = max(3, int((y2 - y1) * rng.uniform(0.12, 0.35)))
        start = int(rng.integers(y1, max(y1 + 1, y2 - length)))
        region = (x1, start, x2, start + length)
    mask = np.zeros(crop.shape[:2], np.uint8)
    mask[region[1] : region[3], region[0] : region[2]] = 255
    filled = cv2.inpaint(np.ascontiguousarray(crop), mask, 5, cv2.INPAINT_TELEA)
    soil = _textured((rng.uniform(90, 150), rng.uniform(75, 120), rng.uniform(55, 95)), crop.shape[:2], rng, 18)
    mixed = 0.5 * filled.astype(np.float32) + 0.5 * soil
    crop[mask > 0] = mixed[mask > 0].astype(np.uint8)
    debris(crop, region, rng)


def displaced_rocks(crop: np.ndarray, box: Box, rng: np.random.Generator) -> None:
    """Pieces of the rock toe moved away from where they sat, leaving soil behind."""
    x1, y1, x2, y2 = box
    h, w = crop.shape[:2]
    side = max(3, int(min(x2 - x1, y2 - y1) * rng.uniform(0.3, 0.6)))
    source = crop.copy()
    for _ in range(int(rng.integers(2, 5))):
        sx = int(rng.integers(x1, max(x1 + 1, x2 - side)))
        sy = int(rng.integers(y1, max(y1 + 1, y2 - side)))
        patch = source[sy : sy + side, sx : sx + side]
        if rng.random() < 0.5:
            patch = np.ascontiguousarray(np.rot90(patch, int(rng.integers(1, 4))))
        soil = _textured((rng.uniform(95, 150), rng.uniform(80, 120), rng.uniform(60, 95)), patch.shape[:2], rng, 15)
        crop[sy : sy + patch.shape[0], sx : sx + patch.shape[1]] = soil.astype(np.uint8)
        dx, dy = (rng.uniform(0.4, 1.2) * side * rng.choice([-1, 1]) for _ in range(2))
        tx, ty = int(np.clip(sx + dx, 0, w - patch.shape[1])), int(np.clip(sy + dy, 0, h - patch.shape[0]))
        crop[ty : ty + patch.shape[0], tx : tx + patch.shape[1]] = patch


ALTERATIONS: dict[tuple[str, str], tuple[Callable[[np.ndarray, Box, np.random.Generator], None], ...]] = {
    ("slope_drain", "blocked"): (sediment, debris, plant_growth),
    ("toe_drain", "blocked"): (sediment, debris, plant_growth),
    ("slope_drain", "damaged"): (cracks, missing_segment),
    ("toe_drain", "damaged"): (cracks, missing_segment),
    ("rock_toe", "damaged"): (displaced_rocks, missing_segment),
}


def photometric_jitter(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    gain = rng.uniform(0.75, 1.25)
    bias = rng.uniform(-20, 20)
    out = crop.astype(np.float32) * gain + bias
    out *= rng.uniform(0.92, 1.08, size=(1, 1, 3))
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 1.0))
    return np.clip(out, 0, 255).astype(np.uint8)


def synthesize(crop: np.ndarray, box: Box, object_type: str, condition: str, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``crop`` (H, W, 3 uint8) showing ``condition``; ``box`` is the object in it."""
    out = np.ascontiguousarray(crop.copy())
    if condition != "normal":
        choices = ALTERATIONS[(object_type, condition)]
        count = 1 if rng.random() < 0.7 else 2
        for index in rng.choice(len(choices), size=min(count, len(choices)), replace=False):
            choices[index](out, box, rng)
    if rng.random() < 0.5:
        out = out[:, ::-1]  # drains and rock toes look the same mirrored left-right
        # the box is mirrored too, but nothing after this point uses it
    return photometric_jitter(np.ascontiguousarray(out), rng)
