"""Safe image loading: format sniffed from content, EXIF orientation applied, RGB out, size caps."""

from __future__ import annotations

import io
import struct
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
NO_LIMIT = sys.maxsize  # for readers of stored photos: see load_stored_image
EXIF_ORIENTATION = 0x0112  # the tag: 1 upright as stored, 2-8 mirrored or turned (5-8 a quarter)


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
    image = open_image(data, max_pixels=max_pixels, max_bytes=max_bytes, name=name)
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        image = _to_rgb(image)
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageLoadError(f"{name}: the image data is truncated or corrupt ({exc})") from None
    return image


def open_image(
    source: str | Path | bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    name: str | None = None,
) -> Image.Image:
    """The image opened and checked as ``load_image`` checks it before decoding (its size in
    bytes and in pixels, its format), its pixels not decoded: a path is read only as far as its
    header (its size and EXIF cost a few kB). ``ImageLoadError`` as ``load_image`` says it. Close
    it when done (``with``); ``load_image`` is the upright RGB photo."""
    name = name or ("upload" if isinstance(source, bytes) else Path(source).name)
    if isinstance(source, bytes):
        size, stream = len(source), io.BytesIO(source)
    else:
        try:
            size, stream = Path(source).stat().st_size, Path(source)
        except OSError:
            raise ImageLoadError(f"{name}: no such file") from None
    if size > max_bytes:  # refused before it is read
        raise ImageLoadError(too_big_message(name, size, max_bytes))
    if not size:
        raise ImageLoadError(f"{name}: the file is empty")
    try:
        with warnings.catch_warnings():
            # Turn Pillow's decompression-bomb warning into our own pixel-cap error below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = _unpatched_open()(stream)
    except UnidentifiedImageError:
        raise ImageLoadError(f"{name}: not a recognised image (expected JPEG, PNG, WebP, BMP or TIFF)") from None
    except Image.DecompressionBombError:
        raise ImageLoadError(f"{name}: the image has too many pixels") from None
    except OSError as exc:
        if exc.filename is not None:  # the file could not be opened; its text names its place on this machine
            raise ImageLoadError(f"{name}: the file could not be read ({exc.strerror})") from None
        raise ImageLoadError(f"{name}: the image data is truncated or corrupt ({exc})") from None
    except (SyntaxError, ValueError) as exc:
        raise ImageLoadError(f"{name}: the image data is truncated or corrupt ({exc})") from None
    width, height = image.size
    if image.format not in ALLOWED_FORMATS:
        problem = f"{image.format} images are not accepted (use JPEG, PNG, WebP, BMP or TIFF)"
    elif width * height > max_pixels:
        problem = f"{width}x{height} is {width * height / 1e6:.1f} MP, over the {max_pixels / 1e6:.1f} MP limit"
    elif width < 8 or height < 8:
        problem = f"{width}x{height} is too small to inspect"
    else:
        return image
    image.close()
    raise ImageLoadError(f"{name}: {problem}")


def load_stored_image(source: str | Path | bytes, *, name: str | None = None) -> Image.Image:
    """A photo from the store, as ``load_image`` reads it but under no size limit: it passed the
    limits configured when it was accepted, and a reader that knows only the defaults (where
    SLOPE_MAX_IMAGE_PIXELS was raised for a big camera), or a limit lowered since, must not make it
    vanish from its report. Still ``ImageLoadError`` for a file gone missing or damaged, and for
    one over Pillow's own ceiling (twice ``PIL.Image.MAX_IMAGE_PIXELS``, ~179 MP), which no
    setting here raises."""
    return load_image(source, max_pixels=NO_LIMIT, max_bytes=NO_LIMIT, name=name)


def capture_time(data: bytes) -> datetime | None:
    """When the photo was taken, from its EXIF DateTimeOriginal (or DateTime); None if absent
    or unreadable. Naive: cameras record local time without a zone."""
    try:
        exif = _read_exif(data)
        raw = exif.get_ifd(0x8769).get(0x9003) or exif.get(0x0132)  # DateTimeOriginal, DateTime
        return datetime.strptime(str(raw).strip("\x00 "), "%Y:%m:%d %H:%M:%S") if raw else None
    except (OSError, ValueError, SyntaxError, struct.error):
        return None
    except Image.DecompressionBombError:  # a header declaring billions of pixels: load_image refuses it
        return None


def gps_position(data: bytes) -> tuple[float, float] | None:
    """(latitude, longitude) in decimal degrees from the photo's EXIF GPS block (drones write
    one), or None where absent or unreadable. South and west are negative."""
    try:
        gps = _read_exif(data).get_ifd(0x8825)
        latitude, longitude = _degrees(gps[2], gps.get(1, "N")), _degrees(gps[4], gps.get(3, "E"))
    except (OSError, ValueError, SyntaxError, KeyError, TypeError, ZeroDivisionError, struct.error):
        return None
    except Image.DecompressionBombError:  # a header declaring billions of pixels: load_image refuses it
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180) or (latitude, longitude) == (0.0, 0.0):
        return None  # a camera without a fix writes zeros
    return latitude, longitude


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Pixel data of a PNG or APNG: IDAT, and the animation's frame chunks (their sequence numbers
# run through fdAT, so a stream without fdAT must lose fcTL/acTL too to stay valid).
_PNG_PIXEL_CHUNKS = frozenset({b"IDAT", b"fdAT", b"fcTL", b"acTL"})
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _read_exif(data: bytes) -> Image.Exif:
    """The photo's EXIF, without decoding its pixels. Pillow reads a PNG's chunks after the pixel
    data (where exiftool and many exporters put eXIf) only by decoding the whole image: 1-2 s for a
    45 MP photo, at each of capture_time and gps_position. So Pillow is handed the same PNG without
    its pixel chunks: every metadata chunk in its order, parsed by Pillow as it would parse it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size is load_image's to judge
        if not data.startswith(PNG_SIGNATURE):
            return _unpatched_open()(io.BytesIO(data)).getexif()
        image = _unpatched_open()(io.BytesIO(_png_without_pixels(data)))
    # The base class's reader: PngImageFile's own would decode the (absent) pixels to look for
    # chunks after them when the PNG has no eXIf; here every chunk was read by open().
    return Image.Image.getexif(image)


def _png_without_pixels(data: bytes) -> bytes:
    """The PNG's signature and chunks, less its pixel chunks, ending in IEND. A truncated PNG
    keeps the chunks before the cut: its metadata is read as far as it goes."""
    kept, position = bytearray(data[:8]), 8  # one buffer: a file of millions of tiny chunks stays small
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        end = position + 12 + length  # length, type, data, CRC
        if kind == b"IEND" or end > len(data):
            break
        if kind not in _PNG_PIXEL_CHUNKS:
            kept += data[position:end]
        position = end
    return bytes(kept + _PNG_IEND)


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
        array = np.array(image, dtype=np.float64)
        # A float TIFF marks no-data pixels NaN (GIS tools) or inf: one of them in min/max makes
        # the whole photo black. Scale by the finite pixels and show the others at the bottom.
        finite = np.isfinite(array)
        array[~finite] = np.nan  # inf too: nanmin/nanmax skip NaN without a copy of the photo
        low, high = (float(np.nanmin(array)), float(np.nanmax(array))) if finite.any() else (0.0, 0.0)
        array[~finite] = low
        scaled = (array - low) * (255.0 / (high - low)) if high > low else np.zeros_like(array)
        return Image.fromarray(scaled.astype(np.uint8), "L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Flatten transparency onto white, as a viewer would show it.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
