import pytest

from storage.users import add_user, authenticate, hash_password, verify_password


def test_password_hash_is_salted_scrypt_and_verifies():
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first.startswith("scrypt$") and first != second  # salted
    assert verify_password("correct horse", first)
    assert not verify_password("wrong horse", first)
    assert not verify_password("correct horse", "md5$abc")


def test_add_and_authenticate(db):
    add_user(db, "rita", "reviewer", "s3cret-pass")
    assert authenticate(db, "rita", "s3cret-pass").role == "reviewer"
    assert authenticate(db, "rita", "nope-nope") is None
    assert authenticate(db, "nobody", "s3cret-pass") is None
    with pytest.raises(ValueError, match="already exists"):
        add_user(db, "rita", "admin", "another-pass")
    with pytest.raises(ValueError, match="role must be one of"):
        add_user(db, "sam", "boss", "s3cret-pass")
    with pytest.raises(ValueError, match="at least 8"):
        add_user(db, "sam", "admin", "short")
