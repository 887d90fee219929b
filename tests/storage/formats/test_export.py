"""The export's reading of the store: reviewed labels as labelled photos, one bad label never
failing the whole export."""

import json
import shutil

import numpy as np
import yaml
from PIL import Image
from sqlalchemy import update

from storage import models as m
from storage import review as review_store
from storage.formats.export import export, photos_in_review, reviewed_images
from storage.formats.yolo_import import import_yolo_folder
from storage.review import LabelChange
from tests.conftest import VAL_IMAGES
from tests.storage.helpers import save
from training.data.dataset import from_yolo_folder


def test_a_legacy_label_past_its_photo_is_clipped_and_an_empty_one_dropped(db, data_dir):
    image = save(db, data_dir)
    label = review_store.photo_view(db, image).labels[0]
    review_store.save_photo(db, image, "rita", [LabelChange(label.label_id, label.version, accept=True)])
    with db.write() as s:  # as an older version could have stored it
        s.execute(update(m.Label).where(m.Label.id == label.label_id).values(x1=-5, x2=9000))
    (photo,) = reviewed_images(db, data_dir, whole_photos=False)
    assert (photo.objects[0].box[0], photo.objects[0].box[2]) == (0, photo.width)
    with db.write() as s:
        s.execute(update(m.Label).where(m.Label.id == label.label_id).values(x1=9000, x2=9500))
    assert reviewed_images(db, data_dir, whole_photos=False) == []  # nothing of it left: the photo is not exported


def test_box_data_takes_only_photos_a_person_finished(db, data_dir):
    """A photo reviewed for one type only (Save & next under a type filter leaves the others
    pending) must not reach a detector with its other objects as background."""
    image = save(db, data_dir)
    labels = review_store.photo_view(db, image).labels
    accept = [LabelChange(label.label_id, label.version, accept=True) for label in labels]
    review_store.save_photo(db, image, "rita", accept[:1])
    assert reviewed_images(db, data_dir, whole_photos=True) == []
    assert photos_in_review(db) == photos_in_review(db, "north") == 1 and photos_in_review(db, "south") == 0
    (photo,) = reviewed_images(db, data_dir, whole_photos=False)  # its reviewed object's crop is still judged
    assert len(photo.objects) == 1
    review_store.save_photo(db, image, "rita", accept[1:])
    (photo,) = reviewed_images(db, data_dir, whole_photos=True)
    assert len(photo.objects) == len(labels) and photos_in_review(db) == 0


def test_a_photo_a_person_left_with_nothing_on_it_is_exported_as_background(db, data_dir, tmp_path):
    """A photo whose every model box a reviewer deleted, or imported with an empty label file,
    shows a detector what is not an object; a photo nobody opened is no such evidence."""
    cleared, unopened = save(db, data_dir, b"photo-1"), save(db, data_dir, b"photo-2")
    labels = review_store.photo_view(db, cleared).labels
    review_store.save_photo(db, cleared, "rita", [LabelChange(x.label_id, x.version, delete=True) for x in labels])
    assert review_store.photo_view(db, unopened).labels  # the model's boxes, pending: nobody opened it
    folder = tmp_path / "imported" / "train"
    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    (folder.parent / "data.yaml").write_text("names: [rock_toe, slope_drain, toe_drain, vegetation]\n")
    shutil.copyfile(VAL_IMAGES[0], folder / "images" / "empty.jpg")
    (folder / "labels" / "empty.txt").write_text("")
    import_yolo_folder(db, data_dir, folder.parent, by="rita")

    photos = reviewed_images(db, data_dir, whole_photos=True)
    assert [photo.objects for photo in photos] == [(), ()]
    assert (photos[1].width, photos[1].height) == Image.open(VAL_IMAGES[0]).size  # the imported one, after
    assert reviewed_images(db, data_dir, whole_photos=False) == []  # no object: no condition crop
    counts = export(db, data_dir, "yolo", tmp_path / "out")
    assert counts["images"] == 2
    assert sorted(p.read_text() for p in (tmp_path / "out").rglob("labels/*.txt")) == ["", ""]
    assert "path" not in yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())  # ultralytics: cwd-relative


def test_a_roboflow_valid_split_is_the_val_split(db, data_dir, tmp_path):
    folder = tmp_path / "roboflow"
    for split in ("train", "valid"):
        (folder / split / "images").mkdir(parents=True)
        (folder / split / "labels").mkdir()
    (folder / "data.yaml").write_text("names: [rock_toe, slope_drain, toe_drain, vegetation]\n")
    for k, split in enumerate(("train", "valid")):
        shutil.copyfile(VAL_IMAGES[k], folder / split / "images" / f"{k}.jpg")
        (folder / split / "labels" / f"{k}.txt").write_text("3 0.5 0.5 0.2 0.2\n")
    assert {photo.split for photo in from_yolo_folder(folder)} == {"train", "val"}
    assert len(from_yolo_folder(folder, "val")) == 1
    report = import_yolo_folder(db, data_dir, folder, by="rita")
    assert report.per_split == {"train": 1, "val": 1}
    photos = reviewed_images(db, data_dir, whole_photos=True)
    assert sorted(photo.split for photo in photos) == ["train", "val"]
    # vegetation has one allowed condition: a 4-class folder's vegetation is normal, not unknown
    assert {o.condition for photo in photos for o in photo.objects} == {"normal"}


def test_a_photo_stored_sideways_is_exported_upright_as_its_boxes_are(db, data_dir, tmp_path):
    """COCO tools and torchvision read a file's pixels as stored: a photo kept sideways with an
    EXIF orientation tag would have the export's upright boxes on the wrong spot."""
    upright = Image.open(VAL_IMAGES[0]).convert("RGB").crop((0, 0, 312, 240))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned a quarter: a viewer turns it back upright
    folder = tmp_path / "sideways" / "train"
    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    (folder.parent / "data.yaml").write_text("names: [rock_toe, slope_drain, toe_drain, vegetation]\n")
    upright.transpose(Image.Transpose.ROTATE_90).save(folder / "images" / "turned.jpg", exif=exif, quality=95)
    (folder / "labels" / "turned.txt").write_text("0 0.25 0.5 0.3 0.4\n")  # in the upright frame, as labelled
    import_yolo_folder(db, data_dir, folder.parent, by="rita")

    export(db, data_dir, "coco", tmp_path / "coco")
    (document,) = [json.loads(p.read_text()) for p in (tmp_path / "coco").rglob("*.json")]
    (entry,) = document["images"]
    (annotation,) = document["annotations"]
    with Image.open(next((tmp_path / "coco").rglob(entry["file_name"]))) as exported:
        assert exported.size == (entry["width"], entry["height"]) == (312, 240)
        assert exported.getexif().get(0x0112, 1) == 1
        x, y, w, h = (round(v) for v in annotation["bbox"])
        shown = np.asarray(exported.convert("RGB"), dtype=float)[y : y + h, x : x + w]
    assert np.abs(shown - np.asarray(upright, dtype=float)[y : y + h, x : x + w]).mean() < 8  # the same pixels
