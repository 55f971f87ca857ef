"""Uptime and response times of one monitor over 24 h, 7 d, 30 d and 90 d, computed by the
database from the stored results: nothing is loaded row by row.

Figures are per check: every check counts once, standing for its own interval, whatever
that interval was (no weighting by time between checks). A window is the half-open range
(now - span, now] of `checked_at`; every vantage point's checks count.

- `uptime`: percent of checks that were not down (up + degraded). Degraded means the
  service answered, with a problem; it is kept apart in its own count.
- `availability_strict`: percent of checks that were up, degraded counted against it.
- A certificate warning (expiring soon, say) leaves a verdict up, so it never counts as
  downtime: only the stored status decides.
- `latency_ms`: over the checks that were not down and have a latency. A down check's
  latency is how long it took to fail (up to the timeout), not a response time. The
  percentiles are nearest-rank: the value at rank ceil(p/100 × n) in ascending order.
- With no checks in a window, the percentages are null (unknown, not 100); with no
  answered checks, the latency figures are.

Where the figures come from (ronda/storage/history.py rolls verdicts up):
- the hour rollups of the window's whole hours before the `rolled_until` mark, summed;
- the raw verdicts of the rest: the partial hour at the start and everything from the mark
  on, read as two ranges of index `ix_results_monitor_time` (monitor_id, checked_at).
Counts, averages, minimum and maximum are exact either way. Percentiles are exact while
the window's raw verdicts are all kept (its start is after `raw_from`): one ROW_NUMBER()
OVER (ORDER BY latency_ms) of the answered checks, keeping the rows at the percentiles'
ranks, so one sort serves every percentile (bench/uptime_query.py measured the other
ways). A window that reaches past `raw_from` starts on its first whole hour (the verdicts
before are gone) and reads its percentiles from the rollups' histograms, within about 9 %
(ronda/storage/histogram.py).

Portable SQL through SQLAlchemy Core, for SQLite (3.25+) and PostgreSQL alike. The uptime
bars read day rollups, hour rollups and the raw verdicts after the mark, one query each
for every monitor a page shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from ronda.records import DayFigures, Latency, UptimeReport, WindowFigures
from ronda.storage import histogram
from ronda.storage.history import HOUR, Tally, day_of, hour_of, least, most, read_marks
from ronda.storage.models import ResultRow, RollupRow

WINDOWS: dict[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
PERCENTILES: dict[str, int] = {"p50": 50, "p95": 95}


def uptime_report(session: Session, monitor: str, monitor_id: int, now: datetime) -> UptimeReport:
    """Every window's figures up to `now` (aware), keyed by window name."""
    windows = {name: window_figures(session, monitor_id, now - span, now) for name, span in WINDOWS.items()}
    return UptimeReport(monitor, now, windows)


def window_figures(session: Session, monitor_id: int, since: datetime, until: datetime) -> WindowFigures:
    """Counts, percentages and response times of the checks in (since, until]: the hour
    rollups of the whole hours inside, and the raw verdicts of the rest (see `_split`)."""
    split = _split(session, since, until)
    rolled = _rolled_figures(session, monitor_id, split)
    raw_part = and_(ResultRow.monitor_id == monitor_id, split.raw)
    answered = and_(ResultRow.status != "down", ResultRow.latency_ms.is_not(None))
    answered_latency = case((answered, ResultRow.latency_ms))  # NULL otherwise: aggregates skip it
    row = session.execute(
        select(
            func.count(),
            _count_where(ResultRow.status == "up"),
            _count_where(ResultRow.status == "degraded"),
            _count_where(ResultRow.status == "down"),
            func.count(answered_latency),
            func.sum(answered_latency),
            func.min(answered_latency),
            func.max(answered_latency),
        ).where(raw_part)
    ).one()
    checks, up, degraded, down, n_answered, total, low, high = (
        _sum(rolled.checks, row[0]), _sum(rolled.up, row[1]), _sum(rolled.degraded, row[2]),
        _sum(rolled.down, row[3]), _sum(rolled.answered, row[4]), _sum(rolled.latency_sum, row[5]),
        least(rolled.latency_min, row[6]), most(rolled.latency_max, row[7]),
    )  # fmt: skip
    in_window = and_(ResultRow.monitor_id == monitor_id, ResultRow.checked_at > since, ResultRow.checked_at <= until)
    if split.exact:
        ranked = _percentiles(session, and_(in_window, answered), int(n_answered))
    else:
        latencies = session.scalars(select(ResultRow.latency_ms).where(raw_part, answered))
        ranked = _bucket_percentiles(histogram.add(rolled.buckets, (ms for ms in latencies if ms is not None)))
    average = None if not n_answered else total / n_answered
    latency = {"avg": average, "min": low, "max": high} | ranked
    rounded = {key: None if value is None else round(float(value), 1) for key, value in latency.items()}
    checks = int(checks)
    return WindowFigures(
        since=since,
        checks=checks,
        up=int(up),
        degraded=int(degraded),
        down=int(down),
        uptime=_percent(checks - int(down), checks),
        availability_strict=_percent(int(up), checks),
        latency_ms=Latency(**rounded),
    )


@dataclass(frozen=True)
class Split:
    """Where a window's figures come from: the hour rollups of [hours_from, hours_until),
    and the raw verdicts `raw` selects (the partial hours at either end, and those not yet
    rolled up). `exact`: every raw verdict of the window is still kept, so percentiles can
    be exact; otherwise they come from the histograms and the window starts on its first
    hour (the verdicts before are gone)."""

    hours_from: datetime
    hours_until: datetime
    raw: ColumnElement[bool]
    exact: bool


def _split(session: Session, since: datetime, until: datetime) -> Split:
    marks = read_marks(session)
    exact = marks.raw_from is None or since >= marks.raw_from
    hours_from = hour_of(since) + HOUR if exact else hour_of(since)
    rolled_until = marks.rolled_until or hours_from
    hours_until = max(min(hour_of(until), rolled_until), hours_from)
    raw = or_(
        and_(ResultRow.checked_at > since, ResultRow.checked_at < hours_from),
        and_(ResultRow.checked_at >= hours_until, ResultRow.checked_at <= until),
    )
    return Split(hours_from, hours_until, raw, exact)


def _rolled_figures(session: Session, monitor_id: int, split: Split) -> Tally:
    """The sums of the monitor's hour rollups in the split's whole hours (their histograms
    only when percentiles are read from them)."""
    rolled = Tally()
    if split.hours_until <= split.hours_from:
        return rolled
    columns: list[Any] = [RollupRow.checks, RollupRow.up, RollupRow.degraded, RollupRow.down, RollupRow.answered]
    columns += [RollupRow.latency_sum, RollupRow.latency_min, RollupRow.latency_max]
    if not split.exact:
        columns.append(RollupRow.buckets)
    rows = session.execute(
        select(*columns).where(
            RollupRow.monitor_id == monitor_id,
            RollupRow.span == "hour",
            RollupRow.start >= split.hours_from,
            RollupRow.start < split.hours_until,
        )
    )
    for row in rows:
        rolled.add(row, with_buckets=not split.exact)
    return rolled


def _bucket_percentiles(buckets: histogram.Buckets) -> dict[str, float | None]:
    return {name: histogram.percentile(buckets, p) for name, p in PERCENTILES.items()}


def _sum(a: float, b: float | None) -> float:
    return a + (b or 0)


def _count_where(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((condition, 1), else_=0))


def _percentiles(session: Session, where: ColumnElement[bool], n: int) -> dict[str, float | None]:
    """Nearest-rank percentiles of the `n` latencies `where` selects: the value at rank
    ceil(p/100 × n), from one sort."""
    if n == 0:
        return dict.fromkeys(PERCENTILES)
    ranks = {name: (p * n + 99) // 100 for name, p in PERCENTILES.items()}  # ceil without floats
    ranked = (
        select(ResultRow.latency_ms, func.row_number().over(order_by=ResultRow.latency_ms).label("rank"))
        .where(where)
        .subquery()
    )
    rows = session.execute(
        select(ranked.c.rank, ranked.c.latency_ms).where(ranked.c.rank.in_(sorted(set(ranks.values()))))
    )
    found = {rank: latency for rank, latency in rows}
    return {name: found[rank] for name, rank in ranks.items()}


def _percent(part: int, whole: int) -> float | None:
    return None if whole == 0 else 100.0 * part / whole


def daily_uptime(session: Session, monitor_id: int, now: datetime, days: int = 90) -> list[DayFigures]:
    """One bucket per UTC day for the last `days` days up to `now`, oldest first: the
    uptime bars of the dashboard and the status page. Days without checks are listed too,
    with no figures (unknown, not 100%)."""
    return daily_uptime_many(session, [monitor_id], now, days)[monitor_id]


def daily_uptime_many(
    session: Session, monitor_ids: list[int], now: datetime, days: int = 90
) -> dict[int, list[DayFigures]]:
    """`daily_uptime` of many monitors at once (a status page or the board draws every
    monitor's bars): day rollups, hour rollups and the raw verdicts not yet rolled up, each
    read in one query for all."""
    first = day_of(now) - timedelta(days=days - 1)
    marks = read_marks(session)
    # Day rows before the day of the mark, hour rows up to the mark, raw verdicts after it.
    rolled_until = max(min(marks.rolled_until or first, hour_of(now)), first)
    found: dict[int, dict[str, list[int]]] = {monitor_id: {} for monitor_id in monitor_ids}

    def count(monitor_id: int, at: date | datetime | str, checks: int, degraded: int, down: int) -> None:
        day = found[monitor_id].setdefault(str(at)[:10], [0, 0, 0])
        day[0], day[1], day[2] = day[0] + checks, day[1] + (degraded or 0), day[2] + (down or 0)

    for span, since, until in (("day", first, day_of(rolled_until)), ("hour", day_of(rolled_until), rolled_until)):
        rows = session.execute(
            select(RollupRow.monitor_id, RollupRow.start, RollupRow.checks, RollupRow.degraded, RollupRow.down).where(
                RollupRow.monitor_id.in_(monitor_ids),
                RollupRow.span == span,
                RollupRow.start >= since,
                RollupRow.start < until,
            )
        )
        for monitor_id, start, checks, degraded, down in rows:
            count(monitor_id, start, checks, degraded, down)
    day = func.date(ResultRow.checked_at)  # DATE() in SQLite and PostgreSQL alike; stored in UTC
    rows = session.execute(
        select(
            ResultRow.monitor_id,
            day,
            func.count(),
            _count_where(ResultRow.status == "degraded"),
            _count_where(ResultRow.status == "down"),
        )
        .where(
            ResultRow.monitor_id.in_(monitor_ids),
            ResultRow.checked_at >= rolled_until,
            ResultRow.checked_at <= now,
        )
        .group_by(ResultRow.monitor_id, day)
    )
    for monitor_id, at, checks, degraded, down in rows:
        count(monitor_id, at, checks, degraded, down)
    return {monitor_id: _buckets(days_found, first.date(), days) for monitor_id, days_found in found.items()}


def _buckets(found: dict[str, list[int]], first: date, days: int) -> list[DayFigures]:
    buckets = []
    for offset in range(days):
        date = first + timedelta(days=offset)
        checks, degraded, down = found.get(date.isoformat(), (0, 0, 0))
        uptime = _percent(checks - down, checks)
        buckets.append(DayFigures(date, checks, degraded, down, uptime, day_status(checks, degraded, down)))
    return buckets


def day_status(checks: int, degraded: int, down: int) -> str:
    """A day's colour: `none` without checks, `up` when every check was, `down` when more
    than 1% of them failed, and `degraded` for anything between (a blip, a slow hour)."""
    if checks == 0:
        return "none"
    if down == 0 and degraded == 0:
        return "up"
    return "down" if down * 100 > checks else "degraded"
