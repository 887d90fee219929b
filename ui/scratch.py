"""Files the app hands to a browser (reports, plots) and how long the server keeps them.

Each request writes into its own folder under one parent; making a folder deletes those older
than the lifetime (at most once a minute: looking at every folder took 9 ms with 1,200 of them,
and a busy day makes ten times more, on every request). Gradio's own cleanup deletes, before
that, the files it handed out (uploads, and what handlers return) and forgets them. Without
this, a server that runs for months fills its temporary folder with every upload and report, and
the public demo would keep visitors' photos.

A request folder holding one person's results (their photos drawn, their reports) names its
owner in a file; ``ui.web_guard`` hands its files to that owner only. Their address is hard to
guess, but it is shown, copied and kept (browser history, a pasted link), and before this every
logged-in account, and every demo visitor, could fetch any of them by address.
"""

from __future__ import annotations

import getpass
import hashlib
import shutil
import tempfile
import threading
import time
from pathlib import Path

from gradio.utils import get_upload_folder

from core.settings import Settings


def private_folder(name: str) -> Path:
    """``name`` in the temporary folder, one per OS user (``name-user``), readable by that user
    only: another user's instance on the machine neither reads, prunes nor blocks this one's."""
    return Path(tempfile.gettempdir()) / f"{name}-{getpass.getuser()}"


def made_private(folder: Path) -> Path:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


# Inside Gradio's own cache folder (still one per OS user, private): a file handed back from there is
# served as it is, where Gradio hashes and copies any other into that cache at every answer (each
# drawing again at each answer of a streamed batch; 5% of the server's sampled time, 8 users inspecting).
SCRATCH_DIR = Path(get_upload_folder()) / f"slope-inspection-downloads-{getpass.getuser()}"
LIFETIME_S = 24 * 3600  # a report downloaded the day it was made still works
DEMO_LIFETIME_S = 3600  # a demo visitor's photos and results are gone within the hour
PRUNE_EVERY_S = 60  # a request's folder outlives its lifetime by at most this much
_pruned_at: dict[int, float] = {}  # lifetime -> when a request last pruned for it (monotonic)
_pruning = threading.Lock()


def lifetime_s(settings: Settings) -> int:
    return DEMO_LIFETIME_S if settings.demo_mode else LIFETIME_S


def gradio_cache_policy(settings: Settings) -> tuple[int, int]:
    """``gr.Blocks(delete_cache=...)``: (how often to look, age at which a file goes), seconds.

    Gradio remembers every file it handed out until its cleanup deletes it, and never forgets
    one that someone else deleted (it skips a file it cannot find). So its cleanup must come
    first: a file goes after 3/4 of the lifetime, looked for every 1/12, so by 5/6 of it at the
    latest; the request folders, and whatever Gradio never handed out, go at the full lifetime."""
    lifetime = lifetime_s(settings)
    return lifetime // 12, lifetime * 3 // 4


OWNER_FILE = ".owner"
# The browser's own id, set by ``ui.web_guard`` on the page: a secure cookie (a Space's page is
# shown in another site's frame) and a plain one (an app on plain HTTP, where browsers drop the
# secure one).
BROWSER_COOKIES = ("slope-browser", "slope-browser-plain")


def owner_key(account: str | None, browser: str | None) -> str | None:
    """Who may fetch a request folder's files: the account, where each person logs in as their
    own, else the browser (the public demo's visitors share one account; an app with no accounts
    has none). None where neither is known (an API client keeping no cookies): nobody owns it."""
    who = f"account:{account}" if account else f"browser:{browser}" if browser else None
    return hashlib.sha256(who.encode()).hexdigest() if who else None


def requester_key(server, account: str | None, cookies: dict[str, str]) -> str | None:
    """The owner key (``owner_key``) of whoever asks the Gradio ``server``: its account, except in
    the public demo, where every visitor is one account and the browser tells them apart."""
    shared = getattr(server, "auth_dependency", None) is not None
    browser = next((cookies[name] for name in BROWSER_COOKIES if cookies.get(name)), None)
    return owner_key(None if shared else account, browser)


def owner_of(path: Path) -> str | None:
    """The owner key of the request folder holding ``path`` (None: not in one, or unowned)."""
    try:
        folder = path.resolve().relative_to(SCRATCH_DIR.resolve()).parts[0]
        return (SCRATCH_DIR / folder / OWNER_FILE).read_text().strip() or None
    except (ValueError, IndexError, OSError):
        return None


def scratch_folder(prefix: str, lifetime: int = LIFETIME_S, owner: str | None = None) -> Path:
    """A new folder for one request's files, whose files only ``owner`` (``owner_key``) may
    fetch; folders older than ``lifetime`` seconds are deleted first, if no request did in the
    last ``PRUNE_EVERY_S`` (those of every request: the shortest lifetime asked for wins)."""
    with _pruning:
        due = time.monotonic() - _pruned_at.get(lifetime, float("-inf")) >= PRUNE_EVERY_S
        if due:
            _pruned_at[lifetime] = time.monotonic()
    if due:
        prune(lifetime)
    made_private(SCRATCH_DIR)
    folder = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=SCRATCH_DIR))
    if owner is not None:
        (folder / OWNER_FILE).write_text(owner)
    return folder


def prune(lifetime: int) -> None:
    """Delete the request folders older than ``lifetime`` seconds."""
    made_private(SCRATCH_DIR)
    cutoff = time.time() - lifetime
    for old in SCRATCH_DIR.iterdir():
        try:
            expired = old.stat().st_mtime < cutoff
        except FileNotFoundError:  # another request deleted it just now
            continue
        if expired:
            shutil.rmtree(old, ignore_errors=True)


def keep_pruning(settings: Settings) -> threading.Thread:
    """Prune on a timer too, so an idle server (the demo between visitors) keeps nothing past
    its lifetime."""
    lifetime = lifetime_s(settings)

    def loop() -> None:
        while True:
            time.sleep(lifetime // 6)
            prune(lifetime)

    thread = threading.Thread(target=loop, name="scratch-pruning", daemon=True)
    thread.start()
    return thread
