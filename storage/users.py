"""User accounts: a username, a role, and a password hashed with scrypt (a standard KDF)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from storage import models as m
from storage.db import Database

# scrypt cost: 16 MiB of memory and ~50 ms per hash on these CPUs; stored with the hash.
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    return hmac.compare_digest(candidate, base64.b64decode(digest))


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
    """The account if the password is its own and it is not disabled."""
    with db.read() as session:
        user = session.scalar(select(m.User).where(m.User.username == username, ~m.User.disabled))
    return user if user is not None and verify_password(password, user.password_hash) else None


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
