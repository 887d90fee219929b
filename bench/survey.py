"""Survey throughput against a bare ultralytics predict loop, and the app's responsiveness while a
survey runs.

    python bench/survey.py [--photos 200]

1. The same photos (real slopes photos, train then val), run one after the other:
   - bare: ``YOLO(weights).predict(path)`` per photo, the served detector's weights, nothing else;
   - survey: ``services.survey.run_survey`` into a fresh SQLite store: detection, spatial
     relations, the condition model on every object, storage for review;
   - survey again: the same photos, already inspected (resumption: nothing is inspected again).
   Printed as photos per second and as ratios to the bare loop.
2. One photo inspected by the Inspect tab's function, idle and while a survey runs in a thread
   (the app serves requests on threads): its latency either way, and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.offline import prepare_offline  # noqa: E402

prepare_offline()

from core.detector import resolve_weights  # noqa: E402
from core.pipeline import Inspector  # noqa: E402
from core.settings import PROJECT_ROOT, Settings  # noqa: E402
from services.survey import run_survey  # noqa: E402
from storage.db import Database  # noqa: E402
from ui.inspect_tab import inspect_uploads  # noqa: E402

DATA = PROJECT_ROOT.parent / "shared" / "data" / "slopes"


def photos(count: int) -> list[Path]:
    found = [p for split in ("train", "val") for p in sorted((DATA / split / "images").glob("*.jpg"))]
    return found[:count]


def bare_loop(weights: Path, paths: list[Path], imgsz: int) -> float:
    """Seconds for ultralytics' own predict over the photos, one at a time."""
    from ultralytics import YOLO

    model = YOLO(str(weights), task="detect")
    model.predict(str(paths[0]), imgsz=imgsz, verbose=False)  # warm-up
    started = time.perf_counter()
    for path in paths:
        model.predict(str(path), imgsz=imgsz, verbose=False)
    return time.perf_counter() - started


def one_inspect(inspector: Inspector, settings: Settings, path: Path) -> float:
    started = time.perf_counter()
    inspect_uploads(inspector, settings, [str(path)], settings.detector_conf)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=200)
    args = parser.parse_args()
    paths = photos(args.photos)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(data_dir=tmp)
        inspector = Inspector.from_settings(settings)
        weights = resolve_weights(settings.detector_model)
        print(f"machine: {os.cpu_count()} CPUs; {len(paths)} photos of {DATA}; models {inspector.models}")
        one_inspect(inspector, settings, paths[0])  # warm-up

        bare = bare_loop(weights, paths, inspector.detector.imgsz)
        db = Database.from_settings(settings)
        started = time.perf_counter()
        first = run_survey(db, settings, inspector, paths, "bench", "bench")
        survey = time.perf_counter() - started
        started = time.perf_counter()
        again = run_survey(db, settings, inspector, paths, "bench", "bench")
        resumed = time.perf_counter() - started
        assert again.batch.reused == first.batch.inspected, "the second run inspected photos again"

        print("\n| run | seconds | photos per second | vs bare predict |")
        print("| --- | --- | --- | --- |")
        for name, seconds in (
            (f"bare ultralytics predict ({weights.name}, detector only)", bare),
            ("survey: detect + conditions + store", survey),
            ("same survey again (all resumed)", resumed),
        ):
            print(f"| {name} | {seconds:.1f} | {len(paths) / seconds:.1f} | {bare / seconds:.2f}x |")

        idle = [one_inspect(inspector, settings, paths[i]) for i in range(5)]
        busy: list[float] = []
        done = threading.Event()

        # A fresh store, so the background survey inspects every photo rather than resuming.
        busy_settings = Settings.from_env(data_dir=str(Path(tmp) / "busy"))
        busy_db = Database.from_settings(busy_settings)

        def background() -> None:
            run_survey(busy_db, busy_settings, inspector, paths, "bench-busy", "bench")
            done.set()

        thread = threading.Thread(target=background, daemon=True)
        thread.start()
        time.sleep(1.0)
        while not done.is_set() and len(busy) < 5:
            busy.append(one_inspect(inspector, settings, paths[len(busy)]))
        thread.join()
        quiet, loaded = statistics.median(idle), statistics.median(busy)
        print(
            f"\nInspect of one photo: idle median {quiet * 1000:.0f} ms; while a survey runs median "
            f"{loaded * 1000:.0f} ms ({loaded / quiet:.1f}x, {len(busy)} requests answered during the survey)"
        )


if __name__ == "__main__":
    main()
