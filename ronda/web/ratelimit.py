"""Events counted per key in a sliding window: failed logins per client address and per
address and user name, problem reports per source and in all.

In memory, on purpose: one process serves the web face, so the counts need no sharing;
writing each attempt to the database would hand an attacker a way to make ronda write; and
a restart that forgets the counts gives back at most one window of attempts.

Every method holds one lock: requests are answered from many threads at once, and a check
followed by a record that another thread can come between lets a burst of parallel
attempts all pass the check before any is recorded (100 parallel guesses had 31 tried
under a limit of 5). `take` checks and records in one step.

Strangers choose the keys (addresses, user names), so the table is bounded: keys are kept
in the order they were last seen (an event, or a refusal), those whose events all left the
window are dropped from the front as new events come (a flood of distinct addresses leaves
only the window's keys behind), and past `max_keys` keys still in their window the least
recently seen is forgotten: a stranger spread over that many addresses gains nothing by it
that the addresses themselves did not give (each has a limit of its own). A key's events
take about 0.9 KiB, so the default bound holds a limiter under 9 MiB.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

MAX_KEYS = 10_000  # keys within their window kept at most; past this the least recently seen go


class SlidingWindowLimiter:
    """`limit` events within `window` seconds block the key until the oldest leaves it.
    `limit` and `window` may be changed at any time (a reload): the next call uses them."""

    def __init__(
        self,
        limit: int = 5,
        window: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._clock = clock
        self._events: dict[str, deque[float]] = {}  # in the order each key was last seen
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Keys kept (for tests and the docs' figures)."""
        with self._lock:
            return len(self._events)

    def retry_after(self, *keys: str) -> int:
        """Seconds until every key may try again; 0 when none is blocked."""
        with self._lock:
            return self._retry_after(keys, self._clock())

    def record(self, *keys: str) -> None:
        """One event for each key, now."""
        with self._lock:
            self._record(keys, self._clock())

    def take(self, *keys: str) -> int:
        """At once: when no key is blocked, one event for each and 0; else the seconds to
        wait, and nothing recorded."""
        with self._lock:
            now = self._clock()
            wait = self._retry_after(keys, now)
            if not wait:
                self._record(keys, now)
            return wait

    def give_back(self, *keys: str) -> None:
        """Take back each key's latest event (an attempt `take` counted that turned out fine)."""
        with self._lock:
            for key in keys:
                times = self._events.get(key)
                if times:
                    times.pop()

    def forget(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)

    def _retry_after(self, keys: tuple[str, ...], now: float) -> int:
        return max((self._wait(key, now) for key in keys), default=0)

    def _record(self, keys: tuple[str, ...], now: float) -> None:
        for key in keys:
            self._recent(key, now).append(now)
            self._touch(key)
            self._make_room(now)

    def _wait(self, key: str, now: float) -> int:
        if key not in self._events:
            return 0
        recent = self._recent(key, now)
        if len(recent) < self.limit:
            return 0
        self._touch(key)  # refused, yet seen: a flooder's count is the last to be forgotten
        return max(1, math.ceil(recent[-self.limit] + self.window - now))

    def _touch(self, key: str) -> None:
        """To the end of the table: seen now."""
        self._events[key] = self._events.pop(key)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._events.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def _make_room(self, now: float) -> None:
        """Drop the keys at the front whose latest event left the window (each is dropped
        once: the work is one step per key ever recorded), then the least recently seen
        while more than `max_keys` are kept."""
        while self._events:
            oldest, times = next(iter(self._events.items()))
            idle = not times or times[-1] <= now - self.window
            if not idle and len(self._events) <= self.max_keys:
                return
            del self._events[oldest]


class FailureLimiter(SlidingWindowLimiter):
    """Failed logins: each failure is recorded, a success forgets the key's failures."""

    failed = SlidingWindowLimiter.record
    succeeded = SlidingWindowLimiter.forget
