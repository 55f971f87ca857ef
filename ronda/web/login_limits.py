"""How many logins are tried, and how many passwords are hashed at once.

**Slowed by address, never locked for everyone.** Failures are counted per client address
(any user names: one address guessing many accounts) and per address and user name (one
address guessing one account). Nothing counts failures per account alone: then five
failures from strangers would lock the account's owner out from everywhere, their own
address included. An attacker spread over many addresses is slowed instead by the hashing
below, which no address list can widen. Wrong second-factor codes are the exception: only
someone who knows the password reaches that step, so they are also counted per account,
which keeps a million codes out of reach of any number of addresses.

**Counted before the work.** An attempt is counted when it is let in, before the password
is hashed, in one step with the check (ronda/web/ratelimit.py); one that turns out right is
taken back. So of any number of parallel guesses exactly the limit is tried, and the rest
are refused 429 at once, without hashing.

**Hashing bounded.** argon2 is memory-hard on purpose (64 MiB a hash by default): 100
logins at once took 1 GB. Hashes run on a small pool of their own; a few logins may wait
for it, and more are refused 429 at once, whatever addresses they come from.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from ronda.web.clients import network_of
from ronda.web.ratelimit import SlidingWindowLimiter

WINDOW = 300.0  # seconds: failures older than this no longer count
PER_ADDRESS = 20  # failures from one address, whatever user names (an office behind one address)
PER_ADDRESS_AND_USER = 5  # failures for one user name from one address
PER_USER_CODES = 5  # wrong second-factor codes for one user, from anywhere
# Password hashes at once: at most 2 (2 x 64 MiB), and never on every core: argon2 runs
# outside the GIL at a core's full speed, and a crowd logging in must leave the checks one.
HASHING = min(2, max(1, (os.cpu_count() or 1) - 1))
HASH_QUEUE = 8  # logins that may wait for a hash; more are refused (each waits about 0.2 s a place)
# The hashing threads' nice value: on a busy machine they yield to the checks and the service's
# loop (a login waits a little longer), on an idle one they run at full speed all the same.
HASH_NICENESS = 10
NAME_KEY_LENGTH = 64  # a user name is at most this long; longer input must not make longer keys

T = TypeVar("T")


@dataclass
class Attempt:
    """One login step let in and counted as failed until it is known to have passed."""

    limits: LoginLimits
    keys: dict[SlidingWindowLimiter, str]

    def passed(self, finished: bool) -> None:
        """The password (or the code) was right: this attempt no longer counts; once the
        login is `finished`, the user's earlier failures from this address are forgotten too.
        (A password right while its second factor is still due resets nothing.)"""
        for limiter, key in self.keys.items():
            limiter.give_back(key)
        if finished:
            for limiter, key in self.keys.items():
                if limiter is not self.limits.by_address:
                    limiter.forget(key)

    def not_tried(self) -> None:
        """Refused before any check (the hashing was busy): it does not count."""
        for limiter, key in self.keys.items():
            limiter.give_back(key)


class LoginLimits:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.by_address = SlidingWindowLimiter(PER_ADDRESS, WINDOW, clock)
        self.by_address_and_user = SlidingWindowLimiter(PER_ADDRESS_AND_USER, WINDOW, clock)
        self.by_user_codes = SlidingWindowLimiter(PER_USER_CODES, WINDOW, clock)
        self._lock = threading.Lock()  # one decision over several limiters at a time

    def begin(self, address: str, username: str, second_factor: bool = False) -> Attempt | int:
        """Let a login step in (counted), or the seconds to wait when a limit is reached."""
        source, name = network_of(address), username.lower()[:NAME_KEY_LENGTH]
        keys = {self.by_address: source, self.by_address_and_user: f"{name}@{source}"}
        if second_factor:
            keys[self.by_user_codes] = name
        with self._lock:
            wait = max(limiter.retry_after(key) for limiter, key in keys.items())
            if wait:
                return wait
            for limiter, key in keys.items():
                limiter.record(key)
        return Attempt(self, keys)


class HashingBusy(Exception):
    """Too many logins are waiting for a password hash: answered 429."""


def _yield_cpu() -> None:
    """Lower this thread's priority (HASH_NICENESS). Linux gives each thread a nice value of
    its own; elsewhere, or where it is not permitted, the thread keeps the process's."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_NICENESS)


class PasswordWork:
    """A bounded pool for password hashing, with a bounded queue in front of it."""

    def __init__(self, workers: int = HASHING, queue: int = HASH_QUEUE) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ronda-hash", initializer=_yield_cpu)
        self._capacity = workers + queue
        self._taken = 0
        self._lock = threading.Lock()

    async def run(self, work: Callable[..., T], *args: object) -> T:
        with self._lock:
            if self._taken >= self._capacity:
                raise HashingBusy
            self._taken += 1
        # The place is given back when the hash ends, not when the request does: a client
        # that hangs up does not stop its hash, and the queue must count it till it ends.
        future = self._pool.submit(work, *args)
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def _release(self, _future: Future[Any]) -> None:
        with self._lock:
            self._taken -= 1
