"""Cross-validation run in parts (one process per fold on a GPU machine) joins into one report."""

from __future__ import annotations

import pytest

from core.settings import MODELS_DIR
from tests.training.conftest import CONDITIONS_DATA
from training.data.dataset import from_yolo_folder
from training.eval.crossval import CrossValReport, crossval_condition


def _run(photos, only_folds=None):
    parent = str(MODELS_DIR / "condition")
    return crossval_condition(photos, parent, "six photos", 3, None, log=lambda _: None, only_folds=only_folds)


def test_folds_run_apart_join_into_the_report_of_one_run():
    photos = from_yolo_folder(CONDITIONS_DATA, "train")[:6]
    whole = _run(photos)
    parts = [_run(photos, {2}).to_dict(), _run(photos, {0, 1}).to_dict()]
    assert [f.fold for f in CrossValReport.joined(parts).folds] == [0, 1, 2]
    assert CrossValReport.joined(parts).summary() == whole.summary()

    with pytest.raises(ValueError, match="more than one part"):
        CrossValReport.joined([parts[0], parts[0]])
    other = parts[1] | {"method": "full"}
    with pytest.raises(ValueError, match="not folds of one cross-validation"):
        CrossValReport.joined([parts[0], other])
    with pytest.raises(ValueError, match="not folds of one cross-validation"):
        CrossValReport.joined([])
