"""Heartbeats, pure: when a push monitor's job is next expected to call, and whether it is late.

A job calls its push URL when it runs (`/start` when it begins, the bare URL when it succeeds,
`/fail` when it fails). It is expected `period` after its last call, or at the next time its
`cron` fires (read in its own time zone, as Debian cron runs it: see ronda/rules/maintenance.py,
whose cron schedules these are); `grace` later it is late, and that is a missed heartbeat. A
job that said it started and has not finished within `grace` is late too (it hangs, or died
without a word).

After a missed heartbeat the clock goes on from the time the job was expected, so each
expected run that passes without a call is one more missed heartbeat, and a ronda stopped
for a week reports the latest one on its return, not a burst of hundreds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ronda.durations import format_duration
from ronda.rules.maintenance import cron_schedule


@dataclass(frozen=True)
class HeartbeatSchedule:
    """When a job runs: every `period` seconds, or at each time `cron` fires in `timezone`;
    `grace` seconds after that without a call, it is late."""

    grace: float
    period: float | None = None
    cron: str | None = None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if (self.period is None) == (self.cron is None):
            raise ValueError("a heartbeat schedule has a period or a cron, one of the two")

    def next_expected(self, after: datetime) -> datetime:
        """The first time the job is due strictly after `after` (UTC)."""
        if self.period is not None:
            return after + timedelta(seconds=self.period)
        assert self.cron is not None
        return next(cron_schedule(self.cron, self.timezone).after(after))

    def latest_expected(self, after: datetime, until: datetime) -> datetime | None:
        """The latest time the job was due after `after` and at or before `until`, if any."""
        if self.period is not None:
            slots = math.floor((until - after).total_seconds() / self.period)
            return after + timedelta(seconds=slots * self.period) if slots >= 1 else None
        assert self.cron is not None
        latest = cron_schedule(self.cron, self.timezone).latest(until)
        return latest if latest is not None and latest > after else None

    def describe(self) -> str:
        """'every 1 d, grace 1 h', 'cron 0 3 * * * (Europe/Rome), grace 1 h'."""
        when = (
            f"every {format_duration(self.period)}"
            if self.period is not None
            else f"cron {self.cron} ({self.timezone})"
        )
        return f"{when}, grace {format_duration(self.grace)}"


@dataclass(frozen=True)
class Heartbeat:
    """What is known of a job's calls."""

    watching_since: datetime  # when ronda began watching: before any call, the clock starts here
    last_call: datetime | None = None  # its latest report, success or failure
    started: datetime | None = None  # its latest /start
    missed: datetime | None = None  # when it was expected, at the latest missed heartbeat since last_call

    @property
    def reference(self) -> datetime:
        """The time the next expected run is counted from: the latest call or missed run, and
        only before either, when ronda began watching (a restart must not restart the clock)."""
        known = [t for t in (self.last_call, self.missed) if t is not None]
        return max(known) if known else self.watching_since

    @property
    def running_since(self) -> datetime | None:
        """When a run began that has neither finished nor been reported late."""
        if self.started is None or any(t is not None and t >= self.started for t in (self.last_call, self.missed)):
            return None
        return self.started


@dataclass(frozen=True)
class Due:
    """When the job is expected, and when it is late (`by`, grace included)."""

    expected: datetime
    by: datetime
    running_since: datetime | None = None  # set when the run in progress is what is awaited


def due(schedule: HeartbeatSchedule, heartbeat: Heartbeat) -> Due:
    """The next call awaited: the next scheduled run, or sooner the end of a run in progress."""
    grace = timedelta(seconds=schedule.grace)
    expected = schedule.next_expected(heartbeat.reference)
    started = heartbeat.running_since
    if started is None:
        return Due(expected, expected + grace)
    # Late `grace` after it started, or after it was due if that came first (a run that
    # began late does not move the deadline), as Healthchecks counts.
    first = min(started, expected)
    return Due(first, first + grace, running_since=started)


def overdue(schedule: HeartbeatSchedule, heartbeat: Heartbeat, now: datetime) -> Due | None:
    """The missed heartbeat to report at `now`, or None while the job is not late. Of several
    runs missed in a row, the latest: one report for a gap, however long."""
    awaited = due(schedule, heartbeat)
    if now < awaited.by:
        return None
    if awaited.running_since is not None:
        return awaited
    grace = timedelta(seconds=schedule.grace)
    latest = schedule.latest_expected(heartbeat.reference, now - grace) or awaited.expected
    return Due(latest, latest + grace)


def after_missed(heartbeat: Heartbeat, missed: Due) -> Heartbeat:
    """The heartbeat once `missed` was reported: the clock goes on from when the job was
    expected, or from when the late run began (one report for it, not one more a grace later)."""
    since = missed.expected if missed.running_since is None else max(missed.expected, missed.running_since)
    return Heartbeat(heartbeat.watching_since, heartbeat.last_call, heartbeat.started, since)


# -- words -----------------------------------------------------------------------------------


def when(moment: datetime, since: datetime | None = None) -> str:
    """'2026-12-01 03:00 UTC', or only '04:00 UTC' on the same day as `since`; seconds when
    the time has them (short periods)."""
    moment = moment.astimezone(UTC)
    clock = "%H:%M" if moment.second == 0 and (since is None or since.second == 0) else "%H:%M:%S"
    same_day = since is not None and since.astimezone(UTC).date() == moment.date()
    return moment.strftime(clock if same_day else f"%Y-%m-%d {clock}") + " UTC"


def missed_summary(name: str, heartbeat: Heartbeat, missed: Due) -> str:
    """'no heartbeat from nightly-backup since 2026-11-30 03:00 UTC; expected by 2026-12-01
    04:00 UTC', 'nightly-backup started 2026-12-01 03:00 UTC, no success yet; expected by 04:00 UTC'."""
    if missed.running_since is not None:
        started = missed.running_since
        return f"{name} started {when(started)}, no success yet; expected by {when(missed.by, started)}"
    if heartbeat.last_call is None:
        return f"no heartbeat from {name} yet; expected by {when(missed.by)}"
    last = heartbeat.last_call
    return f"no heartbeat from {name} since {when(last)}; expected by {when(missed.by, last)}"


def run_time(heartbeat: Heartbeat, finished: datetime) -> float | None:
    """Seconds the run that finishes at `finished` took, when the job said it started."""
    started = heartbeat.started
    if started is None or started > finished or (heartbeat.last_call is not None and heartbeat.last_call >= started):
        return None
    return (finished - started).total_seconds()
