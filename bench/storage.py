"""Review-queue page and correction latency with 100k labels, SQLite and PostgreSQL side by side.

    python bench/storage.py [--labels 100000] [--postgres URL]

Fills a fresh database with generated images, predictions and pending labels (bulk inserts),
then times, through the repository functions the UI uses:
- a review-queue page (50 items, least certain first): the first page, page 100 by offset and by
  keyset, and a filtered page (survey + object type);
- saving one correction (relabel with version check, event row, durable commit).
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

from storage import labels as labels_store
from storage import models as m  # noqa: E402
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
                    "status": "pending",
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
    results["page_first_ms"] = timed(lambda: labels_store.review_queue(db, page=0, page_size=50), 30)
    results["page_deep_ms"] = timed(lambda: labels_store.review_queue(db, page=100, page_size=50), 30)
    deep = labels_store.review_queue(db, page=99, page_size=50)[-1]
    results["page_deep_keyset_ms"] = timed(
        lambda: labels_store.review_queue(db, after=(deep.certainty, deep.label_id), page_size=50), 30
    )
    results["page_filtered_ms"] = timed(
        lambda: labels_store.review_queue(db, survey="survey-3", object_type="toe_drain", page=2, page_size=50), 30
    )
    ids = iter(range(2, labels + 1, 96))  # slope drains: label n has type TYPES[(n - 1) % 4]
    results["correction_ms"] = timed(lambda: labels_store.relabel(db, next(ids), 1, "bench", condition="blocked"), 100)
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
    keys = ["fill_s", "page_first_ms", "page_deep_ms", "page_deep_keyset_ms", "page_filtered_ms", "correction_ms"]
    print(f"{'backend':<12}" + "".join(f"{k:>20}" for k in keys))
    for backend, values in table.items():
        print(f"{backend:<12}" + "".join(f"{values[k]:>20.1f}" for k in keys))


if __name__ == "__main__":
    main()
