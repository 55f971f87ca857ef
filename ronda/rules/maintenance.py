"""Maintenance windows, pure: which window covers a monitor at an instant, and what is
planned ahead.

A recurring window's cron is read in its own zone the way Debian cron runs it (cronsim): a
fixed-time firing that falls in a spring-forward gap happens when the clock resumes (02:30 on
the day Europe/Rome skips 02:00-03:00 is 03:00), and one in an autumn repeated hour happens
once, the first time round. A window covers `at` when its latest firing at or before `at` is
less than `duration` ago; the latest firing ends last, so it alone decides, even when windows
overlap.

Verdicts arrive in time order, so each schedule remembers the stretch between the two firings
it last worked out: nearly every question falls inside it and costs two comparisons. What is
remembered depends only on the cron and the zone, so answers stay a function of the inputs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from cronsim import CronSim

from ronda.config.schema import MaintenanceWindow
from ronda.verdict import as_utc

Window = MaintenanceWindow
Planned = tuple[Window, datetime, datetime]  # a window, and one time it starts and ends (UTC)

_MICROSECOND = timedelta(microseconds=1)


def covers(window: Window, monitor_name: str, monitor_tags: Sequence[str]) -> bool:
    """Whether `window` is for this monitor: named, sharing a tag, or for everyone."""
    if not window.monitors and not window.tags:
        return True
    return window.names(monitor_name) or any(tag in window.tags for tag in monitor_tags)


def occurrence(window: Window, at: datetime) -> tuple[datetime, datetime] | None:
    """When the time of `window` that covers `at` starts and ends (UTC), or None."""
    at = as_utc(at)
    if window.cron is None:
        assert window.start is not None and window.end is not None  # the schema's promise
        return (window.start, window.end) if window.start <= at < window.end else None
    assert window.duration is not None
    firing = _schedule(window.cron, window.timezone).latest(at)
    if firing is None:
        return None
    end = firing + timedelta(seconds=window.duration)
    return (firing, end) if at < end else None


def active_window(
    windows: Sequence[Window], monitor_name: str, monitor_tags: Sequence[str], at: datetime
) -> Window | None:
    """The first window (in the config's order) that covers this monitor at `at`, or None.

    `at` is an instant; a naive one is taken as UTC, as the store does."""
    for window in windows:
        if occurrence(window, at) is not None and covers(window, monitor_name, monitor_tags):  # the cheaper first
            return window
    return None


def next_windows(windows: Sequence[Window], now: datetime, horizon: timedelta, limit: int = 100) -> list[Planned]:
    """Maintenance under way at `now` or starting within `horizon` of it, soonest first: at
    most `limit` times in all (a window every minute would otherwise fill a week with ten
    thousand)."""
    now = as_utc(now)
    until = now + horizon
    planned: list[tuple[datetime, datetime, int, Window]] = []
    for index, window in enumerate(windows):
        for start, end in _times(window, now, until, limit):
            planned.append((start, end, index, window))
    planned.sort(key=lambda item: item[:3])
    return [(window, start, end) for start, end, _, window in planned[:limit]]


def _times(window: Window, now: datetime, until: datetime, limit: int) -> Iterator[tuple[datetime, datetime]]:
    """The times of `window` that end after `now` and start before `until`."""
    if window.cron is None:
        assert window.start is not None and window.end is not None
        if window.end > now and window.start < until:
            yield window.start, window.end
        return
    assert window.duration is not None
    duration = timedelta(seconds=window.duration)
    for count, firing in enumerate(_schedule(window.cron, window.timezone).after(now - duration)):
        if firing >= until or count >= limit:
            return
        yield firing, firing + duration


@lru_cache(maxsize=1024)
def _schedule(cron: str, timezone: str) -> _Schedule:
    return _Schedule(cron, ZoneInfo(timezone))


def cron_schedule(cron: str, timezone: str) -> _Schedule:
    """A cron expression in an IANA zone, as UTC instants (`latest`, `after`): the same reading
    of DST for push monitors' cron (ronda/rules/heartbeats.py) as for maintenance windows."""
    return _schedule(cron, timezone)


class _Schedule:
    """A cron expression in a zone, as UTC instants."""

    def __init__(self, cron: str, zone: ZoneInfo) -> None:
        self.cron = cron
        self.zone = zone
        # (latest firing, the one after) last worked out: no firing falls between them.
        # Replaced whole, never changed in place, so threads may share it.
        self._stretch: tuple[datetime | None, datetime | None] | None = None

    def latest(self, at: datetime) -> datetime | None:
        """The latest firing at or before `at`, or None if there was none (in 50 years)."""
        stretch = self._stretch
        if stretch is not None:
            firing, following = stretch
            if (firing is None or firing <= at) and (following is None or at < following):
                return firing
        firing = self._latest(at)
        self._stretch = (firing, next(self.after(at if firing is None else firing), None))
        return firing

    def _latest(self, at: datetime) -> datetime | None:
        # cronsim walks back from `at` by the wall clock; in an autumn repeated hour that can
        # step over a firing made the first time round at a later wall time (02:30 CEST seen
        # from 02:10 CET), so walk forward from its answer to pick up any it missed.
        # + 1 µs: cronsim's reverse iteration starts strictly before the time it is given.
        for firing in CronSim(self.cron, (at + _MICROSECOND).astimezone(self.zone), reverse=True):
            latest = firing.astimezone(UTC)
            if latest <= at:
                break
        else:
            return None
        for later in self.after(latest):
            if later > at:
                break
            latest = later
        return latest

    def after(self, since: datetime) -> Iterator[datetime]:
        """Firings strictly after `since`, as UTC instants, in order, each once."""
        last = since
        # Forward iteration also goes by the wall clock: from inside a repeated hour it may
        # first offer a firing already past (the first time round), which is skipped.
        for firing in CronSim(self.cron, since.astimezone(self.zone)):
            instant = firing.astimezone(UTC)
            if instant > last:
                last = instant
                yield instant
