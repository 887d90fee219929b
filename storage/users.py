"""User accounts: a username, a role, and a password hashed with scrypt (a standard KDF)."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from storage import models as m
from storage.db import Database

# scrypt cost at OWASP's current guidance (N=2^15, r=8, p=3: 32 MiB, ~0.3 s here), stored with
# each hash; a hash made with other parameters is made again at its next successful login.
SCRYPT_COST = (2**15, 8, 3)  # (N, r, p)
_MAXMEM = 2**26  # hashlib's default allowance (32 MiB) is just under what N=2^15, r=8 needs


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=max(_MAXMEM, 2 * 128 * r * n))


def hash_password(password: str) -> str:
    salt, (n, r, p) = secrets.token_bytes(16), SCRYPT_COST
    digest = _scrypt(password, salt, n, r, p)
    return f"scrypt${n}${r}${p}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    return hmac.compare_digest(candidate, base64.b64decode(digest))


def needs_rehash(stored: str) -> bool:
    n, r, p = SCRYPT_COST
    return not stored.startswith(f"scrypt${n}${r}${p}$")


@functools.cache
def _no_account_hash() -> str:
    """What a name without an account is checked against: the same work as a real account, so
    the time of an answer does not tell which names exist."""
    return hash_password(secrets.token_urlsafe(16))


def add_user(db: Database, username: str, role: str, password: str) -> int:
    if role not in m.ROLES:
        raise ValueError(f"role must be one of {', '.join(m.ROLES)}, got {role!r}")
    if not username.strip():
        raise ValueError("username is empty")
    if len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    with db.write() as session:
        if session.scalar(select(m.User).where(m.User.username == username)) is not None:
            raise ValueError(f"user {username!r} already exists")
        user = m.User(username=username, role=role, password_hash=hash_password(password))
        session.add(user)
        session.flush()
        return user.id


def authenticate(db: Database, username: str, password: str) -> m.User | None:
    """The account if the password is its own and it is not disabled. A name with no account
    costs one hash too; a hash of older parameters is made again."""
    with db.read() as session:
        user = session.scalar(select(m.User).where(m.User.username == username, ~m.User.disabled))
    if user is None:
        verify_password(password, _no_account_hash())
        return None
    if not verify_password(password, user.password_hash):
        return None
    if needs_rehash(user.password_hash):
        with db.write() as session:
            session.get(m.User, user.id).password_hash = hash_password(password)
    return user


def record_failure(db: Database, username: str, address: str) -> None:
    with db.write() as session:
        session.add(m.LoginFailure(username=username[:200], address=address[:64], at=m.utcnow()))


def recent_failures(db: Database, username: str, address: str, window: timedelta) -> tuple[int, int]:
    """Failed logins within ``window``: (of this name, from this address). Older ones are dropped."""
    since = m.utcnow() - window
    with db.write() as session:
        session.execute(delete(m.LoginFailure).where(m.LoginFailure.at < since))
        by_name = select(func.count()).select_from(m.LoginFailure).where(m.LoginFailure.username == username[:200])
        by_address = select(func.count()).select_from(m.LoginFailure).where(m.LoginFailure.address == address[:64])
        return session.scalar(by_name) or 0, session.scalar(by_address) or 0


def credential_stamp(db: Database, username: str) -> str | None:
    """A digest of the account's password hash (it changes when the password is set, or its hash
    is made again with newer parameters); None where no such account exists or it is disabled."""
    with db.read() as session:
        hashed = session.scalar(select(m.User.password_hash).where(m.User.username == username, ~m.User.disabled))
    return None if hashed is None else hashlib.sha256(hashed.encode()).hexdigest()


def user_role(db: Database, username: str) -> str | None:
    """The account's role, or None where no such account exists or it is disabled."""
    with db.read() as session:
        return session.scalar(select(m.User.role).where(m.User.username == username, ~m.User.disabled))


@dataclass(frozen=True)
class Account:
    username: str
    role: str
    disabled: bool
    created_at: datetime


def list_users(db: Database) -> list[Account]:
    with db.read() as session:
        users = session.scalars(select(m.User).order_by(m.User.username))
        return [Account(u.username, u.role, u.disabled, u.created_at) for u in users]


def update_user(
    db: Database, username: str, *, role: str | None = None, disabled: bool | None = None, password: str | None = None
) -> None:
    """Change an account's role, disable or enable it, or set its password. ``ValueError`` for
    an unknown account or role, a short password, or a change that would leave no enabled admin
    (nobody could then manage the accounts or train)."""
    if role is not None and role not in m.ROLES:
        raise ValueError(f"role must be one of {', '.join(m.ROLES)}, got {role!r}")
    if password is not None and len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    with db.write() as session:
        user = session.scalar(select(m.User).where(m.User.username == username).with_for_update())
        if user is None:
            raise ValueError(f"no account named {username!r}")
        admins = select(func.count()).select_from(m.User).where(m.User.role == "admin", ~m.User.disabled)
        had_admins = session.scalar(admins) > 0
        if role is not None:
            user.role = role
        if disabled is not None:
            user.disabled = disabled
        if password is not None:
            user.password_hash = hash_password(password)
        session.flush()
        if had_admins and session.scalar(admins) == 0:
            raise ValueError("that would leave no enabled admin account")  # rolled back: nothing changes


def has_users(db: Database) -> bool:
    with db.read() as session:
        return (session.scalar(select(func.count()).select_from(m.User)) or 0) > 0
