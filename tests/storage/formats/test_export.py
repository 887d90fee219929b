"""The export's reading of the store: reviewed labels as labelled photos, one bad label never
failing the whole export."""

from sqlalchemy import update

from storage import models as m
from storage import review as review_store
from storage.formats.export import reviewed_images
from storage.review import LabelChange
from tests.storage.helpers import save


def test_a_legacy_label_past_its_photo_is_clipped_and_an_empty_one_dropped(db, data_dir):
    image = save(db, data_dir)
    label = review_store.photo_view(db, image).labels[0]
    review_store.save_photo(db, image, "rita", [LabelChange(label.label_id, label.version, accept=True)])
    with db.write() as s:  # as an older version could have stored it
        s.execute(update(m.Label).where(m.Label.id == label.label_id).values(x1=-5, x2=9000))
    (photo,) = reviewed_images(db, data_dir)
    assert (photo.objects[0].box[0], photo.objects[0].box[2]) == (0, photo.width)
    with db.write() as s:
        s.execute(update(m.Label).where(m.Label.id == label.label_id).values(x1=9000, x2=9500))
    assert reviewed_images(db, data_dir) == []  # nothing of it left: the photo is not exported
