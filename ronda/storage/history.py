"""History that stays cheap: verdicts rolled up into per-hour and per-day counts, and raw
verdicts deleted once they are older than `retention.raw`.

Hours are rolled up in order, once whole and `GRACE` past (a check is stamped when it
starts and stored when it ends). The mark `rolled_until` says which: every hour before it
has its rows, so readers take the rollups before the mark and the raw verdicts after it
(ronda/storage/stats.py), each verdict counted once. One hour is rolled a chunk of
monitors per transaction (`rolling_monitor` says how far it has come), so the store's
one writer is never held for long. A verdict stored after its hour was rolled up (a push
sent late, an agent's buffer) is added to its rows in the transaction that stores it;
writers read the marks with a share lock and the roller takes them for update, so on
PostgreSQL an hour cannot be rolled between the two.

The marks are times, not verdict ids: PostgreSQL hands out ids before commit, so
concurrent writers commit them out of order and an id mark could pass one never seen.

Pruning deletes raw verdicts older than the retention, only ones already rolled up, never a
monitor's latest (its page shows it), a chunk of monitors per transaction, reading each
monitor's range of the (monitor, time) index. `raw_from` records the time before which
verdicts are gone, so readers know when exact percentiles are no longer possible. Changes
of state and incidents live in their own tables and are kept for good.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.expression import TableClause

from ronda.storage import histogram, partitions
from ronda.storage.models import MarkRow, MonitorRow, ResultRow, RollupRow
from ronda.verdict import as_utc

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
GRACE = timedelta(minutes=10)  # an hour is rolled up this long after it ends
CHUNK = 1_000  # monitors per transaction: the store's writer is shared with the checks


@dataclass(frozen=True)
class Marks:
    rolled_until: datetime | None = None  # every hour before this is rolled up (None: none yet)
    rolling_monitor: int = 0  # ... and the hour at the mark, for monitors up to this id
    raw_from: datetime | None = None  # verdicts checked before this are deleted (None: none yet)

    def rolled(self, monitor_id: int, at: datetime) -> bool:
        """Is a verdict of this monitor at this time in the rollups already?"""
        if self.rolled_until is None:
            return False
        return at < self.rolled_until or (hour_of(at) == self.rolled_until and monitor_id <= self.rolling_monitor)


@dataclass
class Tally:
    """One monitor's counts over one hour or day, as they are added up."""

    checks: int = 0
    up: int = 0
    degraded: int = 0
    down: int = 0
    answered: int = 0
    latency_sum: float = 0.0
    latency_min: float | None = None
    latency_max: float | None = None
    buckets: histogram.Buckets = field(default_factory=dict)

    def count(self, status: str, latency_ms: float | None) -> None:
        self.checks += 1
        if status == "up":
            self.up += 1
        elif status == "degraded":
            self.degraded += 1
        elif status == "down":
            self.down += 1
        if status != "down" and latency_ms is not None:
            self.answered += 1
            self.latency_sum += latency_ms
            self.latency_min = least(self.latency_min, latency_ms)
            self.latency_max = most(self.latency_max, latency_ms)
            histogram.add(self.buckets, [latency_ms])

    def add(self, row: Any, with_buckets: bool = True) -> None:
        """Add a rollup row's counts (a RollupRow, or a row of its columns)."""
        self.checks += row.checks
        self.up += row.up
        self.degraded += row.degraded
        self.down += row.down
        self.answered += row.answered
        self.latency_sum += row.latency_sum
        self.latency_min = least(self.latency_min, row.latency_min)
        self.latency_max = most(self.latency_max, row.latency_max)
        if with_buckets:
            histogram.merge(self.buckets, histogram.loaded(row.buckets))

    def fold_into(self, row: RollupRow) -> None:
        row.checks += self.checks
        row.up += self.up
        row.degraded += self.degraded
        row.down += self.down
        row.answered += self.answered
        row.latency_sum += self.latency_sum
        row.latency_min = least(row.latency_min, self.latency_min)
        row.latency_max = most(row.latency_max, self.latency_max)
        row.buckets = histogram.stored(histogram.merge(histogram.loaded(row.buckets), self.buckets))


def hour_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def read_marks(session: Session, lock: str | None = None) -> Marks:
    """The marks; `lock` "share" (a writer of verdicts) or "update" (the roller) on PostgreSQL."""
    query = select(MarkRow.name, MarkRow.value)
    if lock is not None:
        query = query.with_for_update(read=lock == "share")
    found: dict[str, int] = {name: value for name, value in session.execute(query)}
    return Marks(
        rolled_until=_time(found.get("rolled_until")),
        rolling_monitor=found.get("rolling_monitor", 0),
        raw_from=_time(found.get("raw_from")),
    )


def fold_late(
    session: Session, marks: Marks, monitor_id: int, status: str, at: datetime, latency: float | None
) -> None:
    """A verdict stored after its hour was rolled up: added to its hour and day rows."""
    if not marks.rolled(monitor_id, at):
        return
    tally = Tally()
    tally.count(status, latency)
    _fold(session, {(monitor_id, "hour", hour_of(at)): tally, (monitor_id, "day", day_of(at)): tally})


class History:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._partitioned: bool | None = None  # asked once: migrations run before the store opens

    def _is_partitioned(self, session: Session) -> bool:
        if self._partitioned is None:
            self._partitioned = partitions.partitioned(session)
        return self._partitioned

    def marks(self) -> Marks:
        with self._sessions() as session:
            return read_marks(session)

    def roll(self, now: datetime) -> bool:
        """Roll up the next chunk of monitors of the next hour due by `now`; False when
        there is none (caught up)."""
        with self._sessions.begin() as session:
            marks = read_marks(session, lock="update")
            hour = marks.rolled_until or _first_hour(session)
            if hour is None or hour + HOUR + GRACE > now:
                return False
            chunk = _monitors_after(session, marks.rolling_monitor)
            if chunk:
                _roll_hour(session, hour, chunk)
                _set_mark(session, "rolled_until", math.floor(hour.timestamp()))
                _set_mark(session, "rolling_monitor", chunk[-1])
            else:  # every monitor has this hour: on to the next
                _set_mark(session, "rolled_until", math.floor((hour + HOUR).timestamp()))
                _set_mark(session, "rolling_monitor", 0)
            return True

    def prepare(self, now: datetime) -> int:
        """On PostgreSQL, make the verdicts' day tables from yesterday to two days ahead;
        how many were made (ronda/storage/partitions.py)."""
        with self._sessions.begin() as session:
            if not self._is_partitioned(session):
                return 0
            today = day_of(now).date()
            return partitions.make_days(session, today - timedelta(days=1), today + timedelta(days=2))

    def prune(self, before: datetime, after_monitor: int = 0) -> tuple[int, int | None]:
        """Delete the verdicts of the next chunk of monitors after `after_monitor` that were
        checked before `before` and are rolled up, none a monitor's latest. Return how many,
        and the last monitor of the chunk (None: every monitor is done, `raw_from` is set).
        On PostgreSQL whole days go: the first call drops the tables of the days before
        `before`, and the chunks delete only what the default partition holds of them."""
        with self._sessions.begin() as session:
            marks = read_marks(session)
            if marks.rolled_until is None:
                return 0, None
            cutoff = min(before, marks.rolled_until)
            results, dropped = cast(TableClause, ResultRow.__table__), 0
            if self._is_partitioned(session):
                cutoff, results = day_of(cutoff), partitions.default_results
                if after_monitor == 0:
                    dropped = partitions.drop_days_before(session, cutoff.date())
            chunk = _monitors_after(session, after_monitor)
            if not chunk:
                if marks.raw_from is None or cutoff > marks.raw_from:
                    _set_mark(session, "raw_from", math.floor(cutoff.timestamp()))
                return dropped, None
            latest = select(MonitorRow.last_result_id).where(
                MonitorRow.id.in_(chunk), MonitorRow.last_result_id.is_not(None)
            )
            result = session.execute(
                delete(results).where(
                    results.c.monitor_id.in_(chunk), results.c.checked_at < cutoff, results.c.id.not_in(latest)
                )
            )
            return dropped + int(getattr(result, "rowcount", 0) or 0), chunk[-1]

    def prune_rollups(self, hours_before: datetime, days_before: datetime | None) -> None:
        """Delete hour rollups of hours before `hours_before`, day rollups before `days_before`."""
        with self._sessions.begin() as session:
            session.execute(delete(RollupRow).where(RollupRow.span == "hour", RollupRow.start < hours_before))
            if days_before is not None:
                session.execute(delete(RollupRow).where(RollupRow.span == "day", RollupRow.start < days_before))


def _monitors_after(session: Session, monitor_id: int) -> list[int]:
    """The next chunk of monitors by id, inactive ones too (their verdicts are history)."""
    query = select(MonitorRow.id).where(MonitorRow.id > monitor_id).order_by(MonitorRow.id).limit(CHUNK)
    return list(session.scalars(query))


def _first_hour(session: Session) -> datetime | None:
    first = session.scalar(select(func.min(MonitorRow.first_checked_at)))
    return None if first is None else hour_of(as_utc(first))


def _roll_hour(session: Session, hour: datetime, monitors: list[int]) -> None:
    """The hour's rows of these monitors, and the hour added to their days."""
    rows = session.execute(
        select(ResultRow.monitor_id, ResultRow.status, ResultRow.latency_ms).where(
            ResultRow.monitor_id.in_(monitors), ResultRow.checked_at >= hour, ResultRow.checked_at < hour + HOUR
        )
    )
    tallies: dict[int, Tally] = defaultdict(Tally)
    for monitor_id, status, latency_ms in rows:
        tallies[monitor_id].count(status, latency_ms)
    keyed: dict[tuple[int, str, datetime], Tally] = {}
    for monitor_id, tally in tallies.items():
        keyed[(monitor_id, "hour", hour)] = tally
        keyed[(monitor_id, "day", day_of(hour))] = tally
    _fold(session, keyed)


def _fold(session: Session, tallies: dict[tuple[int, str, datetime], Tally]) -> None:
    """Add the tallies into their rows, made where there is none yet."""
    keys = list(tallies)
    existing: dict[tuple[int, str, datetime], RollupRow] = {}
    for chunk in _chunks(keys, 500):
        found = session.scalars(
            select(RollupRow).where(tuple_(RollupRow.monitor_id, RollupRow.span, RollupRow.start).in_(chunk))
        )
        existing.update({(row.monitor_id, row.span, row.start): row for row in found})
    for key, tally in tallies.items():
        row = existing.get(key)
        if row is None:
            monitor_id, span, start = key
            row = RollupRow(
                monitor_id=monitor_id, span=span, start=start, checks=0, up=0, degraded=0, down=0, answered=0,
                latency_sum=0.0, latency_min=None, latency_max=None, buckets={},
            )  # fmt: skip
            session.add(row)
        tally.fold_into(row)


def _set_mark(session: Session, name: str, value: int) -> None:
    row = session.get(MarkRow, name)
    if row is None:
        session.add(MarkRow(name=name, value=value))
    else:
        row.value = value


def _time(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _chunks(items: list[tuple[int, str, datetime]], size: int) -> Iterable[list[tuple[int, str, datetime]]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def least(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def most(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)
