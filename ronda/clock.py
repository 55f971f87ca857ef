"""The one wall clock.

Everything in ronda that needs "now" takes a `Clock` and calls it; only `system_clock`
reads the machine's time, and only the process's entry points (the CLI, the service, the
demo) hand it in. Tests pass a clock of their own to pin a moment for every part they
touch. Deadlines and timeouts measure spans with `time.monotonic()`, which is no "now":
it never dates anything that is stored or shown.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns the current moment, timezone-aware in UTC."""


def system_clock() -> datetime:
    return datetime.now(UTC)
