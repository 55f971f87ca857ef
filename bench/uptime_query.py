"""How long `db.monitors.uptime` takes over 90 days of results: the figures of `GET
/api/v1/monitors/{name}/uptime`, computed by the database (ronda/storage/stats.py).

Fills a database with `--days` days of results at one check per `--interval` seconds for
`--monitors` monitors (90 days at 30 s: 259,200 rows each), mostly up, some degraded, a few
down, each row carrying a real verdict's JSON so rows are as wide as ronda stores them. Then
times `db.monitors.uptime` for the first monitor: the first call, then the median of `--calls`
more, and what each kind of SQL statement took (the per-window aggregates, the percentile
rankings) from SQLAlchemy's cursor events. On SQLite it prints the query plans.

Then two alternatives, timed the same way, to say where the time goes, and last the history
as ronda keeps it (ronda/storage/history.py): every hour rolled up, verdicts older than
`--raw-days` deleted; the rolling and pruning timed, `uptime` timed again, its figures
compared with the raw ones, and the bytes each table takes per monitor-day.

- percentiles by ORDER BY latency_ms LIMIT 1 OFFSET k, one query per percentile and window,
  instead of one ROW_NUMBER() ranking per window;
- an index of its own on (monitor_id, checked_at, status, latency_ms), created for the
  run and dropped after it (the schema's index is that already, so this one measures
  nothing new unless the schema changes).

Run from the repository root:

    python3 -m bench.uptime_query [--days 90] [--interval 30] [--monitors 2] [--calls 7] [--raw-days 3]
    python3 -m bench.uptime_query --url postgresql+psycopg://user:pass@host/db   # an empty database
"""

from __future__ import annotations

import argparse
import platform
import random
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import chain
from pathlib import Path
from statistics import median
from typing import Any

import sqlalchemy
from sqlalchemy import Index, and_, event, func, insert, select, text, update

from bench.probers import machine
from ronda.records import UptimeReport
from ronda.storage.database import Database
from ronda.storage.models import MonitorRow, ResultRow
from ronda.storage.stats import PERCENTILES, WINDOWS
from ronda.verdict import CertificateInfo, ChainEntry, Finding, Verdict

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
BATCH = 20_000


def sample_verdict(status: str) -> dict[str, Any]:
    """The JSON of an HTTPS verdict as ronda stores it, with one certificate and its chain."""
    day = timedelta(days=1)
    intermediate = (ChainEntry("CN=Example Intermediate R1", "CN=Example Root X1", NOW - 400 * day, NOW + 700 * day),)
    cert = CertificateInfo(
        host="shop.test",
        address="192.0.2.10",
        port=443,
        subject="CN=shop.test",
        issuer="CN=Example Intermediate R1",
        serial="0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        sans=("shop.test", "www.shop.test"),
        not_before=NOW - 30 * day,
        not_after=NOW + 60 * day,
        days_left=60.0,
        fingerprint_sha256="ab" * 32,
        chain=intermediate,
    )
    warnings = (Finding("cert_expiring", "the certificate expires in 20 days", "shop.test", "192.0.2.10", 443),)
    verdict = Verdict(
        target="https://shop.test/",
        status=status,  # type: ignore[arg-type]
        cause=None if status == "up" else "http_server_error",
        summary="https://shop.test/ is up: HTTP 200, in 31 ms",
        checked_at=NOW,
        latency_ms=31.0,
        addresses=("192.0.2.10", "2001:db8::10"),
        facts={"http": {"status": 200, "reason": "OK", "bytes": 5120}},
        warnings=warnings,
        certificates=(cert,),
    )
    return verdict.to_json()


def results(monitor_id: int, days: int, interval: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    """One result per interval up to NOW, oldest first: 99.4 % up, 0.4 % degraded, 0.2 % down;
    an answer takes 20 ms plus an exponential 30 ms on average, a down check timed out (10 s)."""
    verdicts = {status: sample_verdict(status) for status in ("up", "degraded", "down")}
    for i in reversed(range(days * 86400 // interval)):
        draw = rng.random()
        status = "down" if draw < 0.002 else "degraded" if draw < 0.006 else "up"
        latency = 10_000.0 if status == "down" else 20 + rng.expovariate(1 / 30)
        yield {
            "monitor_id": monitor_id,
            "checked_at": NOW - timedelta(seconds=i * interval),
            "status": status,
            "cause": None if status == "up" else "http_server_error",
            "latency_ms": latency,
            "verdict": verdicts[status],
            "vantage": "local",
        }


def fill(store: Database, monitors: int, days: int, interval: int) -> int:
    """The monitors' results interleaved in time, as the scheduler writes them: one
    monitor's rows are spread over the table, not side by side."""
    names = {f"m{i}": f"https://m{i}.test/" for i in range(monitors)}
    store.monitors.sync(names)
    rng = random.Random(7)
    rows = 0
    with store.engine.begin() as connection:
        ids = {name: id_ for name, id_ in connection.execute(select(MonitorRow.name, MonitorRow.id))}
        first = NOW - timedelta(seconds=(days * 86400 // interval - 1) * interval)
        connection.execute(update(MonitorRow).values(first_checked_at=first))  # as recording sets it
        each = [results(ids[name], days, interval, rng) for name in names]
        batch: list[dict[str, Any]] = []
        for row in chain.from_iterable(zip(*each, strict=True)):
            batch.append(row)
            if len(batch) == BATCH:
                connection.execute(insert(ResultRow), batch)  # executemany
                rows, batch = rows + len(batch), []
        if batch:
            connection.execute(insert(ResultRow), batch)
            rows += len(batch)
    return rows


class StatementTimes:
    """Wall time of each SQL statement, by kind, from SQLAlchemy's cursor events."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.statements: dict[str, tuple[str, Any]] = {}
        self.started = 0.0

    def before(self, _conn: Any, _cursor: Any, _statement: str, _params: Any, _context: Any, _many: bool) -> None:
        self.started = time.perf_counter()

    def after(self, _conn: Any, _cursor: Any, statement: str, params: Any, _context: Any, _many: bool) -> None:
        kind = (
            "ranking" if "row_number" in statement
            else "offset" if "OFFSET" in statement
            else "aggregate" if "count(" in statement
            else "other"
        )  # fmt: skip
        self.seconds[kind].append(time.perf_counter() - self.started)
        self.statements[kind] = (statement, params)  # the last: the 90 d window's


@contextmanager
def watching(engine: sqlalchemy.Engine) -> Iterator[StatementTimes]:
    times = StatementTimes()
    event.listen(engine, "before_cursor_execute", times.before)
    event.listen(engine, "after_cursor_execute", times.after)
    try:
        yield times
    finally:
        event.remove(engine, "before_cursor_execute", times.before)
        event.remove(engine, "after_cursor_execute", times.after)


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def time_uptime(store: Database, calls: int, label: str) -> StatementTimes:
    """The first call of db.monitors.uptime, then the median of `calls` more, with the time of
    each kind of statement per call."""
    with watching(store.engine) as times:
        first = timed(lambda: store.monitors.uptime("m0", NOW))
        later = [timed(lambda: store.monitors.uptime("m0", NOW)) for _ in range(calls)]
    print(f"\n{label}: first call {first * 1000:.0f} ms, median of {calls} more {median(later) * 1000:.0f} ms")
    print(f"  (spread {min(later) * 1000:.0f}-{max(later) * 1000:.0f} ms)")
    print_kinds(times, 1 + calls)
    return times


def print_kinds(times: StatementTimes, calls: int) -> None:
    for kind, seconds in sorted(times.seconds.items()):
        print(f"  {kind:<10} {len(seconds) // calls} statements, {sum(seconds) / calls * 1000:6.0f} ms per call")


def offset_percentiles(store: Database, report: UptimeReport, calls: int) -> None:
    """The alternative: one ORDER BY ... LIMIT 1 OFFSET k query per percentile and window,
    checked against the rankings' answers."""
    windows = {name: (NOW - span, NOW) for name, span in WINDOWS.items()}
    monitor = select(MonitorRow.id).where(MonitorRow.name == "m0").scalar_subquery()

    def answered(since: datetime, until: datetime) -> Any:
        return and_(
            ResultRow.monitor_id == monitor, ResultRow.checked_at > since, ResultRow.checked_at <= until,
            ResultRow.status != "down", ResultRow.latency_ms.is_not(None),
        )  # fmt: skip

    with store.engine.connect() as connection:
        counts = {
            name: connection.scalar(select(func.count()).select_from(ResultRow).where(answered(*window))) or 0
            for name, window in windows.items()
        }

        def percentiles() -> dict[tuple[str, str], float | None]:
            out = {}
            for name, window in windows.items():
                for key, p in PERCENTILES.items():
                    rank = (p * counts[name] + 99) // 100
                    query = select(ResultRow.latency_ms).where(answered(*window)).order_by(ResultRow.latency_ms)
                    out[name, key] = connection.scalar(query.limit(1).offset(rank - 1))
            return out

        with watching(store.engine) as times:
            for _ in range(calls):
                found = percentiles()
    for (name, key), latency in found.items():
        assert latency is not None and round(latency, 1) == getattr(report.windows[name].latency_ms, key), (name, key)
    print("\npercentiles by LIMIT 1 OFFSET k instead of ROW_NUMBER() (same answers):")
    print_kinds(times, calls)


def print_plans(store: Database, times: StatementTimes) -> None:
    explain = {"sqlite": "EXPLAIN QUERY PLAN", "postgresql": "EXPLAIN"}.get(store.engine.dialect.name)
    if explain is None:
        return
    with store.engine.connect() as connection:
        for kind in ("aggregate", "ranking"):
            statement, params = times.statements[kind]
            plan = connection.exec_driver_sql(f"{explain} {statement}", params).all()
            print(f"  plan of the 90 d {kind}: " + "; ".join(" ".join(row[-1].split()) for row in plan))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--interval", type=int, default=30, help="seconds between checks")
    parser.add_argument("--monitors", type=int, default=2)
    parser.add_argument("--calls", type=int, default=7, help="timed calls after the first")
    parser.add_argument("--url", help="an empty database (default: a new SQLite file, removed afterwards)")
    parser.add_argument("--raw-days", type=float, default=3.0, help="retention.raw for the last phase")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(f"machine: {machine()}; Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'ronda.db'}"
        store = Database(url)
        print(f"database: {store.engine.dialect.name} {store.engine.dialect.server_version_info}", flush=True)
        try:
            run(store, args)
        finally:
            store.close()


def run(store: Database, args: argparse.Namespace) -> None:
    rows = 0

    def fill_all() -> None:
        nonlocal rows
        rows = fill(store, args.monitors, args.days, args.interval)

    fill_s = timed(fill_all)
    print(f"{rows:,} rows inserted in {fill_s:.1f} s ({args.monitors} monitors, {args.days} d at {args.interval} s)")
    if store.engine.dialect.name == "postgresql":  # what autovacuum would have done by now
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE results")
    report = store.monitors.uptime("m0", NOW)
    expected = min(args.days * 86400, int(WINDOWS["90d"].total_seconds())) // args.interval
    assert report.windows["90d"].checks == expected, report.windows["90d"]
    for name, figures in report.windows.items():
        latency = figures.latency_ms
        print(
            f"  {name:>4}: {figures.checks:>7} checks, uptime {figures.uptime:.3f} %, "
            f"strict {figures.availability_strict:.3f} %, p50 {latency.p50} ms, p95 {latency.p95} ms"
        )

    times = time_uptime(store, args.calls, "db.monitors.uptime")
    print_plans(store, times)
    offset_percentiles(store, report, args.calls)

    cover = Index("ix_bench_cover", ResultRow.monitor_id, ResultRow.checked_at, ResultRow.status, ResultRow.latency_ms)
    print(f"\ncreating {cover.name} (monitor_id, checked_at, status, latency_ms)...", end=" ", flush=True)
    print(f"{timed(lambda: cover.create(store.engine)):.1f} s")
    try:
        times = time_uptime(store, args.calls, "db.monitors.uptime with the covering index")
        print_plans(store, times)
    finally:
        cover.drop(store.engine)
    kept_history(store, report, args)


def kept_history(store: Database, raw: UptimeReport, args: argparse.Namespace) -> None:
    """Roll every hour up and prune as the service does; time it, time `uptime` again, and
    say how far its figures moved and what each table takes per monitor-day."""
    before = table_bytes(store)
    steps = 0

    def roll() -> None:
        nonlocal steps
        while store.history.roll(NOW):
            steps += 1

    def prune() -> None:
        after = 0
        while (last := store.history.prune(NOW - timedelta(days=args.raw_days), after)[1]) is not None:
            after = last

    print(f"\nrolling up {args.days} days of hours: {timed(roll):.1f} s ({steps} transactions)")
    print(f"pruning verdicts older than {args.raw_days:g} days: {timed(prune):.1f} s")
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM FULL ANALYZE results")
            connection.exec_driver_sql("VACUUM ANALYZE rollups")
    else:
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM")
    time_uptime(store, args.calls, f"db.monitors.uptime, rolled up, raw verdicts kept {args.raw_days:g} days")
    kept = store.monitors.uptime("m0", NOW)
    for name, figures in kept.windows.items():
        old = raw.windows[name]
        print(
            f"  {name:>4}: {figures.checks:>7} checks (raw {old.checks}), uptime {figures.uptime:.3f} %, "
            f"p50 {figures.latency_ms.p50} ms (raw {old.latency_ms.p50}), "
            f"p95 {figures.latency_ms.p95} ms (raw {old.latency_ms.p95})"
        )
    after = table_bytes(store)
    monitor_days = args.monitors * args.days
    print(f"\nbytes per monitor-day ({args.interval} s interval), table and its indexes:")
    print(f"  raw verdicts, all kept:   {before['results'] / monitor_days:10,.0f}")
    kept_raw = after["results"] / monitor_days
    print(f"  raw verdicts, {args.raw_days:g} days:    {kept_raw:10,.0f} (averaged over all days)")
    print(f"  hour and day rollups:     {after['rollups'] / monitor_days:10,.0f}")


def table_bytes(store: Database) -> dict[str, int]:
    """Bytes of `results` and `rollups`, each with its indexes."""
    with store.engine.connect() as connection:
        if store.engine.dialect.name == "postgresql":
            return {
                table: int(connection.scalar(text(f"SELECT pg_total_relation_size('{table}')")) or 0)
                for table in ("results", "rollups")
            }
        rows = connection.execute(text("SELECT tbl_name, name FROM sqlite_schema WHERE type IN ('table', 'index')"))
        owner = {name: table for table, name in rows}
        sizes: dict[str, int] = defaultdict(int)
        for name, size in connection.execute(text("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")):
            sizes[owner.get(name, name)] += size
        return {table: sizes[table] for table in ("results", "rollups")}


if __name__ == "__main__":
    main()
