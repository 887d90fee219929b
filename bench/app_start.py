"""Time from ``python app.py`` to the first answer, and the app's resident memory.

    python bench/app_start.py

Starts the app as a user would (a subprocess on a free port), polls until it serves, sends one
example photo through ``gradio_client``, and reports the times and the server's peak RSS.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from gradio_client import Client, handle_file

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="app-start-bench-")  # a fresh store: the start includes creating it
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1", "SLOPE_DATA_DIR": data_dir}
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        while True:
            try:
                client = Client(url, verbose=False)
                break
            except Exception:
                if server.poll() is not None or time.perf_counter() - started > 120:
                    raise SystemExit("the app did not start") from None
                time.sleep(0.2)
        serving = time.perf_counter() - started
        photo = next((ROOT / "examples").glob("*.jpg"))
        client.predict([handle_file(str(photo))], 0.25, "bench", "", api_name="/inspect")
        answered = time.perf_counter() - started
        rss = psutil.Process(server.pid).memory_info().rss / 2**20
        print(
            f"app serving after {serving:.1f} s; first answer after {answered:.1f} s; "
            f"server resident memory {rss:.0f} MiB"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
