"""Bad input, table by table, through the command line (in-process) and through the app's API
(``gradio_client``): each case gets one plain message naming what is wrong, the good photo handed
in beside it is still inspected or imported, and nothing else is stored: no image row, no file,
no half-written ``.part`` file.

The tables are the cases a probe of the app found handled badly, and their neighbours.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from cli.main import main
from core.settings import PROJECT_ROOT, Settings
from lifecycle.server import register_configured_models
from storage import models as m
from storage.db import Database
from storage.users import add_user
from tests import bad_zips

SLOPES = PROJECT_ROOT.parent / "shared" / "data" / "slopes"


@pytest.fixture(scope="module")
def photo(val_images) -> bytes:
    return val_images[0].read_bytes()


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 80)).save(out, "PNG")
    return out.getvalue()


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _bomb(folder: Path, _: bytes) -> Path:
    with zipfile.ZipFile(folder / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.jpg", b"\0" * 2_000_000)
    return folder / "bomb.zip"


@dataclass(frozen=True)
class Bad:
    """A bad thing handed to ``slope inspect`` or the Inspect tab, and what the user must read."""

    id: str
    make: Callable[[Path, bytes], Path]  # (a folder to put it in, a good photo's bytes) -> its path
    message: str
    drawn: int = 1  # photos inspected: the good one, and the good members of a zip with a bad one


def _file(name: str, data: Callable[[bytes], bytes]) -> Callable[[Path, bytes], Path]:
    def make(folder: Path, photo: bytes) -> Path:
        (folder / name).write_bytes(data(photo))
        return folder / name

    return make


def _member_case(case: str) -> Bad:
    maker, message = bad_zips.ONE_BAD_MEMBER[case]
    return Bad(f"zip member: {case}", lambda folder, photo: maker(folder / "s.zip", photo), f"s.zip/{message}", 2)


INSPECT = [
    Bad("text named .jpg", _file("notes.jpg", lambda _: b"not a photo at all"), "notes.jpg: not a recognised image"),
    Bad("empty .jpg", _file("empty.jpg", lambda _: b""), "empty.jpg: the file is empty"),
    Bad("truncated JPEG", _file("cut.jpg", lambda p: p[:400]), "cut.jpg: the image data is truncated or corrupt"),
    Bad("HTML named .png", _file("page.png", lambda _: b"<html><script>x</script></html>"), "page.png: not a recogn"),
    Bad("JPEG header only", _file("head.jpg", lambda p: p[:20]), "head.jpg:"),
    Bad("PNG cut in its data", _file("cut.png", lambda _: _png(64, 64)[:60]), "cut.png:"),
    Bad("not a zip named .zip", _file("fake.zip", lambda _: b"PK but not really"), "fake.zip: the zip file could not"),
    Bad("empty zip", lambda f, _: _zip(f / "empty.zip", {}), "empty.zip: the zip holds no files"),
    Bad("zip of only folders", lambda f, _: _zip(f / "dirs.zip", {"a/": b""}), "dirs.zip: the zip holds no files"),
    Bad("zip member not a photo", lambda f, _: _zip(f / "t.zip", {"x.jpg": b"text"}), "t.zip/x.jpg: not a recognised"),
    Bad(
        "zip member truncated",
        lambda f, p: _zip(f / "c.zip", {"c.jpg": p[:300]}),
        "c.zip/c.jpg: the image data is truncated",
    ),
    Bad(
        "zip path outside it",
        lambda f, p: _zip(f / "up.zip", {"../x.jpg": p}),
        "up.zip: refused, nothing in it was read: the member '../x.jpg' points outside the archive",
    ),
    Bad(
        "zip absolute path",
        lambda f, p: _zip(f / "abs.zip", {"/etc/x.jpg": p}),
        "abs.zip: refused, nothing in it was read: the member '/etc/x.jpg' points outside",
    ),
    Bad("zip bomb", _bomb, "refused, nothing in it was read: the member 'a.jpg' unpacks to"),
    *[_member_case(case) for case in sorted(bad_zips.ONE_BAD_MEMBER)],
    Bad(
        "zip member name not UTF-8",
        lambda f, p: bad_zips.bad_utf8_name(f / "u.zip", p),
        "u.zip: the zip file could not be read (a member's name is not valid UTF-8)",
    ),
]
CLI_ONLY = [
    Bad("missing file", lambda f, _: f / "nowhere.jpg", "nowhere.jpg: no such file"),
    Bad("a folder of no photos", lambda f, _: _folder_of_text(f), "notes/readme.txt: not a recognised image"),
]


def _folder_of_text(folder: Path) -> Path:
    (folder / "notes").mkdir()
    (folder / "notes" / "readme.txt").write_text("survey notes")
    return folder / "notes"


@pytest.mark.parametrize("case", [*INSPECT, *CLI_ONLY], ids=lambda c: c.id)
def test_slope_inspect_says_what_is_wrong_and_inspects_the_good_photo(case, tmp_path, photo, inspector, capsys):
    bad = case.make(tmp_path, photo)
    (tmp_path / "good.jpg").write_bytes(photo)
    code = main(["inspect", str(bad), str(tmp_path / "good.jpg"), "--json"], inspector=inspector)
    out, err = capsys.readouterr()
    assert code == 0
    entries = json.loads(out)  # JSON whatever the bad input
    good = [e for e in entries if e["image"] == str(tmp_path / "good.jpg")]
    assert len(good) == 1 and "error" not in good[0] and good[0]["findings"]
    said = [e["error"] for e in entries if "error" in e] + err.splitlines()
    assert any(case.message in line for line in said), said
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("SLOPE_MAX_UPLOAD_BYTES", "1000", "big.jpg: 0.0 MB is over the 0.001 MB limit"),
        ("SLOPE_MAX_IMAGE_PIXELS", "1000", "big.jpg: "),
    ],
)
def test_a_photo_over_a_limit_is_refused_by_name(
    variable, value, message, tmp_path, photo, inspector, capsys, monkeypatch
):
    monkeypatch.setenv(variable, value)
    (tmp_path / "big.jpg").write_bytes(photo)
    assert main(["inspect", str(tmp_path / "big.jpg"), "--json"], inspector=inspector) == 1
    out, err = capsys.readouterr()
    [entry] = json.loads(out)
    assert entry["error"].startswith(message) and "Traceback" not in err


# ------------------------------------------------------------------ slope import


NAMES = "names:\n  0: rock_toe\n  1: slope_drain\n  2: toe_drain\n  3: vegetation\n"


@dataclass(frozen=True)
class BadFolder:
    """A YOLO folder with one good photo and something bad, and what ``slope import`` says."""

    id: str
    change: Callable[[Path, bytes], None]  # (the folder, a second photo's bytes)
    message: str
    code: int = 0  # 2: the folder is refused whole
    stored: int = 1  # photos in the store after it


def _second(label: str | bytes, name: str = "second") -> Callable[[Path, bytes], None]:
    """A second photo whose label file holds ``label``."""

    def change(folder: Path, photo: bytes) -> None:
        (folder / "train" / "images" / f"{name}.jpg").write_bytes(photo)
        target = folder / "train" / "labels" / f"{name}.txt"
        target.write_bytes(label if isinstance(label, bytes) else label.encode())

    return change


def _yaml(text: str | bytes) -> Callable[[Path, bytes], None]:
    def change(folder: Path, _: bytes) -> None:
        (folder / "data.yaml").write_bytes(text if isinstance(text, bytes) else text.encode())

    return change


def _put(relative: str, data: bytes | Callable[[bytes], bytes]) -> Callable[[Path, bytes], None]:
    def change(folder: Path, photo: bytes) -> None:
        (folder / relative).write_bytes(data(photo) if callable(data) else data)

    return change


def _no_yaml(folder: Path, _: bytes) -> None:
    (folder / "data.yaml").unlink()


IMPORT = [
    BadFolder("nan coordinate", _second("0 nan 0.5 0.2 0.2\n"), "line 1 has a coordinate that is not a finite"),
    BadFolder("inf coordinate", _second("0 0.5 inf 0.2 0.2\n"), "line 1 has a coordinate that is not a finite"),
    BadFolder("-inf coordinate", _second("1 0.5 0.5 -inf 0.2\n"), "line 1 has a coordinate that is not a finite"),
    BadFolder("nan in a polygon", _second("2 0.1 0.1 0.2 nan 0.3 0.3\n"), "not a finite number"),
    BadFolder("letters", _second("0 a b c d\n"), "second.jpg: line 1 is not numbers"),
    BadFolder("three coordinates", _second("0 0.5 0.5 0.2\n"), "line 1 has 3 coordinates: neither a box nor a polygon"),
    BadFolder("seven coordinates", _second("0 .1 .1 .2 .2 .3 .3 .4\n"), "line 1 has 7 coordinates"),
    BadFolder("class past the names", _second("7 0.5 0.5 0.2 0.2\n"), "line 1: class 7 is not one of data.yaml's"),
    BadFolder("negative class", _second("-1 0.5 0.5 0.2 0.2\n"), "line 1: class -1 is not one of data.yaml's"),
    BadFolder("class as a float", _second("1.0 0.5 0.5 0.2 0.2\n"), "line 1 is not numbers"),
    BadFolder("label not UTF-8", _second(b"\xff\xfe\x00garbage"), "second.jpg: the label file is not UTF-8 text"),
    BadFolder("box under 1 px", _second("0 0.5 0.5 0.0001 0.0001\n"), "a box under 1 px was left out", stored=2),
    BadFolder("byte-order mark", _second("\ufeff0 0.5 0.5 0.2 0.2\n"), "labels added: 2", stored=2),
    BadFolder("CRLF line ends", _second("0 0.5 0.5 0.2 0.2\r\n1 0.3 0.3 0.1 0.1\r\n"), "labels added: 3", stored=2),
    BadFolder("label file without its image", _put("train/labels/ghost.txt", b"0 .5 .5 .2 .2\n"), "without its image"),
    BadFolder("text named .jpg", _put("train/images/notes.jpg", b"notes"), "notes.jpg: not a recognised image"),
    BadFolder("truncated photo", _put("train/images/cut.jpg", lambda p: p[:500]), "cut.jpg: the image data is"),
    BadFolder("not an image name", _put("train/images/readme.md", b"# hi"), "readme.md: not an image file name"),
    BadFolder("empty data.yaml", _yaml(""), "data.yaml has no class names", code=2, stored=0),
    BadFolder("data.yaml not YAML", _yaml("names: [rock_toe\n  - : :"), "data.yaml is not readable YAML", 2, 0),
    BadFolder("data.yaml names a string", _yaml("names: rock_toe\n"), "data.yaml has no class names", 2, 0),
    BadFolder("data.yaml unknown class", _yaml("names: [rock_toe, pipe]\n"), "unknown class name 'pipe'", 2, 0),
    BadFolder("data.yaml binary", _yaml(b"\xff\xfe\xfa"), "data.yaml is not readable YAML", code=2, stored=0),
    BadFolder("no data.yaml", _no_yaml, "has no data.yaml: not a YOLO export folder", code=2, stored=0),
    BadFolder(
        "sparse class numbers",
        lambda f, p: (_yaml("names:\n  0: rock_toe\n  5: vegetation\n")(f, p), _second("1 .5 .5 .2 .2\n")(f, p)),
        "line 1: class 1 is not one of data.yaml's class numbers",
    ),
]


@pytest.fixture
def yolo_folder(tmp_path, val_images) -> Path:
    """One real photo with one box, and a 4-type data.yaml."""
    folder = tmp_path / "export"
    for sub in ("images", "labels"):
        (folder / "train" / sub).mkdir(parents=True)
    (folder / "train" / "images" / "good.jpg").write_bytes(val_images[1].read_bytes())
    (folder / "train" / "labels" / "good.txt").write_text("0 0.5 0.5 0.3 0.3\n")
    (folder / "data.yaml").write_text(NAMES)
    return folder


@pytest.mark.parametrize("case", IMPORT, ids=lambda c: c.id)
def test_slope_import_says_what_is_wrong_and_imports_the_rest(
    case, yolo_folder, tmp_path, val_images, capsys, monkeypatch
):
    monkeypatch.setenv("SLOPE_DATA_DIR", str(tmp_path / "data"))
    settings = Settings.from_env()
    register_configured_models(Database.from_settings(settings), settings)
    add_user(Database.from_settings(settings), "rita", "reviewer", "a long password")
    case.change(yolo_folder, val_images[2].read_bytes())
    code = main(["import", str(yolo_folder), "--by", "rita"])
    out, err = capsys.readouterr()
    assert code == case.code
    assert case.message in out + err, out + err
    assert "Traceback" not in err and "[SQL" not in out + err
    db = Database.from_settings(settings)
    with db.read() as session:
        rows = session.scalar(select(func.count()).select_from(m.Image))
    assert rows == case.stored
    files = [p for p in (Path(settings.data_dir) / "images").rglob("*") if p.is_file()]
    assert len(files) == case.stored and not any(p.name.startswith(".part") for p in files)


# ------------------------------------------------------------------ the app's API


@pytest.fixture(scope="module")
def app_store(tmp_path_factory, inspector):
    from gradio_client import Client

    from app import build_app
    from lifecycle.server import ModelServer

    settings = Settings(data_dir=str(tmp_path_factory.mktemp("bad-input-app")))
    db = Database.from_settings(settings)
    demo = build_app(settings, ModelServer(settings, db, inspector), db)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        yield Client(demo.local_url, verbose=False), settings, db
    finally:
        demo.close()


@pytest.mark.slow  # a running app and one inspection per case
@pytest.mark.parametrize("case", INSPECT, ids=lambda c: c.id)
def test_the_inspect_api_says_what_is_wrong_stores_only_the_good_photo(case, app_store, tmp_path, photo):
    from gradio_client import handle_file

    client, settings, db = app_store
    bad = case.make(tmp_path, photo)
    (tmp_path / "good.jpg").write_bytes(photo)
    gallery, summary, *_ = client.predict(
        [handle_file(str(bad)), handle_file(str(tmp_path / "good.jpg"))], 0.25, "", "", "", api_name="/inspect"
    )
    assert len(gallery) == case.drawn
    problems = summary.split("**Problems:**", 1)[1]
    assert case.message in problems, problems
    assert "Traceback" not in summary and str(tmp_path) not in summary  # no server path
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(m.Image)) == 1  # the good photo, once
    files = [p for p in (Path(settings.data_dir) / "images").rglob("*") if p.is_file()]
    assert [p.suffix for p in files] == [".jpg"]


# ------------------------------------------------------------------ slope survey


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--name", ""], "a survey needs a name: --name cannot be empty"),
        (["--name", "   "], "a survey needs a name: --name cannot be empty"),
        (["--name", "n" * 201], "The survey name is 201 characters long: at most 200."),
        (["--name", "north\x00slope"], "The survey name holds a control character"),
        (["--name", "north", "--site", "s" * 300], "The site is 300 characters long: at most 200."),
        (["--name", "north", "--site", "a\tb"], "The site holds a control character"),
        (["--name", "north", "--date", "2026-13-01"], "The date '2026-13-01' is not a date like 2026-11-23."),
        (["--name", "north", "--date", "yesterday"], "The date 'yesterday' is not a date like 2026-11-23."),
    ],
)
def test_slope_survey_refuses_bad_names_sites_and_dates_before_anything(
    arguments, message, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("SLOPE_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "a.jpg").write_bytes(b"never read")
    assert main(["survey", str(tmp_path / "a.jpg"), *arguments]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "data").exists()  # nothing stored, not even a store


def test_a_date_written_without_zeros_is_stored_with_them():
    from services.survey import survey_date

    assert survey_date("2026-1-1") == "2026-01-01"


@pytest.mark.slow  # a running app
@pytest.mark.parametrize(
    "survey, site, date, message",
    [
        ("n" * 201, "", "", "The survey name is 201 characters long: at most 200."),
        ("north\x00slope", "", "", "The survey name holds a control character"),
        ("north", "s" * 300, "", "The site is 300 characters long: at most 200."),
        ("north", "", "2026-02-30", "The date '2026-02-30' is not a date like 2026-11-23."),
    ],
)
def test_the_inspect_api_refuses_bad_survey_fields_before_anything(
    survey, site, date, message, app_store, photo, tmp_path
):
    from gradio_client import handle_file

    client, _, db = app_store
    (tmp_path / "good.jpg").write_bytes(photo)
    with db.read() as session:
        before = session.scalar(select(func.count()).select_from(m.Survey))
    with pytest.raises(Exception, match=message.replace(".", r"\.")):
        client.predict([handle_file(str(tmp_path / "good.jpg"))], 0.25, survey, site, date, api_name="/inspect")
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(m.Survey)) == before


def test_slope_export_into_a_file_is_refused_plainly(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SLOPE_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "out.zip").write_bytes(b"an earlier export")
    assert main(["export", "--format", "yolo", str(tmp_path / "out.zip")]) == 2
    err = capsys.readouterr().err
    assert "is a file: give a folder to write the export into" in err and "Traceback" not in err
    assert (tmp_path / "out.zip").read_bytes() == b"an earlier export"  # untouched
