"""Files, folders and zips as named photo sources."""

import zipfile

import pytest

from core.images import ImageLoadError
from core.sources import expand_sources
from tests.bad_zips import ONE_BAD_MEMBER, bad_utf8_name, duplicate_names


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "flight" / "sub").mkdir(parents=True)
    (tmp_path / "flight" / "a.jpg").write_bytes(b"A")
    (tmp_path / "flight" / "sub" / "b.jpg").write_bytes(b"B")
    (tmp_path / "flight" / ".hidden.jpg").write_bytes(b"H")
    with zipfile.ZipFile(tmp_path / "survey.zip", "w") as archive:
        archive.writestr("day1/a.jpg", b"ZA")
        archive.writestr("__MACOSX/day1/._a.jpg", b"junk")
        archive.writestr("day1/.DS_Store", b"junk")
        archive.writestr("day1/huge.jpg", b"x" * 2000)
    (tmp_path / "a.jpg").write_bytes(b"TOP")
    return tmp_path


def test_files_folders_and_zip_members_in_order_with_unique_names(tree):
    sources, problems = expand_sources(
        [tree / "a.jpg", tree / "flight", tree / "survey.zip", tree / "missing.jpg"], max_bytes=1000
    )
    names = [s.name for s in sources]
    assert names == ["a.jpg", "flight/a.jpg", "flight/sub/b.jpg", "survey.zip/day1/a.jpg", "missing.jpg"]
    assert [s.read() for s in sources[:4]] == [b"TOP", b"A", b"B", b"ZA"]
    assert sources[3].origin == f"{tree / 'survey.zip'}/day1/a.jpg"
    assert problems == ["survey.zip/day1/huge.jpg: 0.0 MB is over the 0.001 MB limit"]
    with pytest.raises(ImageLoadError, match="missing.jpg: no such file"):
        sources[4].read()


def test_two_uploads_with_one_name_are_both_kept(tree):
    (tree / "other").mkdir()
    (tree / "other" / "a.jpg").write_bytes(b"OTHER")
    sources, _ = expand_sources([tree / "a.jpg", tree / "other" / "a.jpg"], max_bytes=1000)
    assert [s.name for s in sources] == ["a.jpg", "a.jpg (2)"]
    assert [s.read() for s in sources] == [b"TOP", b"OTHER"]


def test_photo_cap_keeps_the_first_photos(tree):
    (tree / "bad.zip").write_bytes(b"PK\x03\x04 not really a zip")
    sources, problems = expand_sources([tree / "flight", tree / "bad.zip"], max_bytes=1000, max_photos=1)
    assert [s.name for s in sources] == ["flight/a.jpg"]
    assert problems == [
        "bad.zip: the zip file could not be read (it is damaged or not a zip)",
        "1 photo beyond the first 1 not inspected",
    ]


def test_two_flights_photos_of_one_name_keep_their_folders_and_an_empty_zip_says_so(tmp_path):
    with zipfile.ZipFile(tmp_path / "survey.zip", "w") as archive:
        archive.writestr("flight1/DJI_0001.jpg", b"ONE")
        archive.writestr("flight2/DJI_0001.jpg", b"TWO")
    zipfile.ZipFile(tmp_path / "empty.zip", "w").close()
    sources, problems = expand_sources([tmp_path / "survey.zip", tmp_path / "empty.zip"], max_bytes=1000)
    assert [s.name for s in sources] == ["survey.zip/flight1/DJI_0001.jpg", "survey.zip/flight2/DJI_0001.jpg"]
    assert problems == ["empty.zip: the zip holds no files"]


def test_a_zip_with_a_path_outside_it_or_a_bomb_is_refused_whole(tmp_path):
    with zipfile.ZipFile(tmp_path / "climb.zip", "w") as archive:
        archive.writestr("ok.jpg", b"A")
        archive.writestr("../../etc/evil.jpg", b"B")
    sources, problems = expand_sources([tmp_path / "climb.zip"], max_bytes=10_000_000)
    assert sources == []
    assert problems == [
        "climb.zip: refused, nothing in it was read: the member '../../etc/evil.jpg' points outside the archive"
    ]

    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("photo.jpg", b"\0" * 5_000_000)  # 5 MB of zeros deflates to a few kB
    sources, problems = expand_sources([tmp_path / "bomb.zip"], max_bytes=10_000_000)
    assert sources == [] and "unpacks to" in problems[0] and problems[0].startswith("bomb.zip: refused")


def test_a_zip_with_too_many_members_is_refused(tmp_path, monkeypatch):
    import core.sources

    monkeypatch.setattr(core.sources, "ZIP_MAX_MEMBERS", 3)
    with zipfile.ZipFile(tmp_path / "many.zip", "w") as archive:
        for n in range(4):
            archive.writestr(f"{n}.jpg", b"x")
    sources, problems = expand_sources([tmp_path / "many.zip"], max_bytes=1000)
    assert sources == [] and problems == ["many.zip: refused, nothing in it was read: 4 members, over the limit of 3"]


@pytest.mark.parametrize("case", sorted(ONE_BAD_MEMBER))
def test_one_unreadable_member_fails_alone_with_its_name(tmp_path, case):
    make, message = ONE_BAD_MEMBER[case]
    photo = bytes(range(256)) * 4
    sources, problems = expand_sources([make(tmp_path / "s.zip", photo)], max_bytes=10_000)
    assert problems == [] and [s.name for s in sources] == ["s.zip/a.jpg", "s.zip/b.jpg"]
    with pytest.raises(ImageLoadError) as refused:
        sources[0].read()
    assert str(refused.value).startswith(f"s.zip/{message}")
    assert sources[1].read() == photo  # the next member is read as if nothing happened


def test_a_zip_python_cannot_list_is_one_problem_and_the_other_inputs_go_on(tmp_path):
    (tmp_path / "good.jpg").write_bytes(b"G")
    broken = bad_utf8_name(tmp_path / "u.zip", b"x" * 300)
    sources, problems = expand_sources([broken, tmp_path / "good.jpg"], max_bytes=10_000)
    assert problems == ["u.zip: the zip file could not be read (a member's name is not valid UTF-8)"]
    assert [s.name for s in sources] == ["good.jpg"]


def test_two_members_of_one_name_are_each_read_once(tmp_path):
    sources, _ = expand_sources([duplicate_names(tmp_path / "d.zip", b"first", b"second")], max_bytes=100)
    assert [s.name for s in sources] == ["d.zip/a.jpg", "d.zip/a.jpg (2)"]
    assert [s.read() for s in sources] == [b"first", b"second"]


def test_a_photo_with_a_zip_appended_is_a_photo(tmp_path):
    """A zip's directory is at its end, so zipfile.is_zipfile takes a JPEG with a zip appended (a
    polyglot) for a zip, and the photo was never inspected: a file is a zip by its first bytes."""
    import io

    appended = io.BytesIO()
    with zipfile.ZipFile(appended, "w") as archive:
        archive.writestr("x.txt", "hi")
    photo = b"\xff\xd8\xff\xe0 a JPEG's bytes " + appended.getvalue()
    (tmp_path / "poly.jpg").write_bytes(photo)
    assert zipfile.is_zipfile(tmp_path / "poly.jpg")
    sources, problems = expand_sources([tmp_path / "poly.jpg"], max_bytes=10_000)
    assert [s.name for s in sources] == ["poly.jpg"] and sources[0].read() == photo and problems == []


def test_a_zip_named_zip_with_bytes_before_it_is_opened(tmp_path, val_images):
    """A self-extracting archive renamed .zip: a program's bytes, then the members (zipfile reads
    member offsets from the end). Named .zip, it is what the person said it is."""
    import io

    archive_bytes = io.BytesIO()
    with zipfile.ZipFile(archive_bytes, "w") as archive:
        archive.writestr("survey/a.jpg", val_images[0].read_bytes())
    (tmp_path / "survey.zip").write_bytes(b"MZ a stub program " + archive_bytes.getvalue())
    sources, problems = expand_sources([tmp_path / "survey.zip"], max_bytes=10_000_000)
    assert problems == [] and [s.name for s in sources] == ["survey.zip/survey/a.jpg"]
    assert sources[0].read() == val_images[0].read_bytes()
