"""Managing accounts, for an admin in the app (``slope users`` does the same from a shell):
list them, add one, change a role, disable or enable one, set a password. Refusals are
``ServiceError``s with the message a person reads; the caller checks the admin role first."""

from __future__ import annotations

from services.errors import ServiceError
from storage import users as user_store
from storage.db import Database

ROLES = ("inspector", "reviewer", "admin")


def account_rows(db: Database) -> list[list[str]]:
    """One row per account: name, role, state, since."""
    return [
        [a.username, a.role, "disabled" if a.disabled else "enabled", f"{a.created_at:%Y-%m-%d}"]
        for a in user_store.list_users(db)
    ]


def add_account(db: Database, username: str, role: str, password: str) -> str:
    try:
        user_store.add_user(db, (username or "").strip(), role, password or "")
    except ValueError as bad:
        raise ServiceError(f"Not added: {bad}.") from None
    return f"Account {username.strip()} ({role}) added."


def change_account(
    db: Database,
    admin: str,
    username: str | None,
    *,
    role: str | None = None,
    disabled: bool | None = None,
    password: str | None = None,
) -> str:
    """One change to ``username``'s account by ``admin``; an admin cannot disable their own
    account or take away their own admin role (they would lock themselves out mid-session)."""
    if not username:
        raise ServiceError("Pick an account first.")
    if username == admin and (disabled or (role is not None and role != "admin")):
        raise ServiceError("You cannot disable your own account or take away your own admin role.")
    try:
        user_store.update_user(db, username, role=role, disabled=disabled, password=password)
    except ValueError as bad:
        raise ServiceError(f"Not changed: {bad}.") from None
    if role is not None:
        return f"{username} is now {role}."
    if disabled is not None:
        if disabled:
            return f"{username} is disabled: it can no longer log in, and its open pages are logged out."
        return f"{username} is enabled again."
    return f"{username}'s password is set: pages logged in with the old one are logged out."
