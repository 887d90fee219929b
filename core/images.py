"""Safe image loading: format sniffed from content, EXIF orientation applied, RGB out, size caps."""

from __future__ import annotations

import io
import sys
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
# The file name a stored photo gets, from what its bytes are (never from the uploader's name).
FORMAT_SUFFIXES = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif"}


def stored_suffix(data: bytes) -> str:
    """``.jpg``, ``.png``... for the image format the bytes are, ``.bin`` for anything else: a file
    named ``x.html`` that is a JPEG is stored as one, and a name's 300-character "extension" is
    never a file name on the server."""
    try:
        with _unpatched_open()(io.BytesIO(data)) as image:
            return FORMAT_SUFFIXES.get(image.format or "", ".bin")
    except (UnidentifiedImageError, OSError, ValueError):
        return ".bin"


ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "TIFF", "MPO"})
# Full-resolution survey cameras fit: DJI Zenmuse P1 45 MP, Sony A7R 61 MP, Phase One iXM-100
# 102 MP (inspecting one of these took 0.9 GB over the process's 1.0 GB; one photo at a time).
DEFAULT_MAX_PIXELS = 120_000_000
DEFAULT_MAX_BYTES = 100_000_000


class ImageLoadError(ValueError):
    """The input is not an image we can inspect; the message says why, for the user."""


def load_image(
    source: str | Path | bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    name: str | None = None,
) -> Image.Image:
    """Read a file path or bytes into an upright RGB ``PIL.Image``.

    Raises ``ImageLoadError`` naming the problem: empty, too large, not an image, a format we do
    not accept, too many pixels, truncated or corrupt data. ``name`` labels the messages
    (default: the file name, or "upload" for bytes).
    """
    name = name or ("upload" if isinstance(source, bytes) else Path(source).name)
    data = read_image_bytes(source, name, max_bytes)
    if not data:
        raise ImageLoadError(f"{name}: the file is empty")
    try:
        with warnings.catch_warnings():
            # Turn Pillow's decompression-bomb warning into our own pixel-cap error below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = _unpatched_open()(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageLoadError(f"{name}: not a recognised image (expected JPEG, PNG, WebP, BMP or TIFF)") from None
    except Image.DecompressionBombError:
        raise ImageLoadError(f"{name}: the image has too many pixels") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageLoadError(f"{name}: the image data is truncated or corrupt ({exc})") from None
    if image.format not in ALLOWED_FORMATS:
        raise ImageLoadError(f"{name}: {image.format} images are not accepted (use JPEG, PNG, WebP, BMP or TIFF)")
    width, height = image.size
    if width * height > max_pixels:
        raise ImageLoadError(
            f"{name}: {width}x{height} is {width * height / 1e6:.1f} MP, over the {max_pixels / 1e6:.1f} MP limit"
        )
    if width < 8 or height < 8:
        raise ImageLoadError(f"{name}: {width}x{height} is too small to inspect")
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        image = _to_rgb(image)
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageLoadError(f"{name}: the image data is truncated or corrupt ({exc})") from None
    return image


def capture_time(data: bytes) -> datetime | None:
    """When the photo was taken, from its EXIF DateTimeOriginal (or DateTime); None if absent
    or unreadable. Naive: cameras record local time without a zone."""
    try:
        exif = _unpatched_open()(io.BytesIO(data)).getexif()
        raw = exif.get_ifd(0x8769).get(0x9003) or exif.get(0x0132)  # DateTimeOriginal, DateTime
        return datetime.strptime(str(raw).strip("\x00 "), "%Y:%m:%d %H:%M:%S") if raw else None
    except (OSError, ValueError, SyntaxError):
        return None


def gps_position(data: bytes) -> tuple[float, float] | None:
    """(latitude, longitude) in decimal degrees from the photo's EXIF GPS block (drones write
    one), or None where absent or unreadable. South and west are negative."""
    try:
        gps = _unpatched_open()(io.BytesIO(data)).getexif().get_ifd(0x8825)
        latitude, longitude = _degrees(gps[2], gps.get(1, "N")), _degrees(gps[4], gps.get(3, "E"))
    except (OSError, ValueError, SyntaxError, KeyError, TypeError, ZeroDivisionError):
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180) or (latitude, longitude) == (0.0, 0.0):
        return None  # a camera without a fix writes zeros
    return latitude, longitude


def _degrees(dms, ref) -> float:
    degrees, minutes, seconds = (float(v) for v in dms)
    value = degrees + minutes / 60 + seconds / 3600
    return -value if str(ref).strip("\x00 ").upper() in ("S", "W") else value


def _unpatched_open():
    """Pillow's own ``Image.open``. Importing ultralytics replaces it with a wrapper that, on an
    unidentified file, tries to pip-install a HEIF plugin: a network attempt and a crash here."""
    patches = sys.modules.get("ultralytics.utils.patches")
    return getattr(patches, "_image_open", Image.open)


def read_image_bytes(source: str | Path | bytes, name: str, max_bytes: int) -> bytes:
    """The bytes of a file (refused by size before reading it all) or the bytes given;
    ``ImageLoadError`` for a missing or oversized file."""
    if isinstance(source, bytes):
        data = source
    else:
        path = Path(source)
        if not path.is_file():
            raise ImageLoadError(f"{name}: no such file")
        if path.stat().st_size > max_bytes:  # refuse before reading it all into memory
            raise ImageLoadError(too_big_message(name, path.stat().st_size, max_bytes))
        data = path.read_bytes()
    if len(data) > max_bytes:
        raise ImageLoadError(too_big_message(name, len(data), max_bytes))
    return data


def too_big_message(name: str, size: int, max_bytes: int) -> str:
    """What a user reads when a file is over the size limit (alone or inside a zip)."""
    return f"{name}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:g} MB limit"


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit / float greyscale: scale the real range to 8 bits instead of clipping at 255.
        array = np.asarray(image, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        scaled = (array - low) * (255.0 / (high - low)) if high > low else np.zeros_like(array)
        return Image.fromarray(scaled.astype(np.uint8), "L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Flatten transparency onto white, as a viewer would show it.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
