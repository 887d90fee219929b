import io

import numpy as np
import pytest
from PIL import Image

from core.images import ImageLoadError, load_image, open_image


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


RGB = Image.fromarray(np.arange(40 * 30 * 3, dtype=np.uint8).reshape(30, 40, 3))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF"])
def test_accepted_formats_load_as_rgb_with_their_size(fmt):
    image = load_image(encode(RGB, fmt))
    assert image.mode == "RGB"
    assert image.size == (40, 30)


@pytest.mark.parametrize(
    "source_image, fmt",
    [
        (RGB.convert("L"), "PNG"),
        (RGB.convert("RGBA"), "PNG"),
        (RGB.convert("CMYK"), "JPEG"),
        (RGB.convert("P"), "PNG"),
        (Image.fromarray(np.arange(30 * 40, dtype=np.uint16).reshape(30, 40) * 50), "PNG"),
    ],
)
def test_other_modes_become_rgb(source_image, fmt):
    image = load_image(encode(source_image, fmt))
    assert image.mode == "RGB" and image.size == (40, 30)


def test_sixteen_bit_is_scaled_not_clipped():
    ramp = Image.fromarray(np.tile(np.arange(40, dtype=np.uint16), (30, 1)) * 1600)
    pixels = np.asarray(load_image(encode(ramp, "PNG")))
    assert pixels[0, 0, 0] == 0 and pixels[0, -1, 0] == 255  # full 0..62400 range spread over 0..255
    assert len(np.unique(pixels[0, :, 0])) == 40


def test_transparent_areas_become_white():
    rgba = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    assert np.asarray(load_image(encode(rgba, "PNG")))[5, 5].tolist() == [255, 255, 255]


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    image = load_image(encode(RGB, "JPEG", exif=exif.tobytes()))
    assert image.size == (30, 40)


@pytest.mark.parametrize(
    "data, kwargs, message",
    [
        (b"", {}, "the file is empty"),
        (b"plain text, not a photo", {}, "not a recognised image"),
        (encode(RGB, "JPEG")[:300], {}, "truncated or corrupt"),
        (encode(RGB, "GIF"), {}, "GIF images are not accepted"),
        (encode(RGB, "PNG"), {"max_pixels": 1000}, "40x30 is 0.0 MP, over the 0.0 MP limit"),
        (encode(RGB, "PNG"), {"max_bytes": 100}, "over the 0.0001 MB limit"),
        (encode(Image.new("RGB", (4, 4)), "PNG"), {}, "too small to inspect"),
    ],
)
def test_bad_inputs_get_a_clear_error(data, kwargs, message):
    with pytest.raises(ImageLoadError, match=message) as info:
        load_image(data, name="photo.jpg", **kwargs)
    assert str(info.value).startswith("photo.jpg:")


NOISE = Image.fromarray(np.random.default_rng(0).integers(0, 256, (150, 200, 3), dtype=np.uint8))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_photo_cut_short_after_its_header_gets_a_clear_error(fmt):
    """An upload cut off in transfer reads its header whole (size, format): only decoding its
    pixels finds it, and the message must still say what is wrong, for that photo alone."""
    whole = encode(NOISE, fmt)
    cut = whole[: len(whole) * 2 // 3]
    with open_image(cut) as header:
        assert header.size == (200, 150)
    with pytest.raises(ImageLoadError) as info:
        load_image(cut, name="photo.jpg")
    assert str(info.value).startswith("photo.jpg: the image data is truncated or corrupt (")
    assert load_image(whole).size == (200, 150)


def test_missing_file_and_huge_pixel_count_from_a_path(tmp_path):
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "nope.jpg")
    # A 12000 x 12000 PNG compresses to a few hundred KB but would need 432 MB decoded.
    big = tmp_path / "huge.png"
    Image.new("L", (12000, 12000)).save(big)
    with pytest.raises(ImageLoadError, match="huge.png: 12000x12000 is 144.0 MP, over the 120.0 MP limit"):
        load_image(big)


def test_a_full_resolution_survey_camera_photo_loads(tmp_path):
    """A DJI Zenmuse P1 takes 8192x5460 (45 MP) photos: inspectors upload them as they are."""
    photo = tmp_path / "p1.jpg"
    Image.new("RGB", (8192, 5460), (90, 120, 60)).save(photo, quality=80)
    assert load_image(photo).size == (8192, 5460)


def test_loading_after_ultralytics_import_makes_no_install_attempt():
    import ultralytics  # noqa: F401  (it patches PIL.Image.open)

    with pytest.raises(ImageLoadError, match="not a recognised image"):
        load_image(b"\x00\x01garbage" * 10)


def test_capture_time_from_exif():
    from datetime import datetime

    from core.images import capture_time

    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2025:06:14 09:30:05"
    assert capture_time(encode(RGB, "JPEG", exif=exif.tobytes())) == datetime(2025, 6, 14, 9, 30, 5)
    assert capture_time(encode(RGB, "JPEG")) is None
    assert capture_time(b"not an image") is None


def test_gps_position_from_exif_and_none_without_it():
    import io

    from PIL import Image

    from core.images import gps_position

    def jpeg(gps: dict | None) -> bytes:
        exif = Image.Exif()
        if gps is not None:
            exif[0x8825] = gps
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8)).save(buffer, "JPEG", exif=exif)
        return buffer.getvalue()

    assert gps_position(jpeg({1: "S", 2: (33.0, 51.0, 36.0), 3: "E", 4: (151.0, 12.0, 36.0)})) == pytest.approx(
        (-33.86, 151.21)
    )
    assert gps_position(jpeg({1: "N", 2: (0.0, 0.0, 0.0), 3: "E", 4: (0.0, 0.0, 0.0)})) is None  # no fix
    assert gps_position(jpeg(None)) is None
    assert gps_position(b"not an image") is None


def _png_with_exif_after_the_pixels(exif: Image.Exif) -> bytes:
    """A PNG as exiftool leaves one: its eXIf chunk after IDAT (Pillow writes it before)."""
    import struct

    data, chunks, position = encode(RGB, "PNG", exif=exif), [], 8
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        chunks.append((kind, data[position : position + 12 + length]))
        position += 12 + length
    order = [b"IHDR", b"IDAT", b"eXIf", b"IEND"]
    assert sorted(kind for kind, _ in chunks) == sorted(order)
    return data[:8] + b"".join(chunk for name in order for kind, chunk in chunks if kind == name)


def test_a_pngs_exif_after_its_pixels_is_read_without_decoding_them(monkeypatch):
    """Pillow decodes a PNG to reach chunks after IDAT: 1-2 s a 45 MP photo, at each of
    capture_time and gps_position. The result is what Pillow reads after decoding."""
    from datetime import datetime

    from PIL import PngImagePlugin

    from core.images import capture_time, gps_position

    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2025:06:14 09:30:05"
    exif[0x8825] = {1: "S", 2: (33.0, 51.0, 36.0), 3: "E", 4: (151.0, 12.0, 36.0)}
    after = _png_with_exif_after_the_pixels(exif)
    decoded = Image.open(io.BytesIO(after)).getexif()  # Pillow's own answer, decoding the pixels
    assert decoded.get_ifd(0x8769)[0x9003] == "2025:06:14 09:30:05"

    def no_decoding(self):
        raise AssertionError("the PNG's pixels were decoded to read its EXIF")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_decoding)
    for png in (after, encode(RGB, "PNG", exif=exif)):  # EXIF after the pixels, and before them
        assert capture_time(png) == datetime(2025, 6, 14, 9, 30, 5)
        assert gps_position(png) == pytest.approx((-33.86, 151.21))
    assert capture_time(encode(RGB, "PNG")) is None and gps_position(encode(RGB, "PNG")) is None
    assert capture_time(after[: len(after) - 6]) == datetime(2025, 6, 14, 9, 30, 5)  # cut short in IEND


@pytest.mark.parametrize("no_data", [np.nan, np.inf, -np.inf])
def test_a_float_tiffs_no_data_pixel_leaves_the_rest_of_the_photo_as_it_was(no_data):
    """GIS tools mark no-data pixels of a float TIFF NaN (or inf): one of them made min/max NaN
    and the whole photo black."""
    ramp = np.tile(np.linspace(-3.0, 7.0, 40, dtype=np.float32), (30, 1))
    ramp[10, 20] = 1.5  # a value inside the range: the scaling is the same with or without it
    clean = np.asarray(load_image(encode(Image.fromarray(ramp), "TIFF")))
    ramp[10, 20] = no_data
    with_no_data = np.asarray(load_image(encode(Image.fromarray(ramp), "TIFF")))
    others = np.ones(ramp.shape, dtype=bool)
    others[10, 20] = False
    assert clean[:, -1].min() == 255 and np.array_equal(with_no_data[others], clean[others])
    assert with_no_data[10, 20].tolist() == [0, 0, 0]  # shown at the bottom of the range
