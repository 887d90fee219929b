"""``deploy/replicas.sh``: two app processes on one machine and one SQLite store, behind HAProxy
at one address, used by a real browser and by clients talking as the page does. Each browser
stays on the replica that logged it in (Gradio keeps a login in one process's memory), new
browsers are shared out, both replicas write the one store, and when a replica dies its users
log in again on the other and go on."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy import func, select

from bench.web_client import WebClient, free_ports
from core.settings import PROJECT_ROOT, Settings
from storage import models as m
from storage.db import Database
from storage.users import add_user
from tests.ui.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.ui.test_review_browser import logged_in_page

pytestmark = [
    pytest.mark.skipif(shutil.which("haproxy") is None, reason="Debian's haproxy is not installed"),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
    pytest.mark.slow,
]
ACCOUNT = ("ines", "a long password")
STARTED_S = 300  # two replicas started one after the other on 2 cores, with a browser test beside


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _inspect(client: WebClient, photo: Path) -> str:
    """The summary of a one-photo inspection."""
    answers = list(client.answers("inspect", [client.upload(photo)], 0.25, "", "", ""))
    return answers[-1][1]


@pytest.fixture
def balanced(tmp_path):
    """(address, log) of ``deploy/replicas.sh 2`` on a fresh store with an inspector's account."""
    data = tmp_path / "data"
    env = {**os.environ, "SLOPE_DATA_DIR": str(data), "PYTHON": sys.executable}
    env.pop("DATABASE_URL", None)
    env.pop("SLOPE_BROKER_URL", None)
    db = Database.from_settings(Settings.from_env(env))
    add_user(db, *ACCOUNT[:1], "inspector", ACCOUNT[1])
    db.dispose()
    port = free_ports(3)  # HAProxy's, then the replicas'
    env["SLOPE_LISTEN"] = f"127.0.0.1:{port}"
    log = tmp_path / "replicas.log"
    with log.open("w") as out:
        script = subprocess.Popen(
            ["bash", "deploy/replicas.sh", "2"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + STARTED_S
        while "replicas, " not in log.read_text():
            assert script.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        while True:
            try:
                if urllib.request.urlopen(url, timeout=5).status == 200:
                    break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)
        yield url, log, data
    finally:
        script.send_signal(signal.SIGTERM)  # the script stops its replicas and HAProxy
        try:
            script.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(script.pid, signal.SIGKILL)
            script.wait(10)
            raise
    started = [int(pid) for pid in re.findall(r"process (\d+)", log.read_text())]
    assert started and not [pid for pid in started if _running(pid)], "a replica outlived the script"


def test_replicas_behind_one_address_keep_each_user_on_one_and_survive_one_dying(balanced, val_images):
    from playwright.sync_api import expect, sync_playwright

    url, log, data = balanced
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = logged_in_page(browser, url, *ACCOUNT)
        page.locator("input[type=file]").first.set_input_files(str(val_images[0]))
        page.get_by_role("button", name="Inspect", exact=True).click()
        expect(page.get_by_text("1 photo inspected").first).to_be_visible(timeout=60_000)
        browser_replica = {c["name"]: c["value"] for c in page.context.cookies()}["SLOPE_REPLICA"]
        browser.close()

    # Each new client is given a replica in turn and stays on it: every request after the login
    # must reach the process that knows the login, or it would be refused.
    clients = [WebClient(url, auth=ACCOUNT) for _ in range(4)]
    for k, client in enumerate(clients):
        assert _inspect(client, val_images[1 + k]).startswith("1 photo inspected")
    replicas = [client.http.cookies.get("SLOPE_REPLICA") for client in clients]
    assert set(replicas) | {browser_replica} == {"app-1", "app-2"}, replicas
    for client, replica in zip(clients, replicas, strict=True):
        assert _inspect(client, val_images[6]).startswith("1 photo inspected")
        assert client.http.cookies.get("SLOPE_REPLICA") == replica

    # Both processes wrote the one store: six photos, each inspection kept once.
    db = Database.from_settings(Settings.from_env({**os.environ, "SLOPE_DATA_DIR": str(data)}))
    with db.read() as session:
        assert session.scalar(select(func.count(func.distinct(m.Inspection.image_id)))) == 6
    db.dispose()

    # A replica dies (kill -9): its users are sent to the other one, where they log in again.
    processes = dict(re.findall(r"replica (app-\d): process (\d+)", log.read_text()))
    os.kill(int(processes[replicas[0]]), signal.SIGKILL)
    with pytest.raises(httpx.HTTPError):
        _inspect(clients[0], val_images[7])  # its login lived in the dead process
    clients[0].http.post("/login", data=dict(zip(("username", "password"), ACCOUNT, strict=True))).raise_for_status()
    assert _inspect(clients[0], val_images[7]).startswith("1 photo inspected")
    assert clients[0].http.cookies.get("SLOPE_REPLICA") != replicas[0]
    survivor = next(c for c, r in zip(clients, replicas, strict=True) if r != replicas[0])
    assert _inspect(survivor, val_images[8]).startswith("1 photo inspected")

    # The dead replica is started again, and serves its users again once they log in.
    killed = processes[replicas[0]]
    deadline = time.monotonic() + STARTED_S
    while len(re.findall(rf"replica {replicas[0]}: process (\d+)", log.read_text())) < 2:
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.5)
    assert f"replica {replicas[0]} (process {killed}) stopped with status 137; starting it again" in log.read_text()
    while True:  # new clients are shared out in turn: one lands on it once HAProxy finds it answering
        again = WebClient(url, auth=ACCOUNT)
        if again.http.cookies.get("SLOPE_REPLICA") == replicas[0]:
            break
        again.close()
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(1)
    assert _inspect(again, val_images[9]).startswith("1 photo inspected")
    assert again.http.cookies.get("SLOPE_REPLICA") == replicas[0]
    for client in [*clients, again]:
        client.close()


def test_a_replica_that_keeps_failing_is_given_up(tmp_path):
    """A replica that stops at once every time (here: no Python at all) is started again at most
    5 times in 10 minutes, then given up; with none left the script ends, failing."""
    port = free_ports(3)
    env = {
        **os.environ,
        "SLOPE_DATA_DIR": str(tmp_path / "data"),
        "PYTHON": "false",
        "SLOPE_LISTEN": f"127.0.0.1:{port}",
    }
    script = subprocess.run(
        ["bash", "deploy/replicas.sh", "1"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert script.returncode == 1
    assert script.stderr.count("replica app-1: process") == 5, script.stderr
    assert "replica app-1 stopped 5 times in 10 minutes: not started again" in script.stderr
