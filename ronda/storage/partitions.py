"""PostgreSQL keeps verdicts in one partition per UTC day (migration 0009), so that
verdicts past `retention.raw` go by dropping a day's table, not by deleting millions of
rows one by one (each leaving a dead tuple for VACUUM).

- Days are made ahead: the history keeper makes yesterday's to two days ahead each round.
- A default partition takes what no day's table does: a verdict far in the past (stored
  late) or in the future (a skewed clock). Making a day's table first moves that day's rows
  out of the default partition, since PostgreSQL refuses a partition whose rows sit there.
- Dropping a day first detaches it and moves each monitor's latest verdict from it back
  into the table (into the default partition), since a monitor's latest verdict is kept
  however old: its page shows it.

SQLite has no partitions: there ronda/storage/history.py deletes old verdicts by monitor.
Written with SQL of PostgreSQL's own: SQLAlchemy has no construct for partitions.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import column, table, text
from sqlalchemy.orm import Session

from ronda.storage.models import UTCDateTime

DEFAULT = "results_default"
PREFIX = "results_p"  # results_p20261205: the verdicts checked on 5 December 2026 (UTC)
default_results = table(DEFAULT, column("id"), column("monitor_id"), column("checked_at", UTCDateTime()))


def partitioned(session: Session) -> bool:
    """Are verdicts partitioned here (PostgreSQL, migrated)?"""
    if session.get_bind().dialect.name != "postgresql":
        return False
    found = session.execute(
        text("SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid WHERE c.relname = 'results'")
    ).first()
    return found is not None


def days(session: Session) -> list[date]:
    """The days that have a table of their own, oldest first."""
    rows = session.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'results' AND c.relname LIKE :prefix"
        ),
        {"prefix": PREFIX + "%"},
    )
    return sorted(datetime.strptime(name.removeprefix(PREFIX), "%Y%m%d").date() for (name,) in rows)


def make_days(session: Session, first: date, last: date) -> int:
    """Make the tables of the days from `first` to `last` that have none; how many."""
    have = set(days(session))
    made = 0
    day = first
    while day <= last:
        if day not in have:
            _make_day(session, day)
            made += 1
        day += timedelta(days=1)
    return made


def drop_days_before(session: Session, cutoff: date) -> int:
    """Drop the tables of the days before `cutoff`, keeping each monitor's latest verdict;
    how many verdicts went."""
    dropped = 0
    for day in days(session):
        if day >= cutoff:
            break
        name = _name(day)
        session.execute(text(f"ALTER TABLE results DETACH PARTITION {name}"))
        session.execute(
            text(
                f"INSERT INTO results SELECT * FROM {name} "
                "WHERE id IN (SELECT last_result_id FROM monitors WHERE last_result_id IS NOT NULL)"
            )
        )
        dropped += int(session.scalar(text(f"SELECT count(*) FROM {name}")) or 0)
        session.execute(text(f"DROP TABLE {name}"))
    return dropped


def _make_day(session: Session, day: date) -> None:
    """The day's table, with that day's rows moved out of the default partition first."""
    name, lo, hi = _name(day), _bound(day), _bound(day + timedelta(days=1))
    bounds = {"lo": lo, "hi": hi}
    session.execute(text("CREATE TEMPORARY TABLE moving (LIKE results)"))
    session.execute(
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE checked_at >= :lo AND checked_at < :hi RETURNING *) "
            "INSERT INTO moving SELECT * FROM moved"
        ),
        bounds,
    )
    session.execute(text(f"CREATE TABLE {name} PARTITION OF results FOR VALUES FROM ('{lo}') TO ('{hi}')"))
    session.execute(text("INSERT INTO results SELECT * FROM moving"))
    session.execute(text("DROP TABLE moving"))


def _name(day: date) -> str:
    return f"{PREFIX}{day:%Y%m%d}"


def _bound(day: date) -> str:
    """A day's start as the column stores times: UTC, without a zone."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S")
