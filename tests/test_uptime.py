"""Uptime and response times per window, computed by the database from stored verdicts:
degraded and down kept apart, certificate warnings never downtime, down checks' time to
fail never a response time. Expected figures are worked out by hand below."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ronda.storage.arrivals import UnknownMonitor
from ronda.storage.database import Database
from ronda.verdict import Finding, Verdict, iso
from ronda.web.app import create_app
from ronda.web.context import WebContext

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
H, D = timedelta(hours=1), timedelta(days=1)
EXPIRING = Finding("cert_expiring", "the TLS certificate expires in 9 days", "shop.test", "127.0.0.1", 443)

# (age, status, latency_ms, certificate warning): the checks of "shop", by window.
CHECKS = [
    # 24 h
    (1 * H, "up", 10.0, True),
    (2 * H, "degraded", 30.0, False),
    (3 * H, "down", 10_000.0, False),  # timed out: not a response time
    (4 * H, "up", 20.0, False),
    # 7 d
    (24 * H, "up", 40.0, False),  # exactly 24 h old: in 7 d, not in 24 h
    (3 * D, "up", 50.0, True),
    (6 * D, "down", None, False),
    # 30 d
    (10 * D, "degraded", 60.0, False),
    (20 * D, "up", 70.0, False),
    (29 * D, "up", 80.0, False),
    # 90 d
    (45 * D, "down", 10_000.0, False),
    (60 * D, "up", 90.0, False),
    (89 * D, "up", 100.0, False),
    # in no window
    (90 * D, "up", 5.0, False),  # exactly 90 days old
    (100 * D, "down", 10_000.0, False),
    (-1 * H, "down", 10_000.0, False),  # after `now`
]

EXPECTED: dict[str, dict[str, Any]] = {
    # latencies of the answered checks (not down, with a latency), ascending:
    # 24 h: 10 20 30; 7 d: 10..50; 30 d: 10..80; 90 d: 10..100 (steps of 10).
    # Nearest rank: p50 is the ceil(n/2)-th, p95 the ceil(0.95 n)-th.
    "24h": dict(checks=4, up=2, degraded=1, down=1, uptime=75.0, strict=50.0, lat=(20.0, 10.0, 30.0, 20.0, 30.0)),
    "7d": dict(checks=7, up=4, degraded=1, down=2, uptime=500 / 7, strict=400 / 7, lat=(30.0, 10.0, 50.0, 30.0, 50.0)),
    "30d": dict(checks=10, up=6, degraded=2, down=2, uptime=80.0, strict=60.0, lat=(45.0, 10.0, 80.0, 40.0, 80.0)),
    "90d": dict(
        checks=13, up=8, degraded=2, down=3, uptime=1000 / 13, strict=800 / 13, lat=(55.0, 10.0, 100.0, 50.0, 100.0)
    ),
}


def verdict(status: str, at: datetime, latency: float | None, warned: bool = False) -> Verdict:
    cause = None if status == "up" else "tcp_timeout"
    findings = (Finding(cause, "it broke", "shop.test", "127.0.0.1", 443),) if cause else ()
    return Verdict(
        "https://shop.test/",
        status,  # type: ignore[arg-type]
        cause,
        "summary",
        at,
        latency,
        ("127.0.0.1",),
        findings=findings,
        warnings=(EXPIRING,) if warned else (),
    )


@pytest.fixture
def store(store_url: str):
    store = Database(store_url)
    store.monitors.sync({"shop": "https://shop.test/", "other": "https://other.test/", "new": "https://new.test/"})
    for age, status, latency, warned in sorted(CHECKS, key=lambda c: c[0], reverse=True):  # oldest first
        store.monitors.record("shop", verdict(status, NOW - age, latency, warned), 3)
        store.monitors.record("other", verdict("down", NOW - age, 10_000.0), 3)  # same times: only shop's count
    yield store
    store.close()


@pytest.mark.parametrize("window", EXPECTED)
def test_each_window_counts_its_checks_keeps_degraded_apart_and_ranks_answered_latencies(store, window):
    figures = store.monitors.uptime("shop", NOW).windows[window]
    expected = EXPECTED[window]
    assert {key: getattr(figures, key) for key in ("checks", "up", "degraded", "down")} == {
        key: expected[key] for key in ("checks", "up", "degraded", "down")
    }
    assert figures.uptime == pytest.approx(expected["uptime"])
    assert figures.availability_strict == pytest.approx(expected["strict"])
    avg, low, high, p50, p95 = expected["lat"]
    assert asdict(figures.latency_ms) == {"avg": avg, "min": low, "max": high, "p50": p50, "p95": p95}


def test_the_report_names_the_monitor_the_moment_and_each_window_start(store):
    report = store.monitors.uptime("shop", NOW)
    assert report.monitor == "shop"
    assert iso(report.at) == "2026-11-25T12:00:00Z"
    assert list(report.windows) == ["24h", "7d", "30d", "90d"]
    assert report.windows["24h"].since == NOW - 24 * H
    assert iso(report.windows["90d"].since) == "2026-08-27T12:00:00Z"


def test_certificate_warnings_are_never_downtime(tmp_path):
    store = Database(f"sqlite:///{tmp_path / 'r.db'}")
    store.monitors.sync({"shop": "https://shop.test/"})
    for minutes in range(1, 6):
        store.monitors.record("shop", verdict("up", NOW - timedelta(minutes=minutes), 12.0, warned=True), 2)
    figures = store.monitors.uptime("shop", NOW).windows["24h"]
    assert (figures.checks, figures.up, figures.uptime, figures.availability_strict) == (5, 5, 100.0, 100.0)
    store.close()


def test_a_window_without_checks_has_no_percentages_and_one_without_answers_no_latency(store):
    empty = store.monitors.uptime("new", NOW).windows["90d"]
    assert (empty.checks, empty.up, empty.degraded, empty.down) == (0, 0, 0, 0)
    assert empty.uptime is None and empty.availability_strict is None
    assert set(asdict(empty.latency_ms).values()) == {None}
    down = store.monitors.uptime("other", NOW).windows["24h"]
    assert (down.checks, down.down, down.uptime, down.availability_strict) == (4, 4, 0.0, 0.0)
    assert set(asdict(down.latency_ms).values()) == {None}


def test_an_unknown_monitor_raises(store):
    with pytest.raises(UnknownMonitor):
        store.monitors.uptime("nope", NOW)


def test_the_api_route_answers_with_a_token_and_404s_an_unknown_monitor(store):
    now = datetime.now(UTC)
    store.monitors.record("new", verdict("up", now - H, 15.0, warned=True), 2)
    store.monitors.record("new", verdict("degraded", now - 2 * H, 25.0), 2)
    app = create_app(WebContext(store, "secret"))

    async def get(path: str, token: str | None = "secret") -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ronda") as client:
            return await client.get(path, headers=headers)

    response = asyncio.run(get("/api/v1/monitors/new/uptime"))
    assert response.status_code == 200, response.text
    day = response.json()["windows"]["24h"]
    assert (day["checks"], day["up"], day["degraded"], day["uptime"], day["availability_strict"]) == (
        2,
        1,
        1,
        100.0,
        50.0,
    )
    assert day["latency_ms"]["max"] == 25.0
    assert asyncio.run(get("/api/v1/monitors/nope/uptime")).status_code == 404
    assert asyncio.run(get("/api/v1/monitors/new/uptime", token=None)).status_code == 401
    summaries = {path: ops["get"]["summary"] for path, ops in app.openapi()["paths"].items() if "get" in ops}
    assert "uptime" in summaries["/api/v1/monitors/{name}/uptime"]


def test_daily_buckets_cover_every_day_and_colour_each_by_its_worst_share(store):
    store.monitors.sync({"bars": "https://bars.test/"})
    store.monitors.record("bars", verdict("up", NOW - timedelta(days=2, hours=1), 10.0), 2)
    for minute in range(99):
        store.monitors.record("bars", verdict("up", NOW - timedelta(days=1, minutes=minute), 10.0), 2)
    store.monitors.record("bars", verdict("down", NOW - timedelta(days=1, minutes=200), None), 2)
    store.monitors.record("bars", verdict("down", NOW - timedelta(hours=1), None), 2)
    store.monitors.record("bars", verdict("degraded", NOW - timedelta(hours=2), 30.0), 2)
    days = store.monitors.daily("bars", NOW, days=5)
    assert [d.day.isoformat() for d in days] == ["2026-11-21", "2026-11-22", "2026-11-23", "2026-11-24", "2026-11-25"]
    assert [d.status for d in days] == ["none", "none", "up", "degraded", "down"]
    assert days[0].uptime is None
    assert (days[3].checks, days[3].down, days[3].uptime) == (100, 1, 99.0)
    assert (days[4].checks, days[4].degraded, days[4].down, days[4].uptime) == (2, 1, 1, 50.0)
