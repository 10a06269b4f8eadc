"""The console's small building blocks on their own: rate limiter, session store, `next` checking."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from assistant.console.accounts import AccountStore, Role
from assistant.console.web.auth import safe_next
from assistant.console.web.ratelimit import (
    LimiterUnavailable,
    LoginLimiter,
    LoginRateLimiter,
    RedisLoginRateLimiter,
    make_limiter,
)
from assistant.console.web.sessions import SessionStore, hash_token
from catalog.db import make_engine
from catalog.migrate import upgrade
from tests.assistant.console.conftest import postgres_url  # noqa: F401  (fixture)
from tests.assistant.console.web.conftest import FAST_HASHER, PASSWORD


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


REDIS_URL = "redis://127.0.0.1:6379/0"


def limiters(kind: str, clock: Clock, max_failures: int) -> tuple[LoginLimiter, LoginLimiter]:
    """Two limiters as two gateway processes would have them: separate in memory, one count through Redis."""
    if kind == "memory":
        one = LoginRateLimiter(max_failures=max_failures, window_s=60, clock=clock)
        return one, one
    prefix = f"test:login:{secrets.token_hex(6)}:"
    return tuple(  # type: ignore[return-value]
        RedisLoginRateLimiter(REDIS_URL, max_failures=max_failures, window_s=60, clock=clock, prefix=prefix)
        for _ in range(2)
    )


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_rate_limit_counts_per_address_and_per_username_in_a_sliding_window(kind: str) -> None:
    clock = Clock()
    here, there = limiters(kind, clock, max_failures=3)
    for _ in range(3):
        assert await there.retry_after("10.0.0.1", "alex") is None
        await here.failed("10.0.0.1", "alex")
        clock.now += 1
    assert await there.retry_after("10.0.0.1", "alex") == 57  # (with Redis: failures on one process block the other)
    assert await there.retry_after("10.0.0.2", "ALEX ") == 57  # another address, same account: still blocked
    assert await there.retry_after("10.0.0.1", "sam") == 57  # same address, another account: still blocked
    assert await there.retry_after("10.0.0.2", "sam") is None
    clock.now += 57
    assert await there.retry_after("10.0.0.1", "alex") is None  # the window slid past the first failures
    await here.aclose()
    await there.aclose()


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_rate_limit_success_clears_the_username(kind: str) -> None:
    here, there = limiters(kind, Clock(), max_failures=2)
    await here.failed("a", "alex")
    await there.succeeded("a", "alex")
    await here.failed("b", "alex")
    assert await there.retry_after("c", "alex") is None
    await here.aclose()
    await there.aclose()


async def test_rate_limit_keys_in_memory_are_bounded() -> None:
    limiter = LoginRateLimiter(max_failures=2, window_s=60, clock=Clock(), max_keys=10)
    for i in range(100):
        await limiter.failed(f"ip{i}", f"user{i}")
    assert len(limiter._failures) <= 10
    with pytest.raises(ValueError):
        LoginRateLimiter(max_failures=0)
    with pytest.raises(ValueError):
        RedisLoginRateLimiter(REDIS_URL, window_s=0)


async def test_an_unreachable_redis_refuses_rather_than_lets_guesses_through() -> None:
    limiter = RedisLoginRateLimiter("redis://127.0.0.1:1/0", timeout_s=0.5)
    with pytest.raises(LimiterUnavailable, match="redis-server"):
        await limiter.retry_after("10.0.0.1", "alex")
    with pytest.raises(LimiterUnavailable):
        await limiter.failed("10.0.0.1", "alex")
    await limiter.aclose()
    assert isinstance(make_limiter(None), LoginRateLimiter)
    shared = make_limiter(REDIS_URL)
    assert isinstance(shared, RedisLoginRateLimiter)
    await shared.aclose()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, "/staff/"),
        ("/staff/conversations/web-1?x=1", "/staff/conversations/web-1?x=1"),
        ("//evil.example/staff/", "/staff/"),
        ("https://evil.example/staff/", "/staff/"),
        ("/staff\\..\\", "/staff/"),
        ("/elsewhere", "/staff/"),
        ("/staff/\r\nSet-Cookie: x", "/staff/"),
    ],
)
def test_safe_next_keeps_redirects_inside_the_console(raw: str | None, expected: str) -> None:
    assert safe_next(raw) == expected


def test_session_store_keeps_only_hashes_and_expires(catalog_engine: Engine) -> None:
    check_session_store(catalog_engine)


@pytest.mark.postgres
def test_session_store_on_postgresql(postgres_url: str) -> None:  # noqa: F811
    engine = make_engine(postgres_url)
    try:
        upgrade(engine)
        check_session_store(engine)
    finally:
        engine.dispose()


def check_session_store(catalog_engine: Engine) -> None:
    account = AccountStore(catalog_engine, hasher=FAST_HASHER).create("alex", PASSWORD, Role.AGENT)
    now = [datetime(2024, 1, 1, 12, 0)]
    store = SessionStore(catalog_engine, timedelta(minutes=30), clock=lambda: now[0])
    created = store.create(account.id)
    assert created.session.token_hash == hash_token(created.token) != created.token
    now[0] += timedelta(minutes=20)
    found = store.lookup(created.token)
    assert found is not None and found.expires_at == now[0] + timedelta(minutes=30)  # slid
    now[0] += timedelta(minutes=29)
    assert store.is_live(created.session.token_hash)
    now[0] += timedelta(minutes=2)
    assert not store.is_live(created.session.token_hash)  # is_live never slides the expiry
    now[0] -= timedelta(minutes=2)
    assert store.lookup(created.token) is not None
    now[0] += timedelta(minutes=31)
    assert store.lookup(created.token) is None
    assert store.lookup(created.token) is None
    assert store.lookup("") is None and store.lookup("x" * 500) is None
    other = store.create(account.id)
    assert store.delete_for_account(account.id) == 1
    assert store.lookup(other.token) is None
    with pytest.raises(ValueError):
        SessionStore(catalog_engine, timedelta(0))
