"""Pipeline latency by stage, and one-pass label scoring against per-crop free generation.

    python bench/pipeline.py [--photos N] [--generation-crops N]

1. Median per-photo latency (detect, relate, classify, total) over the val photos with the
   shipped default models, after one warm-up photo; resident memory after the run.
2. On the same crops and the same model: our scoring (all crops of a photo in one batched
   forward pass) against the seed's approach (free generation, max_new_tokens=50, one crop at a
   time), printed as a ratio: once as generation runs (our model stops after its one-word answer)
   and once forced to 50 new tokens (the length of the seed model's sentence answers).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.offline import prepare_offline  # noqa: E402

prepare_offline()

import psutil  # noqa: E402
import torch  # noqa: E402

from core.conditions import crop_with_margin, describe_prompt  # noqa: E402
from core.images import load_image  # noqa: E402
from core.pipeline import Inspector  # noqa: E402
from core.settings import PROJECT_ROOT, Settings  # noqa: E402
from core.taxonomy import ALLOWED_CONDITIONS  # noqa: E402

VAL = PROJECT_ROOT.parent / "shared" / "data" / "slopes" / "val" / "images"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=45)
    parser.add_argument("--generation-crops", type=int, default=40)
    args = parser.parse_args()

    settings = Settings.from_env()
    started = time.perf_counter()
    inspector = Inspector.from_settings(settings)
    load_s = time.perf_counter() - started
    photos = [load_image(p) for p in sorted(VAL.glob("*.jpg"))[: args.photos]]
    print(
        f"machine: {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}; models "
        f"{inspector.models}; load {load_s:.1f} s"
    )

    inspector.inspect(photos[0])  # warm-up
    stages: dict[str, list[float]] = {}
    inspections = []
    for image in photos:
        inspection = inspector.inspect(image)
        inspections.append((image, inspection))
        for stage, ms in inspection.timings_ms.items():
            stages.setdefault(stage, []).append(ms)
    objects = [len(i.findings) for _, i in inspections]
    print(
        f"\n{len(photos)} val photos, {statistics.mean(objects):.1f} objects per photo (median "
        f"{statistics.median(objects):.0f})"
    )
    print(f"{'stage':<10}{'median ms':>12}{'p90 ms':>10}")
    for stage, values in stages.items():
        values = sorted(values)
        print(f"{stage:<10}{statistics.median(values):>12.1f}{values[int(0.9 * (len(values) - 1))]:>10.1f}")
    print(f"resident memory: {psutil.Process().memory_info().rss / 2**20:.0f} MiB")

    # The same crops for both methods: every scored (non-vegetation) finding.
    model = inspector.condition_model
    per_photo = []
    for image, inspection in inspections:
        scored = [f for f in inspection.findings if len(ALLOWED_CONDITIONS[f.object_type]) > 1]
        if scored:
            per_photo.append((image, scored))
    crops_total = sum(len(s) for _, s in per_photo)

    started = time.perf_counter()
    for image, scored in per_photo:
        model.classify(
            image,
            [f.box_xyxy for f in scored],
            [f.object_type for f in scored],
            [f.context.describe() for f in scored],
        )
    scoring_ms = (time.perf_counter() - started) * 1000 / crops_total

    sample = [(image, f) for image, scored in per_photo for f in scored][: args.generation_crops]
    crops = [(crop_with_margin(image, f.box_xyxy, model.crop_margin), f) for image, f in sample]
    print(
        f"\nlabel scoring on {crops_total} crops (median crop "
        f"{statistics.median(c.width * c.height for c, _ in crops):.0f} px before resizing):"
    )
    print(f"  ours, one batched forward pass per photo: {scoring_ms:8.1f} ms per crop")
    # The seed's way: free generation, one crop at a time, max_new_tokens=50. Our trained model
    # answers in one word and stops; a chatty model (as the seed's) writes a sentence: both timed.
    for label, min_tokens in (("stops at its end token", 0), ("forced to 50 new tokens", 50)):
        tokenizer = model.processor.tokenizer
        tokens, started = [], time.perf_counter()
        for crop, f in crops:
            text = model.generate_text(crop, describe_prompt(f.object_type, f.context.describe()), 50, min_tokens)
            tokens.append(len(tokenizer.encode(text, add_special_tokens=False)))
        generation_ms = (time.perf_counter() - started) * 1000 / len(crops)
        print(
            f"  free generation, 1 crop at a time, max_new_tokens=50, {label} ({len(crops)} crops, "
            f"{statistics.mean(tokens):.1f} text tokens on average): {generation_ms:8.1f} ms per crop, "
            f"{generation_ms / scoring_ms:.1f}x ours"
        )


if __name__ == "__main__":
    main()
