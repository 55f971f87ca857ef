"""Failed logins counted per key (a client address, a user name) in a sliding window.

In memory, on purpose: one process serves the web face, so the counts need no sharing;
writing each failed attempt to the database would hand an attacker a way to make ronda
write; and a restart that forgets the counts gives back at most one window of attempts.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

MAX_KEYS = 10_000  # past this many keys, idle ones are dropped: the table cannot grow without bound


class FailureLimiter:
    """`limit` failures within `window` seconds block the key until the oldest leaves it."""

    def __init__(self, limit: int = 5, window: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window = limit, window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, *keys: str) -> int:
        """Seconds until every key may try again; 0 when none is blocked."""
        now = self._clock()
        waits = [self._wait(key, now) for key in keys]
        return max(waits, default=0)

    def failed(self, *keys: str) -> None:
        now = self._clock()
        if len(self._failures) >= MAX_KEYS:
            self._prune(now)
        for key in keys:
            self._recent(key, now).append(now)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def _wait(self, key: str, now: float) -> int:
        if key not in self._failures:
            return 0
        recent = self._recent(key, now)
        if len(recent) < self.limit:
            return 0
        return max(1, math.ceil(recent[-self.limit] + self.window - now))

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            if not self._recent(key, now):
                del self._failures[key]
