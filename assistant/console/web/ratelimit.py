"""Login rate limiting: at most `max_failures` failed logins per client address and per username in a sliding window.

Both keys count, so one address cannot guess many accounts and many addresses cannot guess one account quickly.
`LoginRateLimiter` keeps the counts in memory (one gateway process; the table of keys is bounded so a flood of random
usernames cannot exhaust memory); `RedisLoginRateLimiter` keeps them in Redis (`REDIS_URL`), so several gateway
processes share one count: an attacker spreading guesses over the processes behind a load balancer gets no more.
`make_limiter(redis_url)` picks one. A Redis that cannot be reached makes the check raise `LimiterUnavailable`
(the login page answers 503): failing open would let guessing through while Redis is down.
"""

from __future__ import annotations

import math
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

MAX_KEYS = 50_000
MAX_FAILURES = 5
WINDOW_S = 15 * 60


class LimiterUnavailable(Exception):
    """The shared login counts cannot be read or written (Redis down)."""


class LoginLimiter(Protocol):
    async def retry_after(self, address: str, username: str) -> int | None:
        """Seconds until a login from `address` for `username` may be tried again; None when allowed now."""
        ...

    async def failed(self, address: str, username: str) -> None: ...

    async def succeeded(self, address: str, username: str) -> None:
        """A correct login clears the username's count (the address keeps its count: it may be guessing others)."""
        ...

    async def aclose(self) -> None: ...


def login_keys(address: str, username: str) -> tuple[str, str]:
    return f"ip:{address}", f"user:{username.strip().lower()}"


class LoginRateLimiter:
    """In memory, for one gateway process."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        if max_failures < 1 or window_s <= 0:
            raise ValueError("max_failures must be ≥ 1 and window_s > 0")
        self._max = max_failures
        self._window = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    async def retry_after(self, address: str, username: str) -> int | None:
        now = self._clock()
        longest = max(self._wait(key, now) for key in login_keys(address, username))
        return math.ceil(longest) if longest > 0 else None

    async def failed(self, address: str, username: str) -> None:
        now = self._clock()
        for key in login_keys(address, username):
            times = self._failures.pop(key, None) or deque(maxlen=self._max)
            times.append(now)
            self._failures[key] = times  # most recently used last
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    async def succeeded(self, address: str, username: str) -> None:
        self._failures.pop(login_keys(address, username)[1], None)

    async def aclose(self) -> None:
        """Nothing to release (the same interface as `RedisLoginRateLimiter`)."""

    def _wait(self, key: str, now: float) -> float:
        times = self._failures.get(key)
        if not times:
            return 0.0
        while times and now - times[0] >= self._window:
            times.popleft()
        if not times:
            del self._failures[key]
            return 0.0
        if len(times) < self._max:
            return 0.0
        return self._window - (now - times[0])


class RedisLoginRateLimiter:
    """The same rule with the counts in Redis: one sorted set of failure times per key, trimmed to the newest
    `max_failures` and expiring with the window, so every gateway process sees every failure."""

    def __init__(
        self,
        url: str,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.time,
        prefix: str = "shopassist:login:",
        timeout_s: float = 2.0,
    ) -> None:
        if max_failures < 1 or window_s <= 0:
            raise ValueError("max_failures must be ≥ 1 and window_s > 0")
        self._url = url
        self._max = max_failures
        self._window = window_s
        self._clock = clock  # wall-clock time: the processes share it, unlike monotonic clocks
        self._prefix = prefix
        self._redis = aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)

    async def retry_after(self, address: str, username: str) -> int | None:
        now = self._clock()
        longest = 0.0
        try:
            for key in login_keys(address, username):
                name = self._prefix + key
                pipe = self._redis.pipeline()
                pipe.zremrangebyscore(name, "-inf", now - self._window)
                pipe.zcard(name)
                pipe.zrange(name, 0, 0, withscores=True)
                _, count, oldest = await pipe.execute()
                if count >= self._max and oldest:
                    longest = max(longest, self._window - (now - float(oldest[0][1])))
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        return math.ceil(longest) if longest > 0 else None

    async def failed(self, address: str, username: str) -> None:
        now = self._clock()
        try:
            pipe = self._redis.pipeline()
            for key in login_keys(address, username):
                name = self._prefix + key
                pipe.zadd(name, {f"{now:.6f}:{secrets.token_hex(4)}": now})
                pipe.zremrangebyrank(name, 0, -(self._max + 1))  # keep the newest max_failures
                pipe.expire(name, math.ceil(self._window))
            await pipe.execute()
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    async def succeeded(self, address: str, username: str) -> None:
        try:
            await self._redis.delete(self._prefix + login_keys(address, username)[1])
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    async def aclose(self) -> None:
        await self._redis.aclose()

    def _unavailable(self, exc: Exception) -> LimiterUnavailable:
        return LimiterUnavailable(f"login counts at {self._url}: {exc}; is redis-server running?")


def make_limiter(redis_url: str | None) -> LoginLimiter:
    """Counts shared through Redis when `redis_url` is set (several gateway processes), else in this process."""
    return RedisLoginRateLimiter(redis_url) if redis_url else LoginRateLimiter()
