"""OAuth2 access tokens kept until they expire, and one request to the token endpoint for
the checks that need a token at once.

A token is asked of its endpoint once, then used by every check of every monitor with the
same client until a little before it expires (by the clock the context was handed: a test
moves it), or until the API refuses it (a 401: the token was revoked early): the check that
met the refusal asks for a new one, once. A failed request is never kept, so the next check
asks again. Like DNS answers (dnscache.py), a request under way is joined, not repeated: it
runs as a task of its own, and each asker waits only as long as its own deadline allows.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ronda.verdict import Finding

KEPT = 10_000  # tokens kept at most (one per client: a config has few), the oldest dropped first
DEFAULT_LIFETIME = 300.0  # seconds, for an answer without expires_in (RFC 6749 leaves it to the server)
EARLY = 60.0  # seconds before its expiry a token is no longer used (a tenth of a shorter life)


@dataclass(frozen=True)
class Token:
    value: str = field(repr=False)
    until: datetime  # used until then, a little before it expires


@dataclass(frozen=True)
class Refusal:
    """Why no token came: the findings of the request to the token endpoint."""

    findings: tuple[Finding, ...]


Fetched = Token | Refusal


def token_until(now: datetime, expires_in: float | None) -> datetime:
    life = DEFAULT_LIFETIME if expires_in is None else max(expires_in, 0.0)
    return now + timedelta(seconds=life - min(EARLY, life / 10))


class TokenCache:
    """`token(key, now, fetch)`: a kept token for `key`, else what `fetch()` gives (a token
    is kept, a refusal is not). `rejected`: a token the API refused, never handed out again."""

    def __init__(self) -> None:
        self._kept: OrderedDict[Hashable, Token] = OrderedDict()
        self._asking: dict[Hashable, asyncio.Task[Fetched]] = {}
        self.fetches = 0  # requests that reached the endpoint, for tests

    async def token(
        self,
        key: Hashable,
        now: datetime,
        fetch: Callable[[], Awaitable[Fetched]],
        deadline: float,
        rejected: str | None = None,
    ) -> Fetched | None:
        """The token, a refusal, or None when `deadline` came first."""
        kept = self._kept.get(key)
        if kept is not None and kept.until > now and kept.value != rejected:
            return kept
        task = self._asking.get(key)
        if task is None or task.get_loop() is not asyncio.get_running_loop():
            task = asyncio.get_running_loop().create_task(self._fetch(key, fetch))
            self._asking[key] = task
        try:
            async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
                return await asyncio.shield(task)
        except TimeoutError:
            return None

    async def _fetch(self, key: Hashable, fetch: Callable[[], Awaitable[Fetched]]) -> Fetched:
        self.fetches += 1
        try:
            fetched = await fetch()
        finally:
            if self._asking.get(key) is asyncio.current_task():
                del self._asking[key]
        if isinstance(fetched, Token):
            self._kept[key] = fetched
            self._kept.move_to_end(key)
            while len(self._kept) > KEPT:
                self._kept.popitem(last=False)
        else:
            self._kept.pop(key, None)
        return fetched
