"""What guessing costs, and what a login's time tells: ``services.auth.log_in`` on a fresh SQLite
store at the production scrypt cost, beside the former login (scrypt N=2^14, r=8, p=1; no
throttling; an unknown name answered without hashing) run the same way.

    python bench/logins.py [--repeats 5]

Prints, for both: the time of 20 wrong passwords for one account and whether the right one then
gets in; the median time of a wrong password for a real account and for a name with no account,
and their ratio (1.0: the time does not tell which names exist).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services import auth  # noqa: E402
from services.errors import TooManyFailures  # noqa: E402
from storage import users  # noqa: E402
from storage.db import Database  # noqa: E402

FORMER_COST = (2**14, 8, 1)


def former_log_in(db: Database, username: str, password: str, address: str = "") -> bool:
    """The login before throttling: an unknown name was answered at once."""
    from sqlalchemy import select

    from storage import models as m

    with db.read() as session:
        user = session.scalar(select(m.User).where(m.User.username == username))
    return user is not None and users.verify_password(password, user.password_hash)


def measure(log_in, cost, repeats: int) -> dict:
    users.SCRYPT_COST = cost
    users._no_account_hash.cache_clear()
    with tempfile.TemporaryDirectory() as work:
        db = Database(f"sqlite:///{work}/bench.db")
        db.upgrade()
        users.add_user(db, "ada", "admin", "the-right-password")
        started, refused = time.perf_counter(), 0
        for n in range(20):
            try:
                log_in(db, "ada", f"guess-{n}", "10.0.0.1")
            except TooManyFailures:
                refused += 1
        twenty = time.perf_counter() - started
        try:
            right_gets_in = bool(log_in(db, "ada", "the-right-password", "10.0.0.1"))
        except TooManyFailures:
            right_gets_in = False
        known, unknown = [], []
        for n in range(repeats):  # from other addresses: throttling is not what is timed here
            for name, times in (("bob", known), ("nobody", unknown)):
                if name == "bob" and n == 0:
                    users.add_user(db, "bob", "reviewer", "bobs-password")
                clock = time.perf_counter()
                try:
                    log_in(db, name, "wrong-password", f"10.1.{n}.{len(times)}")
                except TooManyFailures:
                    pass
                times.append(time.perf_counter() - clock)
    return {
        "twenty_wrong_s": twenty,
        "refused_of_twenty": refused,
        "right_then_gets_in": right_gets_in,
        "known_ms": 1000 * statistics.median(known),
        "unknown_ms": 1000 * statistics.median(unknown),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=4, help="wrong passwords per name (max 4: the name's limit)")
    args = parser.parse_args()
    now = measure(auth.log_in, users.SCRYPT_COST, min(args.repeats, auth.MAX_FAILURES_PER_NAME - 1))
    before = measure(former_log_in, FORMER_COST, min(args.repeats, auth.MAX_FAILURES_PER_NAME - 1))
    print(f"{'':<44}{'former':>10}{'now':>10}{'now/former':>12}")
    for key, label in (
        ("twenty_wrong_s", "20 wrong passwords for one account (s)"),
        ("known_ms", "wrong password, real account (ms)"),
        ("unknown_ms", "wrong password, no such account (ms)"),
    ):
        print(f"{label:<44}{before[key]:>10.3f}{now[key]:>10.3f}{now[key] / before[key]:>12.2f}")
    for key, label in (("refused_of_twenty", "of the 20, refused without a check"), ("right_then_gets_in", "")):
        label = label or "the right password then gets in"
        print(f"{label:<44}{before[key]!s:>10}{now[key]!s:>10}")
    for who, figures in (("former", before), ("now", now)):
        ratio = figures["unknown_ms"] / figures["known_ms"]
        print(f"{who}: unknown / known name time {ratio:.2f} (1.0: tells nothing)")


if __name__ == "__main__":
    main()
