"""The web path against the models: how much the app adds to an inspection, alone and under load.

    python bench/app_load.py [--users 8] [--each 5] [--sequential 10] [--replicas 1,2] [--max-seconds 600]

Serves the app as ``python app.py`` does, in its own process on loopback (a fresh store with an
inspector's and a reviewer's account, so the real login), and talks to it as its page does
(``bench/web_client.py``: kept-alive connections, the event stream read as it comes). The clients
share the machine's cores with the server, as the earlier figures did. Every request sends a photo
the app has not seen (a stored result would be shown, not made): the val photos, then train
photos, each used once.

1. the models alone (``Inspector.inspect`` on decoded photos, one after the other): ms per photo
   and photos/s, the baseline of every ratio;
2. Gradio's own cost: an endpoint that does nothing, in a small app in the bench's process,
   called one after the other, through the page's protocol and through ``gradio_client``;
3. one photo per request, one request after the other: ms from sending the photo to the answer
   that shows it and to the one with its reports, and their ratios to the models' time for a
   photo; the same through ``gradio_client`` beside it (what the earlier figures were taken with:
   its reader polls every 50 ms);
4. ``--users`` clients at once, each sending ``--each`` single-photo requests: photos/s (and its
   ratio to the models alone), p50 and p95 of a request (shown, and with its reports); beside
   them a reviewer opening the review queue every half second, p50 and p95 of that, against the
   same with nothing else running;
5. a zip of 45 train photos in one request, its answers as they stream: seconds to the first
   answer that shows a photo, to the one that shows every photo, and to the one with the reports;
6. step 4 again for each other count in ``--replicas``, served as ``deploy/replicas.sh COUNT``
   serves it: that many app processes on this machine and one store, each with cores / COUNT model
   threads, behind HAProxy at one address, which gives each new user a replica in turn and keeps
   them there (needs Debian's ``haproxy``).

Every request has a timeout and the run stops at ``--max-seconds``; requests that fail are counted
and said. The clients do not download the answers' files (drawings, reports), as a browser shows
a drawing once and fetches a report only when asked. No figure is compared with a threshold here:
the note reads them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.offline import prepare_offline  # noqa: E402

prepare_offline()

import gradio as gr  # noqa: E402
import httpx  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402

from bench.web_client import WebClient, free_ports  # noqa: E402
from core.images import load_image  # noqa: E402
from core.settings import PROJECT_ROOT, Settings  # noqa: E402
from lifecycle.server import ModelServer, register_configured_models  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.users import add_user  # noqa: E402

SLOPES = PROJECT_ROOT.parent / "shared" / "data" / "slopes"
PHOTOS = sorted((SLOPES / "val" / "images").glob("*.jpg"))
TRAIN = sorted((SLOPES / "train" / "images").glob("*.jpg"))
SURVEY = TRAIN[: len(PHOTOS)]  # the zip's photos
ACCOUNT = ("bench", "bench-password-1")
REVIEWER = ("bench-reviewer", "bench-password-2")


class Photos:
    """Photos never sent before, one at a time, from any thread: the val photos, then the train
    photos the zip does not use."""

    def __init__(self) -> None:
        self._left = iter([*PHOTOS, *TRAIN[len(SURVEY) :]])
        self._lock = threading.Lock()

    def next(self) -> Path:
        with self._lock:
            return next(self._left)


def models_alone(server: ModelServer) -> float:
    """Seconds per photo of the served models on decoded photos (after one warm-up)."""
    inspector = server.inspector()
    images = [load_image(p) for p in PHOTOS]
    inspector.inspect(images[0])
    started = time.perf_counter()
    for image in images:
        inspector.inspect(image)
    return (time.perf_counter() - started) / len(images)


def gradio_floor(count: int = 20) -> tuple[float, float]:
    """Median seconds of an endpoint that does nothing (after two warm-ups), through the page's
    protocol and through gradio_client."""
    with gr.Blocks() as noop:
        text = gr.Textbox()
        gr.Button().click(lambda x: x, text, text, api_name="noop")
    noop.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        web, script = WebClient(noop.local_url), Client(noop.local_url, verbose=False, download_files=False)
        times = {"web": [], "script": []}
        calls = {"web": lambda: web.call("noop", "a"), "script": lambda: script.predict("a", api_name="/noop")}
        for _ in range(count + 2):
            for name, call in calls.items():
                started = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - started)
        web.close()
    finally:
        noop.close()
    return statistics.median(times["web"][2:]), statistics.median(times["script"][2:])


def inspect_once(client: WebClient, photo: Path) -> tuple[float, float]:
    """Seconds from sending the photo to the first answer that shows it, and to the last answer
    (its reports)."""
    started = time.perf_counter()
    shown = None
    for gallery, *_ in client.answers("inspect", [client.upload(photo)], 0.25, "", "", ""):
        if gallery and shown is None:
            shown = time.perf_counter() - started
    done = time.perf_counter() - started
    return shown if shown is not None else done, done


def inspect_by_script(client: Client, photo: Path) -> float:
    started = time.perf_counter()
    client.predict([handle_file(str(photo))], 0.25, "", "", "", api_name="/inspect")
    return time.perf_counter() - started


def sequential(
    url: str, count: int, photos: Photos, by_script: bool = True
) -> tuple[list[tuple[float, float]], list[float]]:
    """Seconds of ``count`` single-photo requests in a row through the page's protocol, and of
    as many through gradio_client (``by_script``), taken in turn (after a warm-up of each)."""
    web = WebClient(url, auth=ACCOUNT)
    script = Client(url, auth=ACCOUNT, verbose=False, download_files=False) if by_script else None
    inspect_once(web, photos.next())
    web_times, script_times = [], []
    if script is not None:
        inspect_by_script(script, photos.next())
    for _ in range(count):
        web_times.append(inspect_once(web, photos.next()))
        if script is not None:
            script_times.append(inspect_by_script(script, photos.next()))
    web.close()
    return web_times, script_times


def open_queue(client: WebClient) -> float:
    started = time.perf_counter()
    client.call("review_open")  # every filter at its default: the photos to review
    return time.perf_counter() - started


def reviewing(url: str, until: threading.Event, times: list[float], pause_s: float = 0.5) -> threading.Thread:
    """A reviewer opening the review queue, then again ``pause_s`` after each answer, until
    ``until`` is set (a person reads before the next click; back to back, this client alone
    would keep a core busy)."""
    client = WebClient(url, auth=REVIEWER)

    def loop() -> None:
        while not until.wait(pause_s):
            times.append(open_queue(client))

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def concurrent(
    url: str, users: int, each: int, deadline: float, review_times: list[float], photos: Photos
) -> tuple[list[tuple[float, float]], int, float]:
    """((shown, answered) seconds of each request, failures, wall seconds) of ``users`` clients
    sending ``each`` requests, while a reviewer opens the review queue (its times into
    ``review_times``)."""
    times: list[tuple[float, float]] = []
    failures = [0]
    lock = threading.Lock()
    clients = [WebClient(url, auth=ACCOUNT) for _ in range(users)]
    done = threading.Event()
    reviewer = reviewing(url, done, review_times)

    def user(k: int) -> None:
        for _ in range(each):
            if time.monotonic() > deadline:
                return
            try:
                took = inspect_once(clients[k], photos.next())
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


def users_step(
    url: str, args: argparse.Namespace, deadline: float, photos: Photos
) -> tuple[list[tuple[float, float]], int, float, list[float]]:
    """``concurrent`` with the reviewer's times after its own figures."""
    review_busy: list[float] = []
    return (*concurrent(url, args.users, args.each, deadline, review_busy, photos), review_busy)


def zip_stream(url: str, folder: Path) -> tuple[float | None, float | None, float | None, int]:
    """(first photo shown, every photo shown, reports given) in seconds from the request, and the
    number of answers, for a zip of the ``SURVEY`` photos."""
    import zipfile

    survey = folder / "survey.zip"
    with zipfile.ZipFile(survey, "w") as archive:
        for photo in SURVEY:
            archive.write(photo, photo.name)
    client = WebClient(url, auth=ACCOUNT)
    started = time.perf_counter()
    first = every = reports = None
    answers = 0
    for gallery, _summary, _table, csv_file, *_ in client.answers("inspect", [client.upload(survey)], 0.25, "", "", ""):
        took = time.perf_counter() - started
        answers += 1
        if gallery and first is None:
            first = took
        if gallery and len(gallery) == len(SURVEY) and every is None:
            every = took
        if csv_file and reports is None:
            reports = took
    client.close()
    return first, every, reports, answers


def serve_app(env: dict[str, str], log: Path) -> tuple[str, subprocess.Popen]:
    """``python app.py`` on a free loopback port, as it is served: its own process, its own
    interpreter lock (clients in the bench's process would contend for the server's)."""
    port = free_ports(1)
    env = {**env, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1"}
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=PROJECT_ROOT, env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return url, process
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit(f"The app did not start; its log:\n{log.read_text()[-3000:]}")


def threads_each(count: int) -> int:
    """The models' threads for each of ``count`` replicas on this machine (as deploy/replicas.sh)."""
    return max(1, (os.cpu_count() or 1) // count)


@contextlib.contextmanager
def serving(env: dict[str, str], count: int, work: Path) -> Iterator[str]:
    """The app's address: ``python app.py`` for 1, ``deploy/replicas.sh COUNT`` (that many app
    processes behind HAProxy, at one address) for more; stopped on leaving."""
    if count == 1:
        url, app = serve_app(env, work / "app.log")
        try:
            yield url
        finally:
            app.terminate()
            app.wait(timeout=30)
        return
    listen = f"127.0.0.1:{free_ports(count + 1)}"  # the replicas take the ports after it
    log = work / f"replicas-{count}.log"
    with log.open("w") as out:
        script = subprocess.Popen(
            ["bash", "deploy/replicas.sh", str(count)],
            cwd=PROJECT_ROOT,
            env={**env, "SLOPE_LISTEN": listen, "PYTHON": sys.executable},
            stdout=out,
            stderr=out,
        )
    try:
        deadline = time.monotonic() + 300
        while "replicas, " not in log.read_text():
            if script.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"deploy/replicas.sh did not start; its log:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        url = f"http://{listen}/"
        for _ in range(100):  # HAProxy starts after the line
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url
    finally:
        script.terminate()  # it stops its replicas and HAProxy
        script.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--each", type=int, default=5, help="single-photo requests per user")
    parser.add_argument("--sequential", type=int, default=10, help="requests one after the other, per client")
    parser.add_argument(
        "--replicas",
        default="1,2",
        help="app processes on this machine for the users' step, comma-separated counts (1: as `python app.py`)",
    )
    parser.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args()
    replicas = sorted({int(n) for n in args.replicas.split(",")} | {1})
    deadline = time.monotonic() + args.max_seconds
    photos = Photos()

    with tempfile.TemporaryDirectory(prefix="app-load-") as work:
        env = {**os.environ, "SLOPE_DATA_DIR": str(Path(work) / "data")}  # SLOPE_INSPECT_CONCURRENCY too
        settings = Settings.from_env(env)
        db = Database.from_settings(settings)
        register_configured_models(db, settings)
        add_user(db, ACCOUNT[0], "inspector", ACCOUNT[1])
        add_user(db, REVIEWER[0], "reviewer", REVIEWER[1])
        per_photo = models_alone(ModelServer(settings, db))
        floor_web, floor_script = gradio_floor()
        under_load: dict[int, tuple[list[tuple[float, float]], int, float, list[float]]] = {}
        in_a_row: dict[int, list[tuple[float, float]]] = {}
        with serving(env, 1, Path(work)) as url:
            one, one_script = sequential(url, args.sequential, photos)
            reviewer = WebClient(url, auth=REVIEWER)
            review_idle = [open_queue(reviewer) for _ in range(10)]
            under_load[1] = users_step(url, args, deadline, photos)
            first, every, reports, answers = zip_stream(url, Path(work))
        for count in replicas[1:]:
            if shutil.which("haproxy") is None:
                print(f"{count} replicas: not measured, HAProxy is not installed (apt-get install haproxy)")
                continue
            with serving(env, count, Path(work)) as url:
                in_a_row[count] = sequential(url, args.sequential, photos, by_script=False)[0]
                under_load[count] = users_step(url, args, deadline, photos)

    ms = 1000 * per_photo
    print(f"models alone: {ms:.0f} ms a photo, {1 / per_photo:.1f} photos/s ({len(PHOTOS)} val photos)")
    print(
        f"an endpoint that does nothing: {1000 * floor_web:.0f} ms as the page calls it, "
        f"{1000 * floor_script:.0f} ms through gradio_client"
    )
    shown, full = statistics.median(s for s, _ in one), statistics.median(f for _, f in one)
    print(
        f"one photo per request, {len(one)} in a row: shown after {1000 * shown:.0f} ms ({shown / per_photo:.1f}x "
        f"the models' {ms:.0f} ms; the target 2x + 50 ms is {2 * ms + 50:.0f} ms), its reports after "
        f"{1000 * full:.0f} ms ({full / per_photo:.1f}x); through gradio_client, "
        f"{1000 * statistics.median(one_script):.0f} ms"
    )
    for count, times in in_a_row.items():
        shown, full = statistics.median(s for s, _ in times), statistics.median(f for _, f in times)
        print(
            f"  {count} replicas: shown after {1000 * shown:.0f} ms ({shown / per_photo:.1f}x), its reports after "
            f"{1000 * full:.0f} ms (the models on {threads_each(count)} thread(s) each)"
        )

    def p50_p95(values: list[float]) -> str:
        cuts = statistics.quantiles(values, n=20) if len(values) > 1 else [values[0]] * 19
        return f"p50 {1000 * statistics.median(values):.0f} ms, p95 {1000 * cuts[18]:.0f} ms"

    idle = statistics.median(review_idle)
    for count, (times, failed, wall, review_busy) in under_load.items():
        where = "one app process"
        if count > 1:
            where = f"{count} replicas behind HAProxy, {threads_each(count)} model thread(s) each"
        if not times:
            print(f"{args.users} users x {args.each}, {where}: no request finished ({failed} failed)")
            continue
        rate = len(times) / wall
        single = under_load[1]
        versus = f", {rate / (len(single[0]) / single[2]):.2f}x one process" if count > 1 and single[0] else ""
        print(
            f"{args.users} users x {args.each}, {where}: {rate:.1f} photos/s ({rate * per_photo:.2f}x the models "
            f"alone{versus}), shown {p50_p95([s for s, _ in times])}, reports {p50_p95([f for _, f in times])}, "
            f"{failed} failed"
        )
        if review_busy:
            busy = statistics.median(review_busy)
            print(
                f"  a reviewer opening the queue: median {1000 * idle:.0f} ms alone, {1000 * busy:.0f} ms beside the "
                f"{args.users} users ({busy / idle:.1f}x; {len(review_busy)} opened, the slowest "
                f"{1000 * max(review_busy):.0f} ms)"
            )

    def seconds(value: float | None) -> str:
        return f"{value:.1f} s" if value is not None else "never"

    print(
        f"a zip of {len(SURVEY)} photos, {answers} answers: first photo shown after {seconds(first)}, every photo "
        f"after {seconds(every)}, the reports after {seconds(reports)}"
    )


if __name__ == "__main__":
    main()
