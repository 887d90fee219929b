"""Review-queue and correction latency with 100k labels, SQLite and PostgreSQL side by side.

    python bench/storage.py [--labels 100000] [--postgres URL]

Fills a fresh database with generated images, predictions and pending labels (bulk inserts),
then times, through the per-photo storage functions the Review tab uses (``storage.review``):
- a queue page (50 photos, least certain first): the first page, the page after the 5,000th
  photo (keyset), and a filtered page (survey + object type); the counts above the queue;
- opening one photo with its labels;
- saving one correction (a photo's save: versioned update, event row, durable commit).
PostgreSQL defaults to the server ``.ci/services.sh`` starts.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, insert, text  # noqa: E402

from core.statuses import LabelStatus  # noqa: E402
from storage import models as m  # noqa: E402
from storage import review as review_store  # noqa: E402
from storage.db import Database  # noqa: E402

TYPES = ("rock_toe", "slope_drain", "toe_drain", "vegetation")


def fill(db: Database, labels: int, per_image: int = 10) -> None:
    rng = random.Random(0)
    images = labels // per_image
    with db.write() as s:
        s.execute(insert(m.Survey), [{"name": f"survey-{k}"} for k in range(10)])
        s.execute(
            insert(m.Image),
            [
                {
                    "sha256": f"{k:064x}",
                    "path": f"images/{k}.jpg",
                    "original_name": f"{k}.jpg",
                    "width": 640,
                    "height": 480,
                    "survey_id": 1 + k % 10,
                    "uploaded_by": "bench",
                }
                for k in range(1, images + 1)
            ],
        )
        # Each photo in its survey (the membership the filters read; ``survey_id`` is the first one).
        s.execute(insert(m.ImageSurvey), [{"image_id": k, "survey_id": 1 + k % 10} for k in range(1, images + 1)])
        s.execute(
            insert(m.Inspection),
            [
                {"image_id": k, "detector_version": "d", "condition_version": "c", "timings_ms": {}, "created_by": "b"}
                for k in range(1, images + 1)
            ],
        )
        predictions, rows = [], []
        for n in range(labels):
            image = 1 + n // per_image
            kind = TYPES[n % 4]
            margin, confidence = rng.random(), rng.uniform(0.25, 1)
            predictions.append(
                {
                    "inspection_id": image,
                    "image_id": image,
                    "x1": 1,
                    "y1": 1,
                    "x2": 50,
                    "y2": 50,
                    "object_type": kind,
                    "confidence": confidence,
                    "condition": "normal",
                    "condition_probs": {"normal": 1.0},
                    "condition_margin": margin,
                    "relations": {},
                }
            )
            rows.append(
                {
                    "image_id": image,
                    "prediction_id": n + 1,
                    "x1": 1,
                    "y1": 1,
                    "x2": 50,
                    "y2": 50,
                    "object_type": kind,
                    "condition": "normal",
                    "status": LabelStatus.PENDING,
                    "certainty": margin * confidence,
                    "author": "model",
                    "version": 1,
                }
            )
        s.execute(insert(m.Prediction), predictions)
        s.execute(insert(m.Label), rows)
    if db.is_sqlite:
        with db.engine.connect() as c:
            c.exec_driver_sql("ANALYZE")
    else:
        with db.engine.connect() as c:
            c.execute(text("ANALYZE"))
            c.commit()


def timed(fn, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def measure(db: Database, labels: int) -> dict[str, float]:
    started = time.perf_counter()
    fill(db, labels)
    results = {"fill_s": time.perf_counter() - started}
    results["page_first_ms"] = timed(lambda: review_store.photo_queue(db, limit=50), 30)
    deep = review_store.photo_queue(db, limit=min(5000, labels // 10))[-1]
    results["page_deep_keyset_ms"] = timed(lambda: review_store.photo_queue(db, after=deep[1:], limit=50), 30)
    results["page_filtered_ms"] = timed(
        lambda: review_store.photo_queue(db, survey="survey-3", object_type="toe_drain", limit=50), 30
    )
    results["counts_ms"] = timed(lambda: review_store.review_counts(db), 10)
    results["photo_ms"] = timed(lambda: review_store.photo_view(db, deep[0]), 30)
    # 100 slope drains spread over the store: label n has type TYPES[(n - 1) % 4]
    ids = iter(range(2, labels + 1, 4 * max(1, labels // 400)))

    def correct() -> None:
        label_id = next(ids)
        image_id = 1 + (label_id - 1) // 10  # ``fill`` puts 10 labels on each photo
        change = review_store.LabelChange(label_id, 1, condition="blocked")
        assert review_store.save_photo(db, image_id, "bench", [change]).changed == [label_id]

    results["correction_ms"] = timed(correct, 100)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--labels", type=int, default=100_000)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:54329/postgres")
    args = parser.parse_args()

    table = {}
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{folder}/bench.sqlite3")
        db.upgrade()
        table["sqlite"] = measure(db, args.labels)
        db.dispose()
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        print(f"PostgreSQL skipped: {str(exc).splitlines()[0]}")
    else:
        db = Database(args.postgres.rsplit("/", 1)[0] + f"/{name}")
        db.upgrade()
        table["postgresql"] = measure(db, args.labels)
        db.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    print(f"{args.labels} labels; medians (ms); targets: page <= 50 ms, correction <= 20 ms")
    keys = list(next(iter(table.values())))
    print(f"{'backend':<12}" + "".join(f"{k:>20}" for k in keys))
    for backend, values in table.items():
        print(f"{backend:<12}" + "".join(f"{values[k]:>20.1f}" for k in keys))


if __name__ == "__main__":
    main()
