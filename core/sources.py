"""What a user hands in (files, folders, zips of a survey) as named photo sources.

Each source reads its bytes only when asked, one photo at a time, so a survey zip of hundreds of
photos is never held in memory whole. Names are unique within a batch (two flights can both have
``DJI_0001.jpg``), so every result can be told apart in tables, reports and the store.
"""

from __future__ import annotations

import functools
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from core.images import ImageLoadError, read_image_bytes, too_big_message
from core.taxonomy import counted


@dataclass(frozen=True)
class PhotoSource:
    name: str  # unique in its batch, for people: "photo.jpg", "survey.zip/flight1/photo.jpg"
    origin: str  # where it came from: the path as given, or "path/to/survey.zip/member"
    read: Callable[[], bytes]


def expand_sources(
    paths: Iterable[str | Path], *, max_bytes: int, max_photos: int | None = None
) -> tuple[list[PhotoSource], list[str]]:
    """Sources for files as given, every file under a folder (sorted, hidden ones skipped) and
    every member of a zip; plus one message per thing that cannot be a source (an unreadable zip,
    an oversized member, photos beyond ``max_photos``). Whether a source is an image is for the
    loader to say: a text file becomes a source whose load fails with a clear message."""
    sources: list[PhotoSource] = []
    problems: list[str] = []
    taken: set[str] = set()

    def add(name: str, origin: str, read: Callable[[], bytes]) -> None:
        unique, n = name, 1
        while unique in taken:
            n += 1
            unique = f"{name} ({n})"
        taken.add(unique)
        sources.append(PhotoSource(unique, origin, read))

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path))):
                name = str(file.relative_to(path.parent))
                add(name, str(file), functools.partial(read_image_bytes, file, name, max_bytes))
        elif path.is_file() and _is_zip(path):
            problems += _add_zip_members(path, max_bytes, add)
        elif path.suffix.lower() == ".zip" and path.is_file():
            problems.append(f"{path.name}: the zip file could not be read (it is damaged or not a zip)")
        else:
            # a missing or oversized file fails when read, with a message naming it
            add(path.name, str(raw), functools.partial(read_image_bytes, path, path.name, max_bytes))
    if max_photos is not None and len(sources) > max_photos:
        problems.append(f"{counted(len(sources) - max_photos, 'photo')} beyond the first {max_photos} not inspected")
        sources = sources[:max_photos]
    return sources, problems


# A survey zip is refused whole beyond these: more members than any survey has, more bytes
# unpacked than any survey is, or a member that unpacks to far more than it weighs (a zip bomb).
ZIP_MAX_MEMBERS = 5_000
ZIP_MAX_TOTAL_BYTES = 20_000_000_000
ZIP_MAX_RATIO = 200  # photos hardly compress: JPEG members are close to 1:1


# How a zip's first bytes read: a member's local header, or the end record of an empty zip.
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")


def _is_zip(path: Path) -> bool:
    """Whether to open the file as a zip of photos: one that starts as a zip, or one named .zip
    with bytes before its first member (a self-extracting survey archive renamed). zipfile.is_zipfile
    alone looks only for the directory at the end, so a JPEG with a zip appended (a polyglot) was
    taken for a zip of photos and the photo itself never inspected: a photo is a photo."""
    try:
        with path.open("rb") as file:
            starts_as_zip = file.read(4) in ZIP_SIGNATURES
    except OSError:  # unreadable: reading it as a photo fails with a message naming it
        return False
    return (starts_as_zip or path.suffix.lower() == ".zip") and zipfile.is_zipfile(path)


def _add_zip_members(path: Path, max_bytes: int, add: Callable[[str, str, Callable[[], bytes]], None]) -> list[str]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        return [f"{path.name}: the zip file could not be read ({exc})"]
    except UnicodeDecodeError:  # a name flagged UTF-8 that is not: Python cannot list the zip
        return [f"{path.name}: the zip file could not be read (a member's name is not valid UTF-8)"]
    refused = _unsafe_zip(members)
    if refused:
        return [f"{path.name}: refused, nothing in it was read: {refused}"]
    problems, files = [], 0
    for info in members:
        inner = Path(info.filename.replace("\\", "/"))
        if info.is_dir() or _hidden(inner) or "__MACOSX" in inner.parts:
            continue
        files += 1
        # With its folders: two flights of one survey both have DJI_0001.jpg.
        name = f"{path.name}/{inner.as_posix()}"
        if info.file_size > max_bytes:
            problems.append(too_big_message(name, info.file_size, max_bytes))
            continue
        # The member itself, not its name: a zip may hold two members of one name, each read once.
        add(name, f"{path}/{info.filename}", functools.partial(_read_member, path, info, name))
    if not files:
        problems.append(f"{path.name}: the zip holds no files")
    return problems


def _unsafe_zip(members: list[zipfile.ZipInfo]) -> str | None:
    """Why a zip must not be read at all, or None. Members are read into memory one at a time and
    never written to disk, but a path that climbs out of the archive says it was made to attack."""
    if len(members) > ZIP_MAX_MEMBERS:
        return f"{len(members)} members, over the limit of {ZIP_MAX_MEMBERS}"
    total = sum(info.file_size for info in members)
    if total > ZIP_MAX_TOTAL_BYTES:
        return f"it unpacks to {total / 1e9:.1f} GB, over the limit of {ZIP_MAX_TOTAL_BYTES / 1e9:.0f} GB"
    for info in members:
        name = info.filename.replace("\\", "/")
        if name.startswith("/") or ".." in name.split("/") or (len(name) > 1 and name[1] == ":"):
            return f"the member {info.filename!r} points outside the archive"
        if info.compress_size and info.file_size / info.compress_size > ZIP_MAX_RATIO:
            return f"the member {info.filename!r} unpacks to {info.file_size / info.compress_size:.0f}x its size"
    return None


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _read_member(archive_path: Path, member: zipfile.ZipInfo, name: str) -> bytes:
    """The member's bytes; ``ImageLoadError`` naming it when they cannot be had, so the batch
    goes on with the next photo."""
    try:
        with zipfile.ZipFile(archive_path) as archive, archive.open(member) as file:
            return file.read()
    except RuntimeError as exc:  # zipfile's word for an encrypted member
        why = "it is encrypted" if "encrypted" in str(exc) else str(exc)
        raise ImageLoadError(f"{name}: could not be unpacked ({why})") from None
    except NotImplementedError as exc:  # a compression method zipfile does not have
        raise ImageLoadError(f"{name}: could not be unpacked ({exc})") from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        why = "its data does not match its checksum" if "CRC" in str(exc) else "its compressed data is corrupt"
        raise ImageLoadError(f"{name}: could not be unpacked: the zip member is damaged ({why})") from None
