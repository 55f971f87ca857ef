"""History that stays cheap: verdicts rolled up into hours and days give the same figures
as the raw verdicts did, raw verdicts older than `retention.raw` are deleted (never a
monitor's latest, never before they are rolled up), and what people were told (incidents,
first checks, latest verdicts) stays. Expected figures are computed here from the verdicts
themselves, by brute force."""

from __future__ import annotations

import asyncio
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ronda.config.schema import Config, Retention
from ronda.rules.incidents import Policy
from ronda.service.history_keeper import HistoryKeeper, Round
from ronda.storage import history, partitions
from ronda.storage.arrivals import Arrival
from ronda.storage.database import Database
from ronda.storage.history import day_of, hour_of
from ronda.storage.models import ResultRow, RollupRow
from ronda.verdict import Verdict

NOW = datetime(2026, 11, 25, 12, 7, 30, tzinfo=UTC)  # not on the hour: windows start mid-hour
STEP = timedelta(minutes=10)
DAYS = 10


def status_at(i: int) -> str:
    """Mostly up, a degraded spell and an outage of a few hours now and then."""
    if i % 151 < 12:
        return "down"
    return "degraded" if i % 37 == 0 else "up"


def latency_at(i: int) -> float:
    return 5.0 + (i * 7919) % 400 / 4.0  # 5 to 105 ms, in no order


CHECKS = [(NOW - STEP * i - timedelta(seconds=i % 50), status_at(i), latency_at(i)) for i in range(DAYS * 144)]


def verdict(status: str, at: datetime, latency: float | None) -> Verdict:
    cause = None if status == "up" else "tcp_timeout"
    return Verdict("https://shop.test/", status, cause, "summary", at, latency, ("127.0.0.1",))  # type: ignore[arg-type]


@pytest.fixture
def store(store_url: str):
    store = Database(store_url)
    store.monitors.sync({"shop": "https://shop.test/", "quiet": "https://quiet.test/"})
    arrivals = [Arrival("shop", verdict(status, at, latency), Policy(confirm=3)) for at, status, latency in CHECKS]
    for i in range(0, len(arrivals), 200):
        store.monitors.record_many(list(reversed(arrivals))[i : i + 200])  # oldest first
    store.monitors.record("quiet", verdict("up", NOW - timedelta(days=DAYS), 3.0), 2)  # its latest, long ago
    yield store
    store.close()


def figures(store: Database) -> dict[str, dict[str, object]]:
    return {name: asdict(window) for name, window in store.monitors.uptime("shop", NOW).windows.items()}


def roll_all(store: Database) -> int:
    """Roll up every hour due at NOW; how many steps it took."""
    steps = 0
    while store.history.roll(NOW):
        steps += 1
    return steps


def prune(store: Database, keep: timedelta) -> int:
    deleted, after = 0, 0
    while True:
        removed, last = store.history.prune(NOW - keep, after)
        deleted += removed
        if last is None:
            return deleted
        after = last


def pruned_before(store: Database, before: datetime) -> datetime:
    """What pruning at `before` deletes up to: PostgreSQL drops whole days' tables."""
    return day_of(before) if store.engine.dialect.name == "postgresql" else before


def brute(since: datetime) -> dict[str, object]:
    """The window's figures from the verdicts themselves: (since, NOW]."""
    inside = [(status, latency) for at, status, latency in CHECKS if since < at <= NOW]
    answered = sorted(latency for status, latency in inside if status != "down")
    down = sum(status == "down" for status, _ in inside)
    return {
        "checks": len(inside),
        "down": down,
        "degraded": sum(status == "degraded" for status, _ in inside),
        "avg": round(sum(answered) / len(answered), 1),
        "p50": round(answered[math.ceil(len(answered) / 2) - 1], 1),
        "p95": round(answered[math.ceil(0.95 * len(answered)) - 1], 1),
    }


def test_rolled_up_figures_are_the_raw_figures_exactly(store):
    before = figures(store)
    bars_before = store.monitors.daily("shop", NOW, days=14)
    assert roll_all(store) > 0
    assert store.history.marks().rolled_until == datetime(2026, 11, 25, 11, tzinfo=UTC)  # 11:00 is 10 min from due
    assert figures(store) == before
    assert store.monitors.daily("shop", NOW, days=14) == bars_before
    week = before["7d"]
    expected = brute(NOW - timedelta(days=7))
    assert {key: week[key] for key in ("checks", "down", "degraded")} == {
        key: expected[key] for key in ("checks", "down", "degraded")
    }
    assert (week["latency_ms"]["avg"], week["latency_ms"]["p50"], week["latency_ms"]["p95"]) == (
        expected["avg"],
        expected["p50"],
        expected["p95"],
    )


def test_each_verdict_is_in_one_hour_and_one_day_row_once(store):
    roll_all(store)
    assert roll_all(store) == 0  # nothing due: nothing added twice
    with store.engine.connect() as connection:
        sums = dict(
            connection.execute(select(RollupRow.span, func.sum(RollupRow.checks)).group_by(RollupRow.span)).all()
        )
        hours = connection.scalar(select(func.count()).select_from(RollupRow).where(RollupRow.span == "hour"))
    rolled = [at for at, _, _ in CHECKS if at < datetime(2026, 11, 25, 11, tzinfo=UTC)]
    assert sums == {"hour": len(rolled) + 1, "day": len(rolled) + 1}  # quiet's one check too
    assert hours == len({hour_of(at) for at in rolled}) + 1


def test_a_verdict_stored_late_counts_in_its_own_hour_once(store):
    roll_all(store)
    late = NOW - timedelta(days=2, minutes=3)
    store.monitors.record("shop", verdict("down", late, None), Policy(confirm=3))
    day = store.monitors.daily("shop", NOW, days=3)[0]
    assert day.day.isoformat() == "2026-11-23"
    expected_down = sum(1 for at, status, _ in CHECKS if at.date() == late.date() and status == "down") + 1
    assert day.down == expected_down  # read raw, past the mark
    roll_all(store)
    assert store.monitors.daily("shop", NOW, days=3)[0].down == expected_down  # rolled, not twice


def test_pruning_deletes_old_verdicts_and_keeps_the_figures_counts_and_the_latest(store):
    first = store.monitors.first_checks(["shop", "quiet"])
    incidents = [(i.id, i.opened_at, i.resolved_at) for i in store.incidents.recent(limit=500)]
    assert incidents, "the outages opened incidents"
    latest = store.monitors.results("shop", 5)
    bars = store.monitors.daily("shop", NOW, days=14)
    day_before = figures(store)["24h"]
    assert prune(store, timedelta(days=3)) == 0, "nothing is deleted before it is rolled up"

    roll_all(store)
    deleted = prune(store, timedelta(days=3))
    cutoff = pruned_before(store, NOW - timedelta(days=3))
    old = [at for at, _, _ in CHECKS if at < cutoff]
    assert deleted == len(old)
    with store.engine.connect() as connection:
        left = connection.scalar(select(func.count()).select_from(ResultRow))
    assert left == len(CHECKS) - len(old) + 1
    assert store.monitors.results("quiet", 5), "a monitor's latest verdict stays, however old"
    assert store.history.marks().raw_from == cutoff
    assert prune(store, timedelta(days=3)) == 0

    assert store.monitors.results("shop", 5) == latest
    assert store.monitors.daily("shop", NOW, days=14) == bars, "the bars read the day rollups"
    assert store.monitors.first_checks(["shop", "quiet"]) == first
    assert [(i.id, i.opened_at, i.resolved_at) for i in store.incidents.recent(limit=500)] == incidents
    assert figures(store)["24h"] == day_before, "windows inside the raw verdicts stay exact"

    week = figures(store)["7d"]
    # Past the raw verdicts a window starts on its first whole hour, and its percentiles come
    # from the histograms: within a bucket's half-width (about 9 %) of the exact ones.
    expected = brute(hour_of(NOW - timedelta(days=7)) - timedelta(microseconds=1))
    assert (week["checks"], week["down"], week["degraded"]) == (
        expected["checks"],
        expected["down"],
        expected["degraded"],
    )
    assert week["latency_ms"]["avg"] == expected["avg"]
    for name in ("p50", "p95"):
        assert week["latency_ms"][name] == pytest.approx(expected[name], rel=0.1)


def test_the_keeper_rolls_up_and_prunes_by_the_configured_retention(store):
    async def one_round():
        with ThreadPoolExecutor(max_workers=1) as writer:
            keeper = HistoryKeeper(store.history, writer, lambda: Retention(raw=2 * 86400.0), clock=lambda: NOW)
            return await keeper.round()

    done = asyncio.run(one_round())
    assert done.rolled > 0
    cutoff = pruned_before(store, NOW - timedelta(days=2))
    assert done.deleted == sum(1 for at, _, _ in CHECKS if at < cutoff)
    assert store.history.marks().raw_from == cutoff
    assert asyncio.run(one_round()) == Round(rolled=0, deleted=0)


def test_rollups_older_than_their_retention_are_deleted(store):
    roll_all(store)
    store.history.prune_rollups(NOW - timedelta(days=5), NOW - timedelta(days=8))
    with store.engine.connect() as connection:
        starts = connection.execute(select(RollupRow.span, RollupRow.start)).all()
    oldest = {span: min(start for s, start in starts if s == span) for span in ("hour", "day")}
    assert oldest == {
        "hour": hour_of(NOW - timedelta(days=5)) + timedelta(hours=1),
        "day": datetime(2026, 11, 18, tzinfo=UTC),  # the day of NOW - 8 d began before it
    }


def test_the_retention_must_keep_rollups_as_long_as_uptime_reads_them():
    with pytest.raises(ValidationError, match="hourly rollups must be kept 90 days at least"):
        Config.model_validate({"retention": {"hourly": "30d"}})
    assert Config.model_validate({"retention": {"raw": "12h"}}).retention.raw == 43200.0


def test_figures_hold_at_every_step_of_rolling_an_hour_a_chunk_at_a_time(store, monkeypatch):
    monkeypatch.setattr(history, "CHUNK", 1)  # one monitor per transaction: the hour half rolled
    before, bars = figures(store), store.monitors.daily("shop", NOW, days=14)
    for _ in range(5):
        assert store.history.roll(NOW)
        assert figures(store) == before
        assert store.monitors.daily("shop", NOW, days=14) == bars
    marks = store.history.marks()
    assert marks.rolling_monitor > 0, "an hour is half rolled up"
    at = marks.rolled_until + timedelta(minutes=1)  # a late verdict in it, for each monitor
    for name in ("shop", "quiet"):
        store.monitors.record(name, verdict("down", at, None), Policy(confirm=3))
    roll_all(store)
    for name in ("shop", "quiet"):
        [day] = [d for d in store.monitors.daily(name, NOW, days=14) if d.day == at.date()]
        expected = sum(1 for when, status, _ in CHECKS if when.date() == at.date() and status == "down")
        assert day.down == (expected if name == "shop" else 0) + 1, name


def test_postgresql_keeps_verdicts_by_day_and_drops_whole_days(postgres_url):
    store = Database(postgres_url)
    try:
        store.monitors.sync({"shop": "https://shop.test/", "quiet": "https://quiet.test/"})
        store.monitors.record("quiet", verdict("up", NOW - timedelta(days=6), 3.0), 2)  # its latest
        for at, status, latency in sorted(CHECKS[: 6 * 144]):
            store.monitors.record("shop", verdict(status, at, latency), Policy(confirm=3))
        with store.engine.begin() as session:
            assert partitions.partitioned(Session(bind=session))
        before = figures(store)
        with Session(store.engine) as session, session.begin():  # the rows sit in the default partition until then
            assert partitions.make_days(session, (NOW - timedelta(days=6)).date(), NOW.date()) == 7
        with store.engine.connect() as connection:
            in_default = connection.scalar(text(f"SELECT count(*) FROM {partitions.DEFAULT}"))
            in_days = connection.scalar(text(f"SELECT count(*) FROM {partitions.PREFIX}20261123"))
        assert (in_default, in_days) == (0, 144)
        assert figures(store) == before
        roll_all(store)
        prune(store, timedelta(days=2))
        with Session(store.engine) as session:
            assert partitions.days(session)[0] == datetime(2026, 11, 23).date()  # the days before are dropped
        assert store.monitors.results("quiet", 1), "its latest verdict moved out of the dropped day"
        assert figures(store)["24h"] == before["24h"]
        assert store.history.prepare(NOW) == 2  # yesterday to two days ahead: tomorrow and the day after were missing
    finally:
        store.close()
