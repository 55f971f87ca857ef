"""Address lookups kept for their records' TTL, and one query for checks that ask at once.

Every check of a name used to ask the resolver afresh, although the answer it got a moment
ago is good for its TTL: with a few hundred monitors on a few names that is most of their
DNS traffic and a measurable share of each check's CPU (docs/benchmarks.md, HTTPS). Kept here:

- answers with addresses, for their TTL (the smallest along a CNAME chain, as dnspython
  reports it), at most MAX_TTL, read off time.monotonic() (or the clock a test injects);
- an answer that a name has no records of a type (AAAA, for most) for the negative TTL its
  zone's SOA gives (RFC 2308), and not at all without one;
- nothing that failed: NXDOMAIN, SERVFAIL and silence are never kept, so a DNS failure
  reaches every check that asks after it, and a recovery too;
- keys that carry everything the answer depends on (the nameserver asked, or the system
  configuration's nameservers and search list, the name and the record type), so monitors
  whose `nameserver:` or system configuration differ never see each other's answers.
  (`resolve:` pins and the hosts file are read before the cache, at every check.)

Lookups of one key already under way are joined, not repeated: the query runs as a task of
its own, so a check that gives up (its deadline, a cancelled check) does not cancel it for
the others, and each asker waits only as long as its own deadline allows.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

MAX_TTL = 300.0  # seconds: a record with a day's TTL is still asked again within five minutes
KEPT = 10_000  # answers kept at most, the oldest dropped first

T = TypeVar("T")


class DnsCache:
    """`lookup(key, ask)`: a kept answer for `key`, else the one `ask()` gives, kept for the
    TTL it returns with it (0: not kept)."""

    def __init__(self, now: Callable[[], float] = time.monotonic, max_ttl: float = MAX_TTL) -> None:
        self._now = now
        self._max_ttl = max_ttl
        self._kept: OrderedDict[Hashable, tuple[float, object]] = OrderedDict()  # key -> (until, answer)
        self._asking: dict[Hashable, asyncio.Task[tuple[object, float]]] = {}
        self.queries = 0  # lookups that reached `ask`, for tests and the benchmark

    async def lookup(self, key: Hashable, ask: Callable[[], Awaitable[tuple[T, float]]]) -> T:
        kept = self._kept.get(key)
        if kept is not None:
            until, answer = kept
            if until > self._now():
                return answer  # type: ignore[return-value]
            del self._kept[key]
        task = self._asking.get(key)
        if task is None or task.get_loop() is not asyncio.get_running_loop():
            task = asyncio.get_running_loop().create_task(self._ask(key, ask))
            self._asking[key] = task
        answer, _ = await asyncio.shield(task)
        return answer  # type: ignore[return-value]

    async def _ask(self, key: Hashable, ask: Callable[[], Awaitable[tuple[object, float]]]) -> tuple[object, float]:
        self.queries += 1
        try:
            answer, ttl = await ask()
        finally:
            if self._asking.get(key) is asyncio.current_task():
                del self._asking[key]
        ttl = min(ttl, self._max_ttl)
        if ttl > 0:
            self._kept[key] = (self._now() + ttl, answer)
            self._kept.move_to_end(key)
            while len(self._kept) > KEPT:
                self._kept.popitem(last=False)
        return answer, ttl
