"""What the probe baseline's features would cost at serving, against the condition model.

    python bench/probe_cost.py [--photos N] [--repeats N]

The probe (``training/baselines/probe.py``) beats the served condition model in cross-validation; serving
it beside the model would add, per object, EfficientNet-Lite0 features of a tight and a wide crop.
This times, on the same objects of the first condition photos, the served model's scoring (all
crops in one batched pass, as the app does) and the probe's features at its crop size (and at
the backbone's native 224 px for comparison), per object, median over the repeats, and prints
each as a ratio to the model's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

from core.conditions import ConditionModel, condition_prompt  # noqa: E402
from core.settings import MODELS_DIR, PROJECT_ROOT  # noqa: E402
from training.backbone import INPUT_SIZE, CropFeatures  # noqa: E402
from training.baselines.probe import CROP_SIZE, probe_objects  # noqa: E402
from training.data.dataset import from_yolo_folder  # noqa: E402

CONDITIONS_DATA = PROJECT_ROOT.parent / "shared" / "data" / "slope-conditions"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    objects = list(probe_objects(from_yolo_folder(CONDITIONS_DATA, "train")[: args.photos]))
    model = ConditionModel(str(MODELS_DIR / "condition"))
    crops = [Image.fromarray(item.views[0]) for item in objects]  # near the model's own crop (margin 0.15)
    prompts = [condition_prompt(item.object_type, item.where.describe()) for item in objects]
    views = [view for item in objects for view in item.views]

    def features_at(size: int):
        features = CropFeatures(size)

        def run() -> None:
            features._seen.clear()  # it remembers crops; serving would meet each crop once
            features(views)

        return run

    timed = {
        "condition model (served), one batched pass": lambda: model.answer_logits(crops, prompts),
        f"probe features: tight + wide crop at {CROP_SIZE} px (as fitted)": features_at(CROP_SIZE),
        f"probe features: tight + wide crop at {INPUT_SIZE} px": features_at(INPUT_SIZE),
    }
    seconds: dict[str, list[float]] = {name: [] for name in timed}
    for run in timed.values():
        run()  # warm-up
    for _ in range(args.repeats):
        for name, run in timed.items():  # interleaved, so a busy machine slows each alike
            started = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - started)

    print(f"{len(objects)} objects of {args.photos} condition photos, median of {args.repeats} runs")
    print("| what | ms per object | ratio to the model |")
    print("| --- | --- | --- |")
    base = statistics.median(seconds[next(iter(timed))])
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"| {name} | {1000 * median / len(objects):.1f} | {median / base:.1f}x |")


if __name__ == "__main__":
    main()
