import pytest

from storage.users import SCRYPT_COST, add_user, authenticate, hash_password, verify_password


def test_password_hash_is_salted_scrypt_at_owasp_cost_and_verifies(monkeypatch):
    monkeypatch.undo()  # the real cost, not the tests' cheaper one (tests/conftest.py)
    assert SCRYPT_COST == (2**15, 8, 3)  # OWASP's scrypt minimum: N=2^15, r=8, p=3
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first.startswith("scrypt$32768$8$3$")
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


def test_a_hash_of_older_parameters_is_made_again_at_the_next_login(db):
    import base64
    import hashlib

    from sqlalchemy import select

    from storage import models as m
    from storage.users import needs_rehash

    add_user(db, "old", "reviewer", "an-old-password")
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"an-old-password", salt=salt, n=2**14, r=8, p=1, dklen=32)
    legacy = f"scrypt${2**14}$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    with db.write() as session:
        session.scalar(select(m.User).where(m.User.username == "old")).password_hash = legacy
    assert needs_rehash(legacy) and not needs_rehash(hash_password("x" * 8))
    assert authenticate(db, "old", "wrong-password") is None
    with db.read() as session:
        kept = session.scalar(select(m.User.password_hash).where(m.User.username == "old"))
    assert kept == legacy  # not on a failure
    assert authenticate(db, "old", "an-old-password") is not None
    with db.read() as session:
        stored = session.scalar(select(m.User.password_hash).where(m.User.username == "old"))
    assert stored != legacy and not needs_rehash(stored)
    assert authenticate(db, "old", "an-old-password") is not None  # and the new hash verifies
