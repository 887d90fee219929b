"""Zips with one unreadable member, made byte by byte as other tools (or damage) leave them: the
first member ``a.jpg`` is bad, the second ``b.jpg`` is fine. Python's zipfile writes none of these
itself, so each is a good zip patched in place."""

from __future__ import annotations

import struct
import warnings
import zipfile
from pathlib import Path

LOCAL, CENTRAL = b"PK\x03\x04", b"PK\x01\x02"


def _two_members(path: Path, first: bytes, second: bytes, method: int = zipfile.ZIP_STORED) -> bytearray:
    with zipfile.ZipFile(path, "w", method) as archive:
        archive.writestr("a.jpg", first)
        archive.writestr("b.jpg", second)
    return bytearray(path.read_bytes())


def _patch_first(data: bytearray, local_offset: int, central_offset: int, value: int, flag: bool) -> None:
    """Set (or, ``flag``, OR into) a 2-byte field of the first member's local and central headers."""
    for start, offset in ((data.find(LOCAL), local_offset), (data.find(CENTRAL), central_offset)):
        old = struct.unpack_from("<H", data, start + offset)[0]
        struct.pack_into("<H", data, start + offset, (old | value) if flag else value)


def encrypted(path: Path, photo: bytes) -> Path:
    data = _two_members(path, photo, photo)
    _patch_first(data, 6, 8, 0x1, flag=True)  # "encrypted": zipfile asks for a password
    path.write_bytes(data)
    return path


def bad_crc(path: Path, photo: bytes) -> Path:
    data = _two_members(path, photo, photo)
    data[data.find(LOCAL) + 30 + len("a.jpg") + 100] ^= 0xFF  # a byte of the first member's data
    path.write_bytes(data)
    return path


def unsupported_method(path: Path, photo: bytes) -> Path:
    data = _two_members(path, photo, photo)
    _patch_first(data, 8, 10, 99, flag=False)  # compression method 99 (AES): not in zipfile
    path.write_bytes(data)
    return path


def corrupt_deflate(path: Path, photo: bytes) -> Path:
    data = _two_members(path, photo, photo, zipfile.ZIP_DEFLATED)
    start = data.find(LOCAL) + 30 + len("a.jpg")
    for k in range(start + 2, start + 40):
        data[k] ^= 0x55
    path.write_bytes(data)
    return path


def bad_utf8_name(path: Path, photo: bytes) -> Path:
    """The first name flagged UTF-8 but not UTF-8: Python cannot even list this zip."""
    data = _two_members(path, photo, photo)
    for marker in (LOCAL, CENTRAL):
        start = data.find(marker)
        name_at = start + (30 if marker == LOCAL else 46)
        data[name_at] = 0xFF
    _patch_first(data, 6, 8, 0x800, flag=True)
    path.write_bytes(data)
    return path


def duplicate_names(path: Path, first: bytes, second: bytes) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate: that is the point
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("a.jpg", first)
            archive.writestr("a.jpg", second)
    return path


ONE_BAD_MEMBER = {
    "encrypted": (encrypted, "a.jpg: could not be unpacked (it is encrypted)"),
    "bad CRC": (
        bad_crc,
        "a.jpg: could not be unpacked: the zip member is damaged (its data does not match its checksum)",
    ),
    "unsupported compression": (unsupported_method, "a.jpg: could not be unpacked (That compression method is not"),
    "corrupt deflate": (corrupt_deflate, "a.jpg: could not be unpacked: the zip member is damaged (its compressed"),
}
