"""The labels' fingerprint: what tells a view built from every label that it must be rebuilt."""

from storage import labels as labels_store
from storage import review as review_store
from storage.review import LabelChange
from tests.storage.helpers import save


def test_the_labels_fingerprint_changes_with_every_label_change_and_only_then(db, data_dir):
    empty = labels_store.labels_fingerprint(db)
    image = save(db, data_dir)
    saved = labels_store.labels_fingerprint(db)
    assert saved != empty and labels_store.labels_fingerprint(db) == saved
    label = review_store.photo_view(db, image).labels[0]
    review_store.save_photo(db, image, "rita", [LabelChange(label.label_id, label.version, condition="damaged")])
    assert labels_store.labels_fingerprint(db) != saved
