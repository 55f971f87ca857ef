"""Counting users' reports for the surge detector and the charts: per hour over weeks, per
region lately, in the last ten minutes, per five minutes over a day. Every query reads a range
of `ix_reports_service_time` (service, received_at) and lets the database count.

Times are grouped by whole seconds since the epoch, divided by the bucket's length: SQLite
and PostgreSQL spell "seconds since the epoch" differently (`strftime('%s')`, `EXTRACT(EPOCH)`),
so `_epoch` picks the spelling; the stored times are UTC without a zone on both.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Integer, case, cast, func, select
from sqlalchemy.orm import Session, sessionmaker

from ronda.rules.surge import HOUR_S, LONG_HALVES, Counts, History, Sources, hour_number
from ronda.storage.models import MonitorRow, ReportRow
from ronda.verdict import as_utc

SHARE_WINDOW = timedelta(days=28)  # regions' shares are learned from this much of the past


def _nothing() -> object:
    return None


class ReportCounts:
    def __init__(
        self, sessions: sessionmaker[Session], dialect: str, before_read: Callable[[], object] = _nothing
    ) -> None:
        self._sessions = sessions
        self._dialect = dialect  # the database's name for "seconds since the epoch" differs
        # Writes the reports still waiting in memory (ronda/storage/reports.py), so that every
        # count includes each report accepted before it was asked for.
        self._before_read = before_read

    def _epoch(self) -> ColumnElement[Any]:
        if self._dialect == "postgresql":
            # EXTRACT gives fractional seconds, and a cast to an integer rounds them: a report
            # at 14:29:59.6 would count in the 14:30 bucket. floor() truncates, as SQLite's
            # strftime('%s') does.
            return cast(func.floor(func.extract("epoch", ReportRow.received_at)), BigInteger)
        return cast(func.strftime("%s", ReportRow.received_at), Integer)

    def per_bucket(self, service: str, since: datetime, until: datetime, seconds: int) -> dict[int, int]:
        """Reports in [since, until) per bucket of `seconds` (keyed by epoch seconds // seconds)."""
        bucket = (self._epoch() // seconds).label("bucket")
        self._before_read()
        with self._sessions() as session:
            rows = session.execute(
                select(bucket, func.count())
                .where(ReportRow.service == service, ReportRow.received_at >= since, ReportRow.received_at < until)
                .group_by(bucket)
            )
            return {int(key): count for key, count in rows}

    def services(self) -> set[str]:
        """The services with any report kept: the others' charts need no reading."""
        self._before_read()  # reports still on their way to the store count too
        with self._sessions() as session:
            return set(session.scalars(select(ReportRow.service).distinct()))

    def history(self, service: str, now: datetime, weeks: int, extra: timedelta = timedelta(0)) -> History:
        """The complete hours before `now` the baseline learns from, the regions' recent
        reports, and since when ronda has known the service (its first report or check).
        `extra`: that much more of the past, for the baselines of hours before this one."""
        this_hour = datetime.fromtimestamp(hour_number(now) * HOUR_S, now.tzinfo)
        since = this_hour - timedelta(weeks=weeks, hours=1) - extra
        hourly = self.per_bucket(service, since, this_hour, HOUR_S)
        self._before_read()
        with self._sessions() as session:
            regions = dict(
                session.execute(
                    select(ReportRow.region, func.count())
                    .where(ReportRow.service == service, ReportRow.received_at >= now - SHARE_WINDOW)
                    .group_by(ReportRow.region)
                ).all()
            )
            first_report = session.scalar(select(func.min(ReportRow.received_at)).where(ReportRow.service == service))
            first_check = session.scalar(select(MonitorRow.first_checked_at).where(MonitorRow.name == service))
        known = [as_utc(at) for at in (first_report, first_check) if at is not None]
        start = hour_number(min(known)) if known else hour_number(now)
        return History(start, hourly, {region: int(n) for region, n in regions.items()})

    def services_reported(self, since: datetime, until: datetime) -> set[str]:
        """The services with a report in (since, until]."""
        self._before_read()
        with self._sessions() as session:
            return set(
                session.scalars(
                    select(ReportRow.service)
                    .where(ReportRow.received_at > since, ReportRow.received_at <= until)
                    .distinct()
                )
            )

    def window(self, service: str, now: datetime, half: timedelta) -> Counts:
        """The reports of the two halves of (now - 2 half, now], in total and per region, and
        of the halves before them for the longer look (surge.LONG_HALVES in all)."""
        middle, start, first = now - half, now - 2 * half, now - LONG_HALVES * half
        part = case((ReportRow.received_at > middle, 2), (ReportRow.received_at > start, 1), else_=0)
        self._before_read()
        with self._sessions() as session:
            rows = session.execute(
                select(ReportRow.region, part, func.count())
                .where(ReportRow.service == service, ReportRow.received_at > first, ReportRow.received_at <= now)
                .group_by(ReportRow.region, part)
            ).all()
        parts: dict[str, list[int]] = {}
        for region, which, count in rows:
            parts.setdefault(region, [0, 0, 0])[int(which)] += count
        regions = {region: (p[1], p[2]) for region, p in parts.items() if p[1] or p[2]}
        before = {region: p[0] for region, p in parts.items() if p[0]}
        return Counts(
            sum(p[1] for p in parts.values()),
            sum(p[2] for p in parts.values()),
            regions,
            sum(before.values()),
            before,
        )

    def sources(self, service: str, since: datetime, until: datetime) -> Sources:
        """How many distinct reporters sent the reports in (since, until], and over how long."""
        with self._sessions() as session:
            distinct, first, last = session.execute(
                select(
                    func.count(ReportRow.reporter_hash.distinct()),
                    func.min(ReportRow.received_at),
                    func.max(ReportRow.received_at),
                ).where(ReportRow.service == service, ReportRow.received_at > since, ReportRow.received_at <= until)
            ).one()
        spread = (as_utc(last) - as_utc(first)).total_seconds() if first is not None and last is not None else 0.0
        return Sources(int(distinct), spread)

    def top(self, service: str, since: datetime, limit: int = 5) -> dict[str, list[tuple[str, int]]]:
        """The most reported problems and regions since `since`, most first."""
        self._before_read()
        with self._sessions() as session:
            out = {}
            for key, column in (("problems", ReportRow.problem), ("regions", ReportRow.region)):
                rows = session.execute(
                    select(column, func.count())
                    .where(ReportRow.service == service, ReportRow.received_at >= since)
                    .group_by(column)
                ).all()
                counted = Counter({value: int(n) for value, n in rows})
                out[key] = counted.most_common(limit)
            return out
