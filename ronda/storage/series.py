"""A monitor's checks over a span, counted per slot of equal length, and its incidents in
that span: what the response-time chart of its page draws (ronda/web/charts.py).

Where a slot's counts come from depends on its length, so a chart reads a bounded number of
rows whatever the monitor's interval (a check every 500 ms is 172,800 verdicts a day):
- slots shorter than an hour (the last hour, the last day): the raw verdicts, counted per
  slot by the database, one row back per slot (ix_results_monitor_time covers the status
  and latency it reads);
- hour slots (a week): the hour rollups before the `rolled_until` mark, one row a slot, and
  the raw verdicts from the mark on, counted per slot;
- day slots (90 days): the day rollups of the days before the mark's day, the hour rollups
  from that day to the mark, and the raw verdicts from the mark on.
As in ronda/storage/stats.py, each check counts once: rollups before the mark, raw verdicts
from it. Raw verdicts are kept `retention.raw` (3 days by default), so the hour and day
charts read what is kept; the week and 90 days read rollups, kept 90 days at least.

Slots start on whole multiples of their length since the epoch (UTC hours and days), and
are keyed by that multiple. SQLite and PostgreSQL spell "seconds since the epoch"
differently, as ronda/storage/report_counts.py says; the stored times are UTC on both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Integer, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from ronda.records import WindowFigures
from ronda.storage.arrivals import UnknownMonitor
from ronda.storage.history import DAY, HOUR, Tally, day_of, read_marks
from ronda.storage.models import IncidentRow, MonitorRow, ResultRow, RollupRow
from ronda.storage.stats import window_figures
from ronda.verdict import as_utc

# Incidents one chart shades at most, the latest: a flapping monitor is one incident, so
# this many in a span is already a wall of red.
PERIODS_AT_MOST = 500


@dataclass(frozen=True)
class Slot:
    """The checks of one slot [start, start + length): counts per status, and the response
    times of the answered ones (not down, with a latency)."""

    start: datetime
    checks: int
    up: int
    degraded: int
    down: int
    answered: int
    latency_avg_ms: float | None
    latency_max_ms: float | None


@dataclass(frozen=True)
class Period:
    """An incident of the monitor in the span: from its first failed check to the check that
    resolved it (None: open), in its worst severity (down or degraded)."""

    start: datetime
    end: datetime | None
    severity: str
    cause: str | None
    planned: bool  # inside a maintenance window


@dataclass(frozen=True)
class SpanChecks:
    """What a span's chart draws: its slots with checks, oldest first, the incidents that
    overlap it, and the span's figures (counts, median) as the uptime table computes them."""

    since: datetime
    until: datetime
    slot: timedelta
    slots: tuple[Slot, ...]
    periods: tuple[Period, ...]
    figures: WindowFigures


class Series:
    def __init__(self, sessions: sessionmaker[Session], dialect: str) -> None:
        self._sessions = sessions
        self._dialect = dialect

    def span(self, name: str, since: datetime, until: datetime, slot: timedelta) -> SpanChecks:
        """The monitor's checks in [since, until] per `slot` (since on a slot's start), its
        incidents overlapping the span; UnknownMonitor if there is no such monitor."""
        with self._sessions() as session:
            monitor_id = session.scalar(select(MonitorRow.id).where(MonitorRow.name == name))
            if monitor_id is None:
                raise UnknownMonitor(name)
            tallies = self._tallies(session, monitor_id, since, until, slot)
            slots = tuple(_slot(key, slot, tally) for key, tally in sorted(tallies.items()) if tally.checks)
            periods = _periods(session, monitor_id, since, until)
            figures = window_figures(session, monitor_id, since, until)
        return SpanChecks(since, until, slot, slots, periods, figures)

    def _tallies(
        self, session: Session, monitor_id: int, since: datetime, until: datetime, slot: timedelta
    ) -> dict[int, Tally]:
        """Each slot's counts, keyed by its start's multiple of `slot` since the epoch."""
        tallies: dict[int, Tally] = {}
        raw_from = since
        if slot >= HOUR:
            rolled_until = read_marks(session).rolled_until
            raw_from = min(max(rolled_until or since, since), until)
            for span, start, end in _rollup_ranges(since, raw_from, slot):
                for row in _rollups(session, monitor_id, span, start, end):
                    tallies.setdefault(_key(row.start, slot), Tally()).add(row, with_buckets=False)
        for row in self._raw_per_slot(session, monitor_id, raw_from, until, slot):
            tallies.setdefault(int(row.slot), Tally()).add(row, with_buckets=False)
        return tallies

    def _raw_per_slot(
        self, session: Session, monitor_id: int, since: datetime, until: datetime, slot: timedelta
    ) -> list[Any]:
        """The raw verdicts in [since, until] counted per slot, by the database."""
        answered = and_(ResultRow.status != "down", ResultRow.latency_ms.is_not(None))
        latency = case((answered, ResultRow.latency_ms))  # NULL otherwise: aggregates skip it
        key = (self._epoch() // int(slot.total_seconds())).label("slot")
        query = (
            select(
                key,
                func.count().label("checks"),
                _count_where(ResultRow.status == "up").label("up"),
                _count_where(ResultRow.status == "degraded").label("degraded"),
                _count_where(ResultRow.status == "down").label("down"),
                func.count(latency).label("answered"),
                func.coalesce(func.sum(latency), 0.0).label("latency_sum"),
                func.min(latency).label("latency_min"),
                func.max(latency).label("latency_max"),
            )
            .where(ResultRow.monitor_id == monitor_id, ResultRow.checked_at >= since, ResultRow.checked_at <= until)
            .group_by(key)
        )
        return list(session.execute(query))

    def _epoch(self) -> ColumnElement[Any]:
        if self._dialect == "postgresql":
            # floor(): a cast would round 14:29:59.6 into the next second, and so the next slot.
            return cast(func.floor(func.extract("epoch", ResultRow.checked_at)), BigInteger)
        return cast(func.strftime("%s", ResultRow.checked_at), Integer)


def _rollup_ranges(since: datetime, rolled_until: datetime, slot: timedelta) -> list[tuple[str, datetime, datetime]]:
    """Which rollups cover [since, rolled_until): hour rows for hour slots; for day slots the
    day rows of the whole days before the mark's day (complete: every hour of them is rolled
    up) and the hour rows of the mark's day."""
    if slot < DAY:
        return [("hour", since, rolled_until)]
    whole_days_until = max(day_of(rolled_until), since)
    return [("day", since, whole_days_until), ("hour", whole_days_until, rolled_until)]


def _rollups(session: Session, monitor_id: int, span: str, start: datetime, end: datetime) -> list[Any]:
    if start >= end:
        return []
    columns = [RollupRow.start, RollupRow.checks, RollupRow.up, RollupRow.degraded, RollupRow.down]
    columns += [RollupRow.answered, RollupRow.latency_sum, RollupRow.latency_min, RollupRow.latency_max]
    return list(
        session.execute(
            select(*columns).where(
                RollupRow.monitor_id == monitor_id,
                RollupRow.span == span,
                RollupRow.start >= start,
                RollupRow.start < end,
            )
        )
    )


def _periods(session: Session, monitor_id: int, since: datetime, until: datetime) -> tuple[Period, ...]:
    """The monitor's own incidents overlapping [since, until], oldest first. Those that users'
    reports alone opened are left out: no check of the monitor failed in them."""
    rows = session.execute(
        select(IncidentRow.opened_at, IncidentRow.resolved_at, IncidentRow.severity)
        .add_columns(IncidentRow.cause, IncidentRow.planned)
        .where(
            IncidentRow.monitor_id == monitor_id,
            IncidentRow.signal != "reports",
            IncidentRow.opened_at <= until,
            or_(IncidentRow.resolved_at.is_(None), IncidentRow.resolved_at >= since),
        )
        .order_by(IncidentRow.opened_at.desc(), IncidentRow.id.desc())
        .limit(PERIODS_AT_MOST)
    ).all()
    return tuple(
        Period(as_utc(row.opened_at), as_utc(row.resolved_at) if row.resolved_at else None, *row[2:])
        for row in reversed(rows)
    )


def _key(at: datetime, slot: timedelta) -> int:
    return int(as_utc(at).timestamp()) // int(slot.total_seconds())


def _slot(key: int, slot: timedelta, tally: Tally) -> Slot:
    average = tally.latency_sum / tally.answered if tally.answered else None
    start = datetime.fromtimestamp(key * int(slot.total_seconds()), UTC)
    return Slot(start, tally.checks, tally.up, tally.degraded, tally.down, tally.answered, average, tally.latency_max)


def _count_where(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((condition, 1), else_=0))
