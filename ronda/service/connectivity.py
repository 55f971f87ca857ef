"""Is ronda itself connected? Canary targets (things that are up whenever ronda's own
network is: the configured resolver, the gateway, a well-known site of your own) are
checked on a schedule. When every canary fails, the fault is most likely on ronda's side
(its Wi-Fi, its uplink): ronda is offline, keeps checking and storing, and opens no
incidents about targets until it is back."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from ronda.check import run_check
from ronda.probes.base import ProbeContext, utc_now
from ronda.target import CheckOptions, Target
from ronda.verdict import Verdict, iso

log = logging.getLogger("ronda.connectivity")


def many_failing(failing: int, total: int) -> bool:
    """Half or more of several monitors failing at once: as likely ronda's own network as a
    coincidence, so ask the canaries now rather than at their next turn."""
    return total >= 4 and failing * 2 >= total


def reachable(verdict: Verdict) -> bool:
    """A canary is reachable when it works; a DNS canary when its server answers at all
    (NXDOMAIN and SERVFAIL are answers: only silence means the way there is cut)."""
    if verdict.target.startswith("dns://"):
        return verdict.cause != "dns_timeout"
    return verdict.status != "down"


def cut_off(verdicts: list[Verdict]) -> bool:
    """Offline when there are canaries and not one of them is reachable."""
    return bool(verdicts) and not any(reachable(v) for v in verdicts)


@dataclass
class Connectivity:
    canaries: list[Target]
    options: CheckOptions
    interval: float = 10.0
    context: ProbeContext = field(default_factory=ProbeContext)
    online: bool = True
    since: datetime = field(default_factory=utc_now)
    latest: list[Verdict] = field(default_factory=list)
    checked: float = 0.0  # time.monotonic() of the last look
    on_change: Callable[[bool, str, datetime], Awaitable[None]] | None = None  # online?, why, when

    async def run(self) -> None:
        """Check the canaries every `interval` seconds, until cancelled."""
        while self.canaries:
            await asyncio.sleep(self.interval)
            await self.check_once()

    async def recheck_if_many_fail(self, failing: int, total: int) -> None:
        """The share of monitors failing at once is the second signal: it brings the
        canaries' next look forward (at most every few seconds)."""
        if self.canaries and many_failing(failing, total) and time.monotonic() - self.checked > 3.0:
            await self.check_once()

    async def check_once(self) -> None:
        self.checked = time.monotonic()
        self.latest = list(await asyncio.gather(*(run_check(t, self.options, self.context) for t in self.canaries)))
        online = not cut_off(self.latest)
        if online != self.online:
            self.online, self.since = online, utc_now()
            why = (
                "canaries answer again" if online else "no canary answers: " + "; ".join(v.summary for v in self.latest)
            )
            log.log(
                logging.WARNING if online else logging.ERROR, "ronda is %s: %s", "online" if online else "offline", why
            )
            if self.on_change is not None:
                await self.on_change(online, why, self.since)

    def status(self) -> dict[str, object]:
        return {
            "online": self.online,
            "since": iso(self.since),
            "canaries": [{"target": v.target, "status": v.status, "cause": v.cause} for v in self.latest],
        }
