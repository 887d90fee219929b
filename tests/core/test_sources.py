"""Files, folders and zips as named photo sources."""

import zipfile

import pytest

from core.images import ImageLoadError
from core.sources import expand_sources


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
    assert names == ["a.jpg", "flight/a.jpg", "flight/sub/b.jpg", "survey.zip/a.jpg", "missing.jpg"]
    assert [s.read() for s in sources[:4]] == [b"TOP", b"A", b"B", b"ZA"]
    assert sources[3].origin == f"{tree / 'survey.zip'}/day1/a.jpg"
    assert problems == ["survey.zip/huge.jpg: 0.0 MB is over the limit"]
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
    assert problems[-1] == "2 photo(s) beyond the first 1 were not inspected"
