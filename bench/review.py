"""Latency of each review action with 100k labels in a store (SQLite), through the use cases the
Review tab calls. Target: each <= 300 ms on 2 cores.

    python bench/review.py [--labels 100000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.storage import fill, timed  # noqa: E402
from services import review, review_text  # noqa: E402
from services.review import EditorBox, Filters, LabelEdit  # noqa: E402
from storage import review as review_store  # noqa: E402
from storage.db import Database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--labels", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{folder}/bench.sqlite3")
        db.upgrade()
        fill(db, args.labels)
        n = args.repeats
        results = {
            "open queue": timed(lambda: review.start(db, Filters()), n),
            "open filtered": timed(lambda: review.start(db, Filters(survey="survey-3", object_type="toe_drain")), n),
            "counts": timed(lambda: review.counts(db, Filters()), n),
        }
        session = review.start(db, Filters())
        results["next photo"] = timed(lambda: review.next_photo(db, session), n)
        # "photo N of M": its cost grows with N (the walk stops at the photo)
        deep = review_store.photo_queue(db, limit=min(5000, args.labels // 20))[-1][0]
        deep_session = review.jump_to(db, review.start(db, Filters()), deep)
        results["place, 1st photo"] = timed(lambda: review.place(db, session), n)
        results[f"place, {min(5000, args.labels // 20)}th"] = timed(lambda: review.place(db, deep_session), n)

        def act(action):
            # each call works on the queue's current first photo, as a reviewer would
            def run():
                s = review.start(db, Filters())
                photo, label = s.photo, s.photo.labels[0]
                allowed = {"rock_toe": "damaged", "vegetation": "normal"}.get(label.object_type, "blocked")
                if action == "condition":
                    review.save(
                        db,
                        "bench",
                        photo,
                        review.as_loaded(photo),
                        edits={label.label_id: LabelEdit(label.object_type, allowed)},
                    )
                elif action == "move":
                    boxes = review.as_loaded(photo)
                    boxes[0] = EditorBox(label.label_id, (5.0, 5.0, 60.0, 60.0))
                    review.save(db, "bench", photo, boxes)
                elif action == "accept":
                    review.save(db, "bench", photo, review.as_loaded(photo), accept=(label.label_id,))
                elif action == "delete":
                    review.save(db, "bench", photo, review.as_loaded(photo), delete=(label.label_id,))
                elif action == "add box":
                    new = EditorBox(None, (1.0, 1.0, 9.0, 9.0), "toe_drain", "normal")
                    review.save(db, "bench", photo, [*review.as_loaded(photo), new])
                elif action == "save & next":
                    review.save(db, "bench", photo, review.as_loaded(photo), accept_rest=True)
                    review.next_photo(db, s)
                elif action == "undo":
                    review.save(db, "bench", photo, review.as_loaded(photo), accept=(label.label_id,))
                    review.undo_last(db, "bench", review.reload(db, s).photo)
                elif action == "undo + redo":  # the redo is what this adds to "undo"
                    review.save(db, "bench", photo, review.as_loaded(photo), accept=(label.label_id,))
                    review.undo_last(db, "bench", review.reload(db, s).photo)
                    review.redo_last(db, "bench", review.reload(db, s).photo)
                review_text.history_rows(db, photo.image_id)  # the tab shows the history after each action

            return run

        for action in ("condition", "move", "accept", "delete", "add box", "undo", "undo + redo", "save & next"):
            results[action + " (+open)"] = timed(act(action), n)
        db.dispose()
    print(f"{args.labels} labels, SQLite; median ms over {args.repeats} runs; target <= 300 ms")
    for name, ms in results.items():
        print(f"{name:<26}{ms:>8.1f}")


if __name__ == "__main__":
    main()
