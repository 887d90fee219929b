"""Survey throughput on the task queue: the embedded survey (this process, as today) against
``slope worker`` processes over Redis, on the same photos, each run into a fresh store.

    eval "$(.ci/services.sh)"    # Redis (and PostgreSQL) on loopback
    python bench/scale.py [--photos 200] [--broker redis://127.0.0.1:63790/2] [--postgres ADMIN_URL]

Runs, one after the other (the machine otherwise idle):
  embedded            ``run_survey`` in this process, the models loaded before the clock starts
  1 worker, default threads  one ``slope worker`` on the libraries' threads (every core)
  1 worker, 1 thread         ``--threads 1``: ONNX Runtime and torch on one thread each
  2 workers, 1 thread each
  2 workers, one killed  ``kill -9`` on one worker once a third of the chunks are done
Each queued run is timed from handing the photos in (staging them included) to the last chunk
done; the workers are started and have loaded their models before. Printed: photos/s and the
ratio to the embedded run and to one worker. Photos are the real slopes photos (train, then
val); ``--photos`` over 350 repeats them with a byte appended (a new photo to the store, the
same pixels).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.offline import prepare_offline  # noqa: E402

prepare_offline()

import redis  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from core.images import load_image  # noqa: E402
from core.settings import PROJECT_ROOT, Settings  # noqa: E402
from core.statuses import ChunkStatus  # noqa: E402
from lifecycle.server import ModelServer  # noqa: E402
from services.survey import run_survey  # noqa: E402
from services.survey_queue import queue_survey, queued_survey  # noqa: E402
from services.tasks import CeleryQueue  # noqa: E402
from storage.db import Database  # noqa: E402

DATA = PROJECT_ROOT.parent / "shared" / "data" / "slopes"
KILLED: dict[str, float] = {}  # when the worker was killed, and the photos not yet done then
SILENT_S = 3  # a photo takes under 0.2 s here: a worker silent for 3 s is gone


def photos(count: int, folder: Path) -> list[Path]:
    sources = sorted((DATA / "train" / "images").glob("*.jpg")) + sorted((DATA / "val" / "images").glob("*.jpg"))
    out = []
    for n in range(count):
        source = sources[n % len(sources)]
        target = folder / f"{n:05d}_{source.name}"
        target.write_bytes(source.read_bytes() + b"\0" * (n // len(sources)))  # a new photo, the same pixels
        out.append(target)
    return out


class Store:
    """A fresh store for one run: SQLite in its folder, or a new PostgreSQL database."""

    def __init__(self, root: Path, postgres: str | None) -> None:
        self.root, self.postgres, self.name = root, postgres, f"scale_{uuid.uuid4().hex[:10]}"
        root.mkdir(parents=True)
        if postgres:
            with create_engine(postgres, isolation_level="AUTOCOMMIT").connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = postgres.rsplit("/", 1)[0] + f"/{self.name}" if postgres else f"sqlite:///{root / 'store.sqlite3'}"

    def env(self, broker: str) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.url,
            "SLOPE_DATA_DIR": str(self.root / "data"),
            "SLOPE_BROKER_URL": broker,
            "SLOPE_TASK_SILENT_S": str(SILENT_S),
        }

    def drop(self) -> None:
        if self.postgres:
            with create_engine(self.postgres, isolation_level="AUTOCOMMIT").connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


def embedded(paths: list[Path], store: Store, broker: str) -> float:
    settings = Settings.from_env(store.env(broker))
    db = Database.from_settings(settings)
    inspector = ModelServer(settings, db).inspector()
    inspector.inspect(load_image(paths[0].read_bytes()))  # warm, as a worker is by its first chunk
    start = time.perf_counter()
    run = run_survey(db, settings, inspector, paths, "scale", "bench")
    elapsed = time.perf_counter() - start
    assert run.batch.inspected == len(paths), run.problems[:3]
    db.dispose()
    return elapsed


def queued(paths: list[Path], store: Store, broker: str, workers: int, threads: int, kill: bool = False) -> float:
    redis.Redis.from_url(broker).flushdb()
    env = store.env(broker)
    settings = Settings.from_env(env)
    db = Database.from_settings(settings)
    started = []
    for n in range(workers):
        log = (store.root / f"worker{n}.log").open("w")
        command = [sys.executable, "-m", "cli", "worker", "--name", f"w{n}"] + (
            ["--threads", str(threads)] if threads else []
        )
        started.append(subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
    for n in range(workers):
        while "ready." not in (store.root / f"worker{n}.log").read_text():
            assert started[n].poll() is None, f"worker {n} died"
            time.sleep(0.2)
    start = time.perf_counter()
    state = queue_survey(db, settings, CeleryQueue(settings), paths, "scale", "bench")
    killed = False
    while True:
        state, chunks = queued_survey(db, state.id)
        if not state.open:
            break
        done = sum(c.status == ChunkStatus.DONE for c in chunks)
        if kill and not killed and done >= len(chunks) // 3:
            os.kill(started[0].pid, signal.SIGKILL)
            killed = True
            KILLED.update(at=time.perf_counter() - start, left=len(paths) - sum(c.inspected for c in chunks))
        time.sleep(0.1)
    elapsed = time.perf_counter() - start
    for process in started:
        if process.poll() is None:
            process.terminate()
        process.wait(30)
    assert state.inspected == len(paths) and state.chunks == {"done": len(chunks)}, state
    db.dispose()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--broker", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:63790/0"))
    parser.add_argument("--postgres", default=os.environ.get("TEST_POSTGRES_URL"), help="admin URL (else SQLite)")
    args = parser.parse_args()
    os.environ.pop("SLOPE_OBJECT_STORE", None)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        paths = photos(args.photos, folder)
        runs = [
            ("embedded (this process)", lambda s: embedded(paths, s, args.broker)),
            ("1 worker, default threads", lambda s: queued(paths, s, args.broker, 1, 0)),
            ("1 worker, 1 thread", lambda s: queued(paths, s, args.broker, 1, 1)),
            ("2 workers, 1 thread each", lambda s: queued(paths, s, args.broker, 2, 1)),
            ("2 workers, one killed at 1/3", lambda s: queued(paths, s, args.broker, 2, 1, kill=True)),
        ]
        seconds = {}
        for n, (name, run) in enumerate(runs):
            store = Store(Path(tmp) / f"run{n}", args.postgres)
            try:
                seconds[name] = run(store)
            finally:
                store.drop()
            print(f"{name:<30} {seconds[name]:6.1f} s", flush=True)
    base, one = seconds["embedded (this process)"], seconds["1 worker, default threads"]
    store = "PostgreSQL" if args.postgres else "SQLite"
    print(f"\n{args.photos} photos, chunks of {Settings().chunk_photos}, {store}, {os.cpu_count()} cores")
    print(f"{'run':<30} {'photos/s':>9} {'x embedded':>11} {'x 1 worker':>11}")
    for name, elapsed in seconds.items():
        print(f"{name:<30} {args.photos / elapsed:9.2f} {base / elapsed:11.2f} {one / elapsed:11.2f}")
    # Without the killed worker's chunk to redo, the survivor alone would have finished the photos
    # left at its own one-worker pace: what the kill cost beyond that is the chunk and the wait.
    alone = KILLED["left"] * seconds["1 worker, 1 thread"] / args.photos
    cost = seconds["2 workers, one killed at 1/3"] - KILLED["at"] - alone
    print(
        f"killed at {KILLED['at']:.1f} s with {KILLED['left']:.0f} photos left; the survivor alone would need "
        f"{alone:.1f} s for them; the kill cost {cost:.1f} s more (a chunk: {Settings().chunk_photos} photos, "
        f"silent after {SILENT_S} s)"
    )


if __name__ == "__main__":
    main()
