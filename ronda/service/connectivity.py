"""Is ronda itself connected? Canary targets (things that are up whenever ronda's own
network is: the configured resolver, the gateway, a well-known site of your own) are
checked on a schedule. When every canary fails, the fault is most likely on ronda's side
(its Wi-Fi, its uplink): ronda is offline, keeps checking and storing, and opens no
incidents about targets until it is back.

A canary this machine cannot check (ping not permitted) proves nothing either way: it is
left out of the decision, and said once."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from ronda.check import run_check
from ronda.errors import RondaError
from ronda.probes.base import ProbeContext
from ronda.target import CheckOptions, Target
from ronda.verdict import Verdict, iso

log = logging.getLogger("ronda.connectivity")

ROUTE_TABLE = Path("/proc/net/route")  # the kernel's IPv4 routes, one a line
_RTF_UP, _RTF_GATEWAY = 0x1, 0x2


def gateway_from_routes(table: str, byteorder: Literal["little", "big"] = sys.byteorder) -> str | None:
    """The gateway of the IPv4 default route in the text of /proc/net/route (the lowest metric
    when there are several), or None. The kernel writes addresses as hex numbers in the
    machine's own byte order; lines it would not route by (down, no gateway) do not count."""
    routes: list[tuple[int, int]] = []  # (metric, gateway)
    for line in table.splitlines()[1:]:
        fields = line.split()
        try:
            destination, gateway, flags, mask = (int(fields[i], 16) for i in (1, 2, 3, 7))
            metric = int(fields[6])
        except (IndexError, ValueError):
            continue
        wanted = _RTF_UP | _RTF_GATEWAY
        if destination == 0 and mask == 0 and flags & wanted == wanted and gateway:
            routes.append((metric, gateway))
    if not routes:
        return None
    return str(ipaddress.IPv4Address(min(routes)[1].to_bytes(4, byteorder)))


def default_gateway(route_table: Path) -> str | None:
    """The default route's gateway; None where the table cannot be read (not Linux)."""
    try:
        return gateway_from_routes(route_table.read_text())
    except OSError:
        return None


def gateway_address(setting: str, route_table: Path) -> str | None:
    """The config's `gateway`: `auto` is the default route's, `none` none, else the address."""
    if setting == "none":
        return None
    return default_gateway(route_table) if setting == "auto" else setting


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
    since: datetime = field(init=False)  # when `online` last changed: at first, the start
    latest: list[Verdict] = field(default_factory=list)
    checked: float = 0.0  # time.monotonic() of the last look
    unusable: dict[str, str] = field(default_factory=dict)  # canary -> why this machine cannot check it
    on_change: Callable[[bool, str, datetime], Awaitable[None]] | None = None  # online?, why, when

    def __post_init__(self) -> None:
        self.since = self.context.clock()

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
        looks = await asyncio.gather(*(self._look(canary) for canary in self.canaries))
        self.latest = [verdict for verdict in looks if verdict is not None]
        online = not cut_off(self.latest)
        if online != self.online:
            self.online, self.since = online, self.context.clock()
            why = (
                "canaries answer again" if online else "no canary answers: " + "; ".join(v.summary for v in self.latest)
            )
            log.log(
                logging.WARNING if online else logging.ERROR, "ronda is %s: %s", "online" if online else "offline", why
            )
            if self.on_change is not None:
                await self.on_change(online, why, self.since)

    async def _look(self, canary: Target) -> Verdict | None:
        """The canary's verdict, or None when this machine cannot check it."""
        try:
            verdict = await run_check(canary, self.options, self.context)
        except RondaError as exc:
            if canary.url not in self.unusable:
                log.warning("canary %s is left out: %s", canary.url, exc)
            self.unusable[canary.url] = str(exc)
            return None
        self.unusable.pop(canary.url, None)
        return verdict

    def status(self) -> dict[str, object]:
        checked = [
            {"target": v.target, "status": v.status, "cause": v.cause, "reachable": reachable(v)} for v in self.latest
        ]
        # Read from the web face's thread while the checks' thread may change it: a copy first.
        unusable = dict(self.unusable)
        left_out = [{"target": url, "status": "unknown", "cause": None, "detail": why} for url, why in unusable.items()]
        return {"online": self.online, "since": iso(self.since), "canaries": checked + left_out}
