"""A client that talks to a Gradio app the way its page does, for timing the server.

``gradio_client`` is built for scripts, not for timing: it opens a new connection for every upload,
join and stream, and its reader looks for new messages every 50 ms (``stream_sse_v1plus`` sleeps
0.05 s while its deque is empty), so an endpoint that does nothing answers in ~80 ms through it and
~14 ms through this client on loopback (measured, 2-core CPU). The page keeps its connections
open and reads the event stream as it arrives; so does this client: one ``httpx.Client`` per user
(keep-alive), ``POST upload`` for files, ``POST queue/join``, then the ``queue/data`` event stream
read to its ``process_completed``, streamed answers rebuilt from their diffs as the page does.
It does not fetch the answers' files, as a page shows a drawing once and fetches a report only
when asked.
"""

from __future__ import annotations

import json
import random
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
from gradio_client.utils import apply_diff


class WebClient:
    def __init__(self, url: str, auth: tuple[str, str] | None = None, timeout_s: float = 120.0) -> None:
        self.http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout_s)
        if auth is not None:
            answer = self.http.post("/login", data={"username": auth[0], "password": auth[1]})
            answer.raise_for_status()
        config = self.http.get("/config").json()
        values = {c["id"]: c.get("props", {}).get("value") for c in config["components"]}
        named = [d for d in config["dependencies"] if d.get("api_name")]
        self.fn = {d["api_name"]: d["id"] for d in named}
        # Each endpoint's inputs as the page starts them: what a call leaves out is sent as shown.
        self.defaults = {d["api_name"]: [values.get(i) for i in d["inputs"]] for d in named}
        self.session = uuid.uuid4().hex[:11]

    def upload(self, path: Path) -> dict:
        with open(path, "rb") as handle:
            answer = self.http.post("/gradio_api/upload", files=[("files", (path.name, handle))])
        answer.raise_for_status()
        return {"path": answer.json()[0], "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}

    def answers(self, api_name: str, *data) -> Iterator[list]:
        """Every answer of one call, as it arrives (a generator's answers one by one); inputs
        left out are sent at their values on a fresh page."""
        data = (*data, *self.defaults[api_name][len(data) :])
        joined = self.http.post(
            "/gradio_api/queue/join",
            json={"data": list(data), "event_data": None, "fn_index": self.fn[api_name], "session_hash": self.session},
        )
        joined.raise_for_status()
        event = joined.json()["event_id"]
        outputs: list | None = None
        with self.http.stream("GET", "/gradio_api/queue/data", params={"session_hash": self.session}) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("event_id") != event:
                    continue
                if message["msg"] == "process_generating":
                    data = message["output"]["data"]
                    if outputs is None:  # the first answer whole, the next ones as changes to it
                        outputs = list(data)
                    else:
                        outputs = [apply_diff(o, d) for o, d in zip(outputs, data, strict=True)]
                    yield outputs
                elif message["msg"] == "process_completed":
                    if not message.get("success", True):
                        raise RuntimeError(message["output"].get("error") or "the call failed")
                    if outputs is None:  # not a generator: its one answer
                        yield message["output"]["data"]
                    return

    def call(self, api_name: str, *data) -> list:
        """The last answer of one call."""
        last = None
        for last in self.answers(api_name, *data):  # noqa: B007 - the last one is the answer
            pass
        return last

    def close(self) -> None:
        self.http.close()


def free_ports(count: int) -> int:
    """The first of ``count`` free loopback ports in a row, below the range the system hands out
    for outgoing connections (from 32768 on Linux): a port picked there can be taken by a client's
    connection before the server that was meant to have it binds it."""
    for start in random.sample(range(20_000, 32_000 - count), 200):
        try:
            for port in range(start, start + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
            return start
        except OSError:
            continue
    raise OSError(f"no {count} free ports in a row on 127.0.0.1")
