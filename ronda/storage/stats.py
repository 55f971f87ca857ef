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
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from ronda.records import DayFigures, Latency, UptimeReport, WindowFigures
from ronda.storage import histogram
from ronda.storage.db import among
from ronda.storage.history import DAY, HOUR, Marks, Tally, day_of, hour_of, read_marks
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
    marks = read_marks(session)  # once for the four windows
    windows = {name: window_figures(session, monitor_id, now - span, now, marks) for name, span in WINDOWS.items()}
    return UptimeReport(monitor, now, windows)


def window_figures(
    session: Session, monitor_id: int, since: datetime, until: datetime, marks: Marks | None = None
) -> WindowFigures:
    """Counts, percentages and response times of the checks in (since, until]: the hour
    rollups of the whole hours inside, and the raw verdicts of the rest (see `_split`).
    `marks`: how far history is rolled up, when the caller has read them already."""
    split = _split(marks if marks is not None else read_marks(session), since, until)
    figures = _rolled_figures(session, monitor_id, split)
    answered = and_(ResultRow.status != "down", ResultRow.latency_ms.is_not(None))
    for part in split.raw:  # one query per range: an OR of ranges makes SQLite read them all
        figures.add(_raw_figures(session, and_(ResultRow.monitor_id == monitor_id, part), answered), False)
    in_window = and_(ResultRow.monitor_id == monitor_id, ResultRow.checked_at > since, ResultRow.checked_at <= until)
    if split.exact:
        ranked = _percentiles(session, and_(in_window, answered), figures.answered)
    else:
        for part in split.raw:
            latencies = session.scalars(
                select(ResultRow.latency_ms).where(ResultRow.monitor_id == monitor_id, part, answered)
            )
            histogram.add(figures.buckets, (ms for ms in latencies if ms is not None))
        ranked = _bucket_percentiles(figures.buckets)
    average = None if not figures.answered else figures.latency_sum / figures.answered
    latency = {"avg": average, "min": figures.latency_min, "max": figures.latency_max} | ranked
    rounded = {key: None if value is None else round(float(value), 1) for key, value in latency.items()}
    return WindowFigures(
        since=since,
        checks=figures.checks,
        up=figures.up,
        degraded=figures.degraded,
        down=figures.down,
        uptime=_percent(figures.checks - figures.down, figures.checks),
        availability_strict=_percent(figures.up, figures.checks),
        latency_ms=Latency(**rounded),
    )


def _raw_figures(session: Session, where: ColumnElement[bool], answered: ColumnElement[bool]) -> Tally:
    """The counts and latency sums of the raw verdicts `where` selects, in one aggregate."""
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
        ).where(where)
    ).one()
    checks, up, degraded, down, n_answered, total, low, high = row
    return Tally(
        checks=int(checks), up=int(up or 0), degraded=int(degraded or 0), down=int(down or 0),
        answered=int(n_answered), latency_sum=float(total or 0.0), latency_min=low, latency_max=high,
    )  # fmt: skip


@dataclass(frozen=True)
class Split:
    """Where a window's figures come from: the hour rollups of [hours_from, hours_until),
    and the raw verdicts of the `raw` ranges (the partial hour at the start, and from the
    rollups' mark on). `exact`: every raw verdict of the window is still kept, so
    percentiles can be exact; otherwise they come from the histograms and the window starts
    on its first hour (the verdicts before are gone)."""

    hours_from: datetime
    hours_until: datetime
    raw: list[ColumnElement[bool]]
    exact: bool


def _split(marks: Marks, since: datetime, until: datetime) -> Split:
    exact = marks.raw_from is None or since >= marks.raw_from
    hours_from = hour_of(since) + HOUR if exact else hour_of(since)
    rolled_until = marks.rolled_until or hours_from
    hours_until = min(hour_of(until), rolled_until)
    if hours_until <= hours_from:  # no whole hour rolled up: the window is raw verdicts alone
        return Split(hours_from, hours_from, [and_(ResultRow.checked_at > since, ResultRow.checked_at <= until)], exact)
    raw = [
        and_(ResultRow.checked_at > since, ResultRow.checked_at < hours_from),
        and_(ResultRow.checked_at >= hours_until, ResultRow.checked_at <= until),
    ]
    return Split(hours_from, hours_until, raw, exact)


def _rolled_figures(session: Session, monitor_id: int, split: Split) -> Tally:
    """The sums of the monitor's rollups over the split's whole hours: day rows for the
    whole days among them (complete, since every hour before the mark is rolled up), hour
    rows at either end; their histograms only when percentiles are read from them."""
    rolled = Tally()
    if split.hours_until <= split.hours_from:
        return rolled
    first_day = day_of(split.hours_from - HOUR) + DAY  # the first midnight at or after hours_from
    last_day = day_of(split.hours_until)
    if first_day >= last_day:  # no whole day inside: hours alone
        spans = [("hour", split.hours_from, split.hours_until)]
    else:
        spans = [("hour", split.hours_from, first_day), ("day", first_day, last_day)]
        spans.append(("hour", last_day, split.hours_until))
    columns: list[Any] = [RollupRow.checks, RollupRow.up, RollupRow.degraded, RollupRow.down, RollupRow.answered]
    columns += [RollupRow.latency_sum, RollupRow.latency_min, RollupRow.latency_max]
    if not split.exact:
        columns.append(RollupRow.buckets)
    for span, since, until in spans:
        if since >= until:
            continue
        rows = session.execute(
            select(*columns).where(
                RollupRow.monitor_id == monitor_id,
                RollupRow.span == span,
                RollupRow.start >= since,
                RollupRow.start < until,
            )
        )
        for row in rows:
            rolled.add(row, with_buckets=not split.exact)
    return rolled


def _bucket_percentiles(buckets: histogram.Buckets) -> dict[str, float | None]:
    return {name: histogram.percentile(buckets, p) for name, p in PERCENTILES.items()}


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
                among(RollupRow.monitor_id, monitor_ids),
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
            among(ResultRow.monitor_id, monitor_ids),
            ResultRow.checked_at >= rolled_until,
            ResultRow.checked_at <= now,
        )
        .group_by(ResultRow.monitor_id, day)
    )
    for monitor_id, at, checks, degraded, down in rows:
        count(monitor_id, at, checks, degraded, down)
    dates = [(day, day.isoformat()) for day in (first.date() + timedelta(days=offset) for offset in range(days))]
    return {monitor_id: _buckets(days_found, dates) for monitor_id, days_found in found.items()}


def _buckets(found: dict[str, list[int]], dates: list[tuple[date, str]]) -> list[DayFigures]:
    # The days and their keys, and the days without checks, are the same for every monitor:
    # made once (the board draws 200 monitors' 90 days, a status page a thousand's).
    return [_day(day, *counts) if (counts := found.get(key)) else _no_checks(day) for day, key in dates]


def _day(date: date, checks: int, degraded: int, down: int) -> DayFigures:
    return DayFigures(date, checks, degraded, down, _percent(checks - down, checks), day_status(checks, degraded, down))


@lru_cache(maxsize=1024)
def _no_checks(date: date) -> DayFigures:
    return _day(date, 0, 0, 0)


def day_status(checks: int, degraded: int, down: int) -> str:
    """A day's colour: `none` without checks, `up` when every check was, `down` when more
    than 1% of them failed, and `degraded` for anything between (a blip, a slow hour)."""
    if checks == 0:
        return "none"
    if down == 0 and degraded == 0:
        return "up"
    return "down" if down * 100 > checks else "degraded"
