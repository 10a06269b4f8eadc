"""Login rate limiting: at most `max_failures` failed logins per client address and per username in a sliding window.

Both keys count, so one address cannot guess many accounts and many addresses cannot guess one account quickly.
In memory (one gateway process); the table of keys is bounded so a flood of random usernames cannot exhaust memory.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

MAX_KEYS = 50_000


class LoginRateLimiter:
    def __init__(
        self,
        max_failures: int = 5,
        window_s: float = 15 * 60,
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

    @staticmethod
    def keys(address: str, username: str) -> tuple[str, str]:
        return f"ip:{address}", f"user:{username.strip().lower()}"

    def retry_after(self, address: str, username: str) -> int | None:
        """Seconds until a login from `address` for `username` may be tried again; None when allowed now."""
        now = self._clock()
        waits = [self._wait(key, now) for key in self.keys(address, username)]
        longest = max(waits)
        return math.ceil(longest) if longest > 0 else None

    def failed(self, address: str, username: str) -> None:
        now = self._clock()
        for key in self.keys(address, username):
            times = self._failures.pop(key, None) or deque(maxlen=self._max)
            times.append(now)
            self._failures[key] = times  # most recently used last
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, address: str, username: str) -> None:
        """A correct login clears the username's count (the address keeps its count: it may be guessing others)."""
        self._failures.pop(self.keys(address, username)[1], None)

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
