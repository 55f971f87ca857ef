"""When to try a notice again after its channel failed: exponential backoff with jitter."""

from __future__ import annotations

from dataclasses import dataclass

from ronda import defaults


@dataclass(frozen=True)
class Backoff:
    first: float = defaults.NOTIFY_RETRY_FIRST  # seconds to wait after the first failure
    max: float = defaults.NOTIFY_RETRY_MAX  # the wait never grows past this

    def delay(self, attempts: int, jitter: float) -> float:
        """Seconds to wait after `attempts` failed attempts (1 or more). `jitter` in [0, 1)
        shortens the wait by up to a quarter, so notices that failed together do not all
        come back at the same instant; it never lengthens it past `max`."""
        doubled = self.first * 2.0 ** min(max(attempts, 1) - 1, 60)  # the bound keeps the float finite
        return min(doubled, self.max) * (1.0 - 0.25 * jitter)
