"""Teaching views: the same pixels for the student and the teacher, the teacher's answers as
targets over the conditions a type allows, objects nobody labelled included."""

import numpy as np
import pytest

from core.conditions import crop_with_margin
from core.taxonomy import ALLOWED_CONDITIONS, CONDITIONS
from core.types import LabelledPhoto
from tests.conftest import DATA_DIR
from tests.training.conftest import CONDITIONS_DATA
from training.baselines.cnn import CnnSettings, FineTunedCnnBaseline
from training.baselines.probe import probe_objects
from training.condition.teacher import BOX_SCALE, BOX_SHIFT, Look, moved_box, teaching_examples
from training.data.dataset import from_yolo_folder
from training.data.examples import objects_with_a_choice


@pytest.fixture(scope="module")
def teacher_and_photos() -> tuple[FineTunedCnnBaseline, list[LabelledPhoto], list[LabelledPhoto]]:
    labelled = from_yolo_folder(CONDITIONS_DATA, "train")[:4]
    unlabelled = [p for p in from_yolo_folder(DATA_DIR, "val")[:6] if p.name not in {q.name for q in labelled}][:2]
    return FineTunedCnnBaseline(CnnSettings(epochs=1)).fit(labelled), labelled, unlabelled


def test_every_object_is_taught_in_views_answered_by_the_teacher(teacher_and_photos):
    teacher, labelled, unlabelled = teacher_and_photos
    photos = labelled[:2] + unlabelled
    objects = list(objects_with_a_choice(photos))
    assert any(o[1].condition is None for o in objects)  # the photos without condition labels count too
    examples = teaching_examples(teacher, photos, margin=0.15, views=3)
    assert len(examples) == 3 * len(objects)
    for example in examples:
        target = np.array(example.target)
        assert target.sum() == pytest.approx(1.0)
        allowed = [c in ALLOWED_CONDITIONS[example.object_type] for c in CONDITIONS]
        assert (target[~np.array(allowed)] == 0).all()  # nothing on a condition the type does not allow
        assert example.condition == CONDITIONS[int(target.argmax())]
    # The first view is the object as boxed, cropped as the app crops it, and its target is the
    # teacher's answer on that very object.
    image, first, _ = objects[0]
    assert np.array_equal(np.asarray(examples[0].crop), np.asarray(crop_with_margin(image, first.box, 0.15)))
    probe = next(probe_objects(labelled[:1]))
    answer = teacher.probabilities([probe])[0]
    allowed = np.array([c in ALLOWED_CONDITIONS[probe.object_type] for c in CONDITIONS])
    assert np.array(examples[0].target) == pytest.approx(np.where(allowed, answer, 0) / answer[allowed].sum(), abs=1e-5)
    # The other views differ from it.
    assert len({e.crop.tobytes() for e in examples[:3]}) == 3


def test_a_view_changes_student_and_teacher_alike_and_stays_on_the_photo():
    pixels = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    look = Look(mirror=True, gain=1.0, shift=0.0)
    assert np.array_equal(look.apply(pixels), pixels[:, ::-1])
    assert Look(gain=2.0, shift=200).apply(pixels).max() == 255  # clipped, not wrapped
    rng = np.random.default_rng(0)
    for _ in range(200):
        x1, y1, x2, y2 = moved_box((90, 40, 110, 80), (120, 100), rng)
        assert 0 <= x1 < x2 <= 120 and 0 <= y1 < y2 <= 100
        assert abs((x1 + x2) / 2 - 100) <= BOX_SHIFT * 20 + BOX_SCALE[1] * 10  # near the object


def test_views_must_be_asked_for(teacher_and_photos):
    teacher, labelled, _ = teacher_and_photos
    with pytest.raises(ValueError, match="views must be at least 1"):
        teaching_examples(teacher, labelled, margin=0.15, views=0)
