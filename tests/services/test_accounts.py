"""An admin manages accounts in the app: the use cases behind the Train tab's accounts panel."""

import pytest

from services import accounts
from services.errors import ServiceError
from storage.users import add_user, authenticate, user_role
from tests.storage import conftest as storage_fixtures

db_url = storage_fixtures.db_url
db = storage_fixtures.db


@pytest.fixture
def people(db):
    add_user(db, "ada", "admin", "admin-pass-1")
    add_user(db, "rita", "reviewer", "rita-pass-1")
    return db


def test_an_admin_adds_changes_disables_and_resets_accounts(people):
    db = people
    assert accounts.add_account(db, " ines ", "inspector", "ines-pass-1") == "Account ines (inspector) added."
    assert [row[:3] for row in accounts.account_rows(db)] == [
        ["ada", "admin", "enabled"],
        ["ines", "inspector", "enabled"],
        ["rita", "reviewer", "enabled"],
    ]
    assert accounts.change_account(db, "ada", "ines", role="reviewer") == "ines is now reviewer."
    assert user_role(db, "ines") == "reviewer"
    assert "disabled: it can no longer log in" in accounts.change_account(db, "ada", "rita", disabled=True)
    assert authenticate(db, "rita", "rita-pass-1") is None
    accounts.change_account(db, "ada", "rita", disabled=False)
    said = accounts.change_account(db, "ada", "rita", password="fresh-pass-9")
    assert said == "rita's password is set: pages logged in with the old one are logged out."
    assert authenticate(db, "rita", "fresh-pass-9") is not None


@pytest.mark.parametrize(
    "username, change, message",
    [
        ("ada", {"disabled": True}, "cannot disable your own account"),
        ("ada", {"role": "reviewer"}, "take away your own admin role"),
        ("rita", {"password": "short"}, "Not changed: password must have at least 8 characters."),
        ("nobody", {"role": "reviewer"}, "Not changed: no account named 'nobody'."),
        (None, {"role": "reviewer"}, "Pick an account first."),
    ],
)
def test_refusals_say_why_and_change_nothing(people, username, change, message):
    with pytest.raises(ServiceError, match=message):
        accounts.change_account(people, "ada", username, **change)
    assert (user_role(people, "ada"), user_role(people, "rita")) == ("admin", "reviewer")
    with pytest.raises(ServiceError, match="Not added: user 'rita' already exists."):
        accounts.add_account(people, "rita", "reviewer", "whatever-123")
