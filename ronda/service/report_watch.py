"""Watching users' reports while ronda runs: every `reports.interval`, each service a status
page offers for reports is assessed on the last ten minutes of its reports
(ronda/rules/surge.py), and surges that start, strengthen, move or end are stored with
what they do to incidents (ronda/storage/surges.py).

Baselines change only with the hour, so each service's history is read once an hour; the
ten minutes are read on every round (one small indexed query per service). A service with
no report in the window and no surge under way reads as normal without a look: one query
finds the services that have some, so that 100,000 quiet monitors cost one query a round.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ronda.clock import Clock, system_clock
from ronda.config.schema import ReportSettings
from ronda.rules.surge import LONG_HALVES, Assessment, History, Level, Surge, SurgeSettings, assess, hour_number, step
from ronda.storage.incidents import IncidentNotice, SurgeChange
from ronda.storage.report_counts import ReportCounts
from ronda.storage.surges import Surges

log = logging.getLogger("ronda")


@dataclass
class WatchSettings:
    surge: SurgeSettings = field(default_factory=SurgeSettings)
    interval: float = 30.0  # seconds between rounds
    open_at: Level = Level.LIKELY  # a surge this strong opens an incident when none is open
    min_sources: int = 5  # ... when its reports come from this many reporters at least
    min_spread: float = 300.0  # ... spread over this many seconds at least
    confirm: bool = False  # an incident the reports alone open waits for a person before anyone hears of it


@dataclass
class ReportWatch:
    counts: ReportCounts
    surges: Surges
    writer: Executor  # the store's one writer thread
    services: Callable[[], Iterable[str]]  # the services reports may be sent for, now
    planned: Callable[[str, datetime], bool]  # is the service inside a maintenance window?
    announce: Callable[[IncidentNotice], None]
    settings: Callable[[], WatchSettings] = WatchSettings
    clock: Clock = system_clock
    latest: dict[str, Assessment] = field(default_factory=dict)  # each service's last assessment
    _under_way: dict[str, Surge] | None = None
    _histories: dict[str, tuple[int, History]] = field(default_factory=dict)

    async def run(self) -> None:
        while True:
            try:
                await self.round()
            except Exception:  # a bad round must not end the watch; the next one tries again
                log.exception("assessing users' reports failed")
            await asyncio.sleep(self.settings().interval)

    async def round(self, now: datetime | None = None) -> None:
        """Assess every service once, at `now` (the clock's time by default)."""
        loop = asyncio.get_running_loop()
        now = now or self.clock()
        if self._under_way is None:
            self._under_way = await loop.run_in_executor(self.writer, self.surges.under_way)
        settings = self.settings()
        since = now - LONG_HALVES * settings.surge.half
        reported = await loop.run_in_executor(self.writer, self.counts.services_reported, since, now)
        candidates = reported | set(self._under_way)
        if not candidates:  # the usual round: nothing to assess, no need for the list of services
            return
        for service in sorted(candidates.intersection(self.services())):
            notices = await loop.run_in_executor(self.writer, self._assess, service, now, settings)
            for notice in notices:
                self.announce(notice)

    def _assess(self, service: str, now: datetime, settings: WatchSettings) -> list[IncidentNotice]:
        assert self._under_way is not None
        history = self._history(service, now, settings.surge)
        counts = self.counts.window(service, now, settings.surge.half)
        assessment = assess(now, counts, history, settings.surge)
        self.latest[service] = assessment
        surge = self._under_way.get(service)
        result = step(surge, assessment, now, settings.surge)
        if result.surge is None and not result.ended:
            return []
        if result.started:
            log.info("users' reports for %s: %s", service, assessment.level.word)
        planned = self.planned(service, now)
        window = 2 * settings.surge.half
        sources = self.counts.sources(service, now - window, now)
        change = SurgeChange(
            service,
            result,
            assessment,
            now,
            settings.open_at,
            window,
            planned,
            enough=sources.enough(settings.min_sources, settings.min_spread),
            confirm=settings.confirm,
        )
        notices = self.surges.apply(change)
        if result.surge is None:
            self._under_way.pop(service, None)
        else:
            self._under_way[service] = result.surge
        return notices

    def _history(self, service: str, now: datetime, settings: SurgeSettings) -> History:
        hour = hour_number(now)
        cached = self._histories.get(service)
        if cached is None or cached[0] != hour:
            cached = (hour, self.counts.history(service, now, settings.weeks))
            self._histories[service] = cached
        return cached[1]


def watch_settings(reports: ReportSettings) -> WatchSettings:
    """The config's `reports:` section as the watch reads it."""
    half = timedelta(seconds=reports.bucket)
    # Calm for three halves ends a surge: a quarter of an hour with the default five minutes.
    surge = SurgeSettings(half=half, floor_per_hour=reports.floor, calm=3 * half)
    return WatchSettings(
        surge,
        reports.interval,
        Level.named(reports.open_incident),
        reports.min_sources,
        reports.min_spread,
        reports.confirm_before_notify,
    )
