"""Staff accounts: Argon2id hashes (never the password), roles, refusals that say how to fix them."""

from __future__ import annotations

import time

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, text

from assistant.console.accounts import Account, AccountError, AccountStore, Role

PASSWORD = "correct horse battery"


@pytest.fixture
def store(catalog_engine: Engine) -> AccountStore:
    return AccountStore(catalog_engine, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def test_create_then_authenticate(store: AccountStore, catalog_engine: Engine) -> None:
    made = store.create("Sam.Jones", PASSWORD, Role.AGENT, display_name="  Sam   from the shop ")
    assert made == Account(made.id, "sam.jones", "Sam from the shop", Role.AGENT, False)
    assert store.authenticate("SAM.JONES ", PASSWORD) == made
    assert store.get(made.id) == made
    with catalog_engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM staff_accounts")).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_wrong_password_unknown_user_and_disabled_account_are_refused(store: AccountStore) -> None:
    store.create("ana", PASSWORD, Role.ADMIN)
    assert store.authenticate("ana", PASSWORD + "x") is None
    assert store.authenticate("nobody", PASSWORD) is None
    assert store.authenticate("ana", "x" * 5000) is None
    assert store.authenticate("", "") is None
    store.disable("ana")
    assert store.authenticate("ana", PASSWORD) is None
    assert store.list()[0].disabled


def test_unknown_usernames_cost_a_hash_verification_too(catalog_engine: Engine) -> None:
    store = AccountStore(catalog_engine, hasher=PasswordHasher(time_cost=3, memory_cost=32768, parallelism=1))
    store.create("ana", PASSWORD, Role.AGENT)

    def timed(username: str) -> float:
        start = time.perf_counter()
        for _ in range(3):
            store.authenticate(username, "wrong password!")
        return time.perf_counter() - start

    known, unknown = timed("ana"), timed("nobody")
    assert unknown > 0.5 * known  # without the dummy verification it would be ~100x faster


@pytest.mark.parametrize(
    ("username", "password", "role", "display", "says"),
    [
        ("sam", "short", Role.AGENT, None, "at least 12"),
        ("sam", "sam", Role.AGENT, None, "at least 12"),
        ("samantha.long", "SAMANTHA.LONG", Role.AGENT, None, "must not be the username"),
        ("sam", " " * 14, Role.AGENT, None, "only spaces"),
        ("sam", "y" * 1025, Role.AGENT, None, "too long"),
        ("s", PASSWORD, Role.AGENT, None, "2 to 64"),
        ("sam smith", PASSWORD, Role.AGENT, None, "lower-case"),
        ("<script>", PASSWORD, Role.AGENT, None, "lower-case"),
        ("sam", PASSWORD, "root", None, "agent, admin"),
        ("sam", PASSWORD, Role.AGENT, "x" * 65, "display name"),
        ("sam", PASSWORD, Role.AGENT, "bad\x00name", "printable"),
    ],
)
def test_bad_input_is_refused_with_the_fix(
    store: AccountStore, username: str, password: str, role: Role, display: str | None, says: str
) -> None:
    with pytest.raises(AccountError, match=says):
        store.create(username, password, role, display_name=display)
    assert store.list() == []


def test_duplicate_usernames_are_refused_case_insensitively(store: AccountStore) -> None:
    store.create("sam", PASSWORD, Role.AGENT)
    with pytest.raises(AccountError, match="taken"):
        store.create("SAM", PASSWORD, Role.ADMIN)
    assert [a.username for a in store.list()] == ["sam"]


def test_set_password_and_unknown_accounts(store: AccountStore) -> None:
    store.create("sam", PASSWORD, Role.AGENT)
    store.set_password("sam", "a brand new passphrase")
    assert store.authenticate("sam", PASSWORD) is None
    assert store.authenticate("sam", "a brand new passphrase") is not None
    with pytest.raises(AccountError, match="at least 12"):
        store.set_password("sam", "short")
    with pytest.raises(AccountError, match="list-users"):
        store.set_password("ghost", "a brand new passphrase")
    with pytest.raises(AccountError, match="list-users"):
        store.disable("ghost")
    assert store.get(999) is None


def test_old_hashes_are_upgraded_at_login(catalog_engine: Engine) -> None:
    weak = AccountStore(catalog_engine, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    weak.create("sam", PASSWORD, Role.AGENT)
    stronger = AccountStore(catalog_engine, hasher=PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1))
    assert stronger.authenticate("sam", PASSWORD) is not None
    with catalog_engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM staff_accounts")).scalar_one()
    assert "m=2048,t=2" in stored
    assert weak.authenticate("sam", PASSWORD) is not None


def test_default_hasher_is_argon2id(catalog_engine: Engine) -> None:
    AccountStore(catalog_engine).create("ana", PASSWORD, Role.ADMIN)
    with catalog_engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM staff_accounts")).scalar_one()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3")
