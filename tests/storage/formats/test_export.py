"""The export's reading of the store: reviewed labels as labelled photos, one bad label never
failing the whole export."""

from sqlalchemy import update

from storage import models as m
from storage import review as review_store
from storage.formats.export import photos_in_review, reviewed_images
from storage.review import LabelChange
from tests.storage.helpers import save


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
