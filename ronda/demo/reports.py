"""The demo's users: weeks of usual problem reports written into the database at start (so
the surge detector has a baseline to compare with), then a live stream of reports posted to
ronda's own `POST /api/v1/reports`, each from its own loopback address as real visitors would
be, with a surge from four US states while the app's back end fails (the Blink shape).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from ronda.demo.visitor import post
from ronda.storage.models import ReportRow
from ronda.world.reports import poisson, ten_regions

USUAL_PER_HOUR = 60.0  # a report a minute, for each service
SURGE_PER_SECOND = 4.0
SURGE_REGIONS = ("US-CA", "US-TX", "US-NY", "US-FL")
PROBLEMS = ("app_error", "cannot_connect", "cannot_login", "slow", "notifications", "other")


def seed_history(engine: Engine, services: list[str], now: datetime, weeks: int = 3) -> int:
    """`weeks` of the usual reports per hour for each service, as if people had been sending
    them all along (one row per report: the detector counts rows); nothing when the database
    has reports already (a demo run again on the same --data). Returns how many were written."""
    with engine.connect() as connection:
        if connection.execute(select(func.count()).select_from(ReportRow)).scalar():
            return 0
    rng = random.Random(2025)
    regions = ten_regions()
    rows = []
    for hour in range(weeks * 7 * 24, 0, -1):
        start = now - timedelta(hours=hour)
        for service in services:
            for k in range(poisson(rng, USUAL_PER_HOUR)):
                rows.append(
                    {
                        "service": service,
                        "region": rng.choices(list(regions), list(regions.values()))[0],
                        "problem": rng.choice(PROBLEMS),
                        "comment": None,
                        "reporter_hash": f"demo-{hour}-{k}",
                        "received_at": start + timedelta(seconds=rng.random() * 3600),
                    }
                )
    with engine.begin() as connection:
        connection.execute(insert(ReportRow), rows)
    return len(rows)


class ReportFeed:
    """Posts reports to ronda once a second: the usual trickle for every service, and a
    surge for the service `surging()` names while it names one (the demo's timeline)."""

    def __init__(self, listen: str, services: list[str], surging: Callable[[], str | None]) -> None:
        self.host, _, port = listen.rpartition(":")
        self.port = int(port)
        self.services = services
        self.surging = surging
        self.sent = 0
        self._rng = random.Random(7)
        self._regions = ten_regions()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for service in self.services:
                for _ in range(poisson(self._rng, USUAL_PER_HOUR / 3600)):
                    await self._post(service, self._region(), self._rng.choice(PROBLEMS))
            surging = self.surging()
            if surging is not None:
                for k in range(poisson(self._rng, SURGE_PER_SECOND)):
                    await self._post(surging, SURGE_REGIONS[k % len(SURGE_REGIONS)], "app_error")

    def _region(self) -> str:
        return self._rng.choices(list(self._regions), list(self._regions.values()))[0]

    async def _post(self, service: str, region: str, problem: str) -> None:
        """One report from the next loopback address (127.1.x.y): one visitor each."""
        self.sent += 1
        source = f"127.1.{self.sent // 250 % 250}.{self.sent % 250 + 1}"
        body = json.dumps({"service": service, "region": region, "problem": problem}).encode()
        await post(self.host, self.port, "/api/v1/reports", body, source)
