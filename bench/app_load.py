"""The web path against the models: how much the app adds to an inspection, alone and under load.

    python bench/app_load.py [--users 8] [--each 5] [--sequential 10] [--max-seconds 600]

Starts the app in this process on loopback (a fresh store, one account, the login as ``app.py``
sets it up), then, on the 45 val photos of ``../shared/data/slopes`` taken in turn:

1. the models alone (``Inspector.inspect`` on decoded photos, one after the other): ms per photo
   and photos/s, the baseline of every ratio;
2. one photo per request through ``gradio_client``, one request after the other: ms per request,
   and its ratio to the models' time for a photo;
3. ``--users`` clients at once, each sending ``--each`` single-photo requests: photos/s (and its
   ratio to the models alone), p50 and p95 of a request; beside them a reviewer opening the review
   queue over and over, p50 and p95 of that, against the same with nothing else running;
4. a zip of 45 train photos (none sent before) in one request, its answers as they stream: seconds to the first answer
   that shows a photo, to the one that shows every photo, and to the one with the reports.

Every request has a timeout and the run stops at ``--max-seconds``; requests that fail are counted
and said. The clients do not download the answers' files (drawings, reports), as a browser shows
a drawing once and fetches a report only when asked; ``gradio_client`` would fetch every file of
every answer, a streamed answer's drawings again at each answer. No figure is compared with a
threshold here: the note reads them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.offline import prepare_offline  # noqa: E402

prepare_offline()

from gradio_client import Client, handle_file  # noqa: E402

from app import build_app, launch  # noqa: E402
from core.images import load_image  # noqa: E402
from core.settings import PROJECT_ROOT, Settings  # noqa: E402
from lifecycle.server import ModelServer, register_configured_models  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.users import add_user  # noqa: E402
from ui.web_guard import login_check  # noqa: E402

SLOPES = PROJECT_ROOT.parent / "shared" / "data" / "slopes"
PHOTOS = sorted((SLOPES / "val" / "images").glob("*.jpg"))
# The zip's photos: 45 the other measurements never sent (a stored result would be shown, not made).
SURVEY = sorted((SLOPES / "train" / "images").glob("*.jpg"))[: len(PHOTOS)]
ACCOUNT = ("bench", "bench-password-1")
REVIEWER = ("bench-reviewer", "bench-password-2")


def models_alone(server: ModelServer) -> float:
    """Seconds per photo of the served models on decoded photos (after one warm-up)."""
    inspector = server.inspector()
    images = [load_image(p) for p in PHOTOS]
    inspector.inspect(images[0])
    started = time.perf_counter()
    for image in images:
        inspector.inspect(image)
    return (time.perf_counter() - started) / len(images)


def inspect_once(client: Client, photo: Path) -> float:
    started = time.perf_counter()
    client.predict([handle_file(str(photo))], 0.25, "", "", "", api_name="/inspect")
    return time.perf_counter() - started


def sequential(url: str, count: int) -> list[float]:
    client = Client(url, auth=ACCOUNT, verbose=False, download_files=False)
    inspect_once(client, PHOTOS[0])  # warm-up
    return [inspect_once(client, PHOTOS[i % len(PHOTOS)]) for i in range(count)]


def open_queue(client: Client) -> float:
    started = time.perf_counter()
    client.predict(api_name="/review_open")  # every filter at its default: the photos to review
    return time.perf_counter() - started


def reviewing(url: str, until: threading.Event, times: list[float]) -> threading.Thread:
    """A reviewer opening the review queue again and again until ``until`` is set."""
    client = Client(url, auth=REVIEWER, verbose=False, download_files=False)

    def loop() -> None:
        while not until.is_set():
            times.append(open_queue(client))

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def concurrent(
    url: str, users: int, each: int, deadline: float, review_times: list[float]
) -> tuple[list[float], int, float]:
    """(request times, failures, wall seconds) of ``users`` clients sending ``each`` requests,
    while a reviewer opens the review queue (its times into ``review_times``)."""
    times: list[float] = []
    failures = [0]
    lock = threading.Lock()
    clients = [Client(url, auth=ACCOUNT, verbose=False, download_files=False) for _ in range(users)]
    done = threading.Event()
    reviewer = reviewing(url, done, review_times)

    def user(k: int) -> None:
        for n in range(each):
            if time.monotonic() > deadline:
                return
            try:
                took = inspect_once(clients[k], PHOTOS[(k * each + n) % len(PHOTOS)])
            except Exception:  # counted: a bench reports failures, it does not stop on them
                with lock:
                    failures[0] += 1
                continue
            with lock:
                times.append(took)

    threads = [threading.Thread(target=user, args=(k,), daemon=True) for k in range(users)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    wall = time.perf_counter() - started
    done.set()
    reviewer.join(timeout=30)
    return times, failures[0], wall


def zip_stream(url: str, folder: Path) -> tuple[float | None, float | None, float | None, int]:
    """(first photo shown, every photo shown, reports given) in seconds from the request, and the
    number of answers, for a zip of the ``SURVEY`` photos."""
    import zipfile

    survey = folder / "survey.zip"
    with zipfile.ZipFile(survey, "w") as archive:
        for photo in SURVEY:
            archive.write(photo, photo.name)
    client = Client(url, auth=ACCOUNT, verbose=False, download_files=False)
    started = time.perf_counter()
    first = every = reports = None
    answers = 0
    job = client.submit([handle_file(str(survey))], 0.25, "", "", "", api_name="/inspect")

    def seen(answer: tuple) -> None:
        nonlocal first, every, reports, answers
        gallery, csv_file, took = answer[0], answer[3], time.perf_counter() - started
        answers += 1
        if gallery and first is None:
            first = took
        if gallery and len(gallery) == len(SURVEY) and every is None:
            every = took
        if csv_file and reports is None:
            reports = took

    for answer in job:  # a streamed answer, as it comes
        seen(answer)
    if not answers:  # an endpoint that answers once
        seen(job.result())
    return first, every, reports, answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--each", type=int, default=5, help="single-photo requests per user")
    parser.add_argument("--sequential", type=int, default=10, help="requests one after the other")
    parser.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args()
    deadline = time.monotonic() + args.max_seconds

    with tempfile.TemporaryDirectory(prefix="app-load-") as work:
        settings = Settings.from_env(data_dir=str(Path(work) / "data"))  # SLOPE_INSPECT_CONCURRENCY too
        db = Database.from_settings(settings)
        register_configured_models(db, settings)
        add_user(db, ACCOUNT[0], "inspector", ACCOUNT[1])
        add_user(db, REVIEWER[0], "reviewer", REVIEWER[1])
        server = ModelServer(settings, db)
        per_photo = models_alone(server)
        demo = build_app(settings, server, db)
        launch(demo, settings, auth=login_check(db), prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
        try:
            one = sequential(demo.local_url, args.sequential)
            reviewer = Client(demo.local_url, auth=REVIEWER, verbose=False, download_files=False)
            review_idle = [open_queue(reviewer) for _ in range(10)]
            review_busy: list[float] = []
            times, failed, wall = concurrent(demo.local_url, args.users, args.each, deadline, review_busy)
            first, every, reports, answers = zip_stream(demo.local_url, Path(work))
        finally:
            demo.close()

    print(f"models alone: {1000 * per_photo:.0f} ms a photo, {1 / per_photo:.1f} photos/s ({len(PHOTOS)} val photos)")
    median = statistics.median(one)
    print(
        f"one photo per request, {len(one)} in a row: median {1000 * median:.0f} ms "
        f"({median / per_photo:.1f}x the models' {1000 * per_photo:.0f} ms)"
    )
    if times:
        rate = len(times) / wall
        cuts = statistics.quantiles(times, n=20) if len(times) > 1 else [times[0]] * 19
        print(
            f"{args.users} users x {args.each}: {rate:.1f} photos/s ({rate * per_photo:.2f}x the models alone), "
            f"p50 {1000 * statistics.median(times):.0f} ms, p95 {1000 * cuts[18]:.0f} ms, {failed} failed"
        )
    else:
        print(f"{args.users} users x {args.each}: no request finished ({failed} failed)")

    if review_busy:
        busy, idle = statistics.median(review_busy), statistics.median(review_idle)
        print(
            f"a reviewer opening the queue: median {1000 * idle:.0f} ms alone, {1000 * busy:.0f} ms beside the "
            f"{args.users} users ({busy / idle:.1f}x; {len(review_busy)} opened, "
            f"the slowest {1000 * max(review_busy):.0f} ms)"
        )

    def seconds(value: float | None) -> str:
        return f"{value:.1f} s" if value is not None else "never"

    print(
        f"a zip of {len(SURVEY)} photos, {answers} answers: first photo shown after {seconds(first)}, every photo "
        f"after {seconds(every)}, the reports after {seconds(reports)}"
    )


if __name__ == "__main__":
    main()
