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

Portable SQL through SQLAlchemy Core, for SQLite (3.25+) and PostgreSQL alike, two
queries per window, both reading the range of index `ix_results_monitor_time`
(monitor_id, checked_at):

- one aggregate: COUNT, SUM(CASE ...) per status, and AVG/MIN/MAX/COUNT of the answered
  latencies (CASE ... END is NULL for the others, which aggregates skip);
- one ranking: ROW_NUMBER() OVER (ORDER BY latency_ms) of the answered checks, keeping
  the rows at the percentiles' ranks (computed from the aggregate's count), so one sort
  serves every percentile. (ORDER BY ... LIMIT 1 OFFSET k, one query per percentile, sorts
  once per percentile: slower, measured in bench/uptime_query.py.)

One aggregate per window rather than one for all four: CASE on the window in every
expression costs SQLite more than reading the shorter windows again.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from ronda.records import DayFigures, Latency, UptimeReport, WindowFigures
from ronda.storage.models import ResultRow

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
    """Counts, percentages and response times of the checks in (since, until]."""
    in_window = and_(ResultRow.monitor_id == monitor_id, ResultRow.checked_at > since, ResultRow.checked_at <= until)
    answered = and_(ResultRow.status != "down", ResultRow.latency_ms.is_not(None))
    answered_latency = case((answered, ResultRow.latency_ms))  # NULL otherwise: aggregates skip it
    row = session.execute(
        select(
            func.count(),
            _count_where(ResultRow.status == "up"),
            _count_where(ResultRow.status == "degraded"),
            _count_where(ResultRow.status == "down"),
            func.count(answered_latency),
            func.avg(answered_latency),
            func.min(answered_latency),
            func.max(answered_latency),
        ).where(in_window)
    ).one()
    checks, up, degraded, down, n_answered, avg, low, high = row
    up, degraded, down = up or 0, degraded or 0, down or 0  # SUM of no rows is NULL
    latency = {"avg": avg, "min": low, "max": high} | _percentiles(session, and_(in_window, answered), n_answered)
    rounded = {key: None if value is None else round(float(value), 1) for key, value in latency.items()}
    return WindowFigures(
        since=since,
        checks=checks,
        up=up,
        degraded=degraded,
        down=down,
        uptime=_percent(checks - down, checks),
        availability_strict=_percent(up, checks),
        latency_ms=Latency(**rounded),
    )


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
    uptime bars of the dashboard and the status page. One GROUP BY over the index range;
    days without checks are listed too, with no figures (unknown, not 100%)."""
    today = now.date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=now.tzinfo)
    day = func.date(ResultRow.checked_at)  # DATE() in SQLite and PostgreSQL alike; stored in UTC
    rows = session.execute(
        select(
            day,
            func.count(),
            _count_where(ResultRow.status == "degraded"),
            _count_where(ResultRow.status == "down"),
        )
        .where(ResultRow.monitor_id == monitor_id, ResultRow.checked_at >= since, ResultRow.checked_at <= now)
        .group_by(day)
    )
    found = {str(d)[:10]: (checks, degraded or 0, down or 0) for d, checks, degraded, down in rows}
    return _buckets(found, first, days)


def daily_uptime_many(
    session: Session, monitor_ids: list[int], now: datetime, days: int = 90
) -> dict[int, list[DayFigures]]:
    """`daily_uptime` of many monitors in one GROUP BY: a status page or the dashboard
    draws every monitor's bars, and one query per monitor made 1,000 monitors cost seconds."""
    today = now.date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=now.tzinfo)
    day = func.date(ResultRow.checked_at)
    rows = session.execute(
        select(
            ResultRow.monitor_id,
            day,
            func.count(),
            _count_where(ResultRow.status == "degraded"),
            _count_where(ResultRow.status == "down"),
        )
        .where(ResultRow.monitor_id.in_(monitor_ids), ResultRow.checked_at >= since, ResultRow.checked_at <= now)
        .group_by(ResultRow.monitor_id, day)
    )
    found: dict[int, dict[str, tuple[int, int, int]]] = {monitor_id: {} for monitor_id in monitor_ids}
    for monitor_id, d, checks, degraded, down in rows:
        found[monitor_id][str(d)[:10]] = (checks, degraded or 0, down or 0)
    return {monitor_id: _buckets(days_found, first, days) for monitor_id, days_found in found.items()}


def _buckets(found: dict[str, tuple[int, int, int]], first: date, days: int) -> list[DayFigures]:
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
