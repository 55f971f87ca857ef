"""Charts people can read (ronda/web/charts.py): each point at the x of its time, a down
period shaded over exactly its times, failed checks marked and the line broken where
nothing answered, axes labelled with round values and the span's times in UTC, an empty
span said in words; the certificates' calendar with dates. And the store's side
(ronda/storage/series.py): a week or 90 days read from the rollups once raw verdicts are
gone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest

from ronda.records import CertificatePlace, CertificateRecord, Latency, WindowFigures
from ronda.rules.incidents import Policy
from ronda.storage.arrivals import Arrival
from ronda.storage.database import Database
from ronda.storage.series import Period, Slot, SpanChecks
from ronda.verdict import Verdict
from ronda.web.charts import PLOT_H, PLOT_W, SPANS, expiry_calendar, ms_words, nice_scale, time_chart
from ronda.web.monitor_page import SpanKey

NOW = datetime(2026, 11, 25, 12, 7, tzinfo=UTC)  # a Wednesday
HOUR = SPANS["hour"]
SINCE, _ = HOUR.window(NOW)  # 11:07:00, on a 30 s slot
SLOT = HOUR.slot


def slot(at: datetime, latency: float | None = 40.0, down: int = 0, checks: int = 1) -> Slot:
    answered = checks - down if latency is not None else 0
    return Slot(at, checks, checks - down, 0, down, answered, latency if answered else None, latency)


def figures(checks: int = 0, down: int = 0, median: float | None = None) -> WindowFigures:
    latency = Latency(avg=median, min=median, max=median, p50=median, p95=median)
    uptime = None if not checks else 100.0 * (checks - down) / checks
    return WindowFigures(SINCE, checks, checks - down, 0, down, uptime, uptime, latency)


def span_of(slots: list[Slot], periods: tuple[Period, ...] = (), checks: int = 0, down: int = 0) -> SpanChecks:
    return SpanChecks(SINCE, NOW, SLOT, tuple(slots), periods, figures(checks, down, 40.0 if checks else None))


def x_of(at: datetime) -> float:
    return (at - SINCE) / (NOW - SINCE) * PLOT_W


def points(line: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in line.split())]


def test_each_point_sits_at_the_x_of_its_time_and_the_height_of_its_response_time():
    regular = [slot(SINCE + SLOT * i, latency=10.0 * (1 + i % 4)) for i in range(20)]
    chart = time_chart(span_of(regular, checks=20), HOUR, "shop")
    [line] = chart.lines
    drawn = points(line)
    assert [x for x, _ in drawn] == pytest.approx([x_of(s.start + SLOT / 2) for s in regular], abs=0.06)
    assert [label.label for label in chart.y_ticks] == ["0 ms", "10 ms", "20 ms", "30 ms", "40 ms"]
    top = max(s.latency_avg_ms or 0 for s in regular)
    assert drawn[3][1] == pytest.approx(PLOT_H * (1 - 40.0 / top), abs=0.06), "40 ms at the top tick"
    assert drawn[0][1] == pytest.approx(PLOT_H * (1 - 10.0 / top), abs=0.06)


def test_a_down_period_is_shaded_over_exactly_its_times():
    start, end = SINCE + timedelta(minutes=15), SINCE + timedelta(minutes=33, seconds=20)
    down = Period(start, end, "down", "tcp_refused", False)
    degraded = Period(SINCE + timedelta(minutes=50), None, "degraded", "cert_expiring", False)
    chart = time_chart(span_of([slot(SINCE)], (down, degraded), checks=1), HOUR, "shop")
    red, amber = chart.bands
    assert (red.kind, red.x, red.x + red.width) == ("down", pytest.approx(x_of(start)), pytest.approx(x_of(end)))
    assert red.title.startswith("Down 2026-11-25 11:22 UTC to 2026-11-25 11:40 UTC (18 min 20 s)")
    assert "refused" in red.title, "the cause in plain words"
    assert (amber.kind, amber.x, amber.x + amber.width) == ("degraded", pytest.approx(x_of(degraded.start)), PLOT_W)
    assert "still" in amber.title, "an open incident reaches the end of the chart"
    assert "Down 2026-11-25 11:22 UTC" in chart.description, "the text alternative tells the incidents too"


def test_failed_checks_are_marked_and_break_the_line():
    slots = [slot(SINCE + SLOT * i) for i in range(4)]
    slots += [slot(SINCE + SLOT * 4, down=2, checks=2), slot(SINCE + SLOT * 5, down=1, checks=2)]
    slots += [slot(SINCE + SLOT * i) for i in range(6, 9)]
    chart = time_chart(span_of(slots, checks=11, down=3), HOUR, "shop")
    assert [m.x for m in chart.marks] == pytest.approx([x_of(SINCE + SLOT * 4.5), x_of(SINCE + SLOT * 5.5)], abs=0.06)
    assert chart.marks[0].title == "2026-11-25 11:09 UTC: 2 of 2 checks failed"
    first, second = (points(line) for line in chart.lines)
    assert len(first) == 4 and len(second) == 4, "no line across the slot where every check failed"
    assert second[0][0] == pytest.approx(x_of(SINCE + SLOT * 5.5), abs=0.06), "one answered of two still draws"
    assert chart.summary == "Median 40 ms, 3 of 11 checks failed."


def test_a_pause_without_checks_is_a_gap_not_a_line():
    # A check every 5 min; then none for 20 min (the monitor was paused); then on again.
    every = timedelta(minutes=5)
    at = [SINCE + every * i for i in range(5)] + [SINCE + every * i for i in range(9, 12)] + [SINCE + every * 12.5]
    chart = time_chart(span_of([slot(t) for t in at], checks=len(at)), HOUR, "shop")
    assert [len(points(line)) for line in chart.lines] == [5, 4]
    assert chart.dots == (), "checks closer than the usual spacing stay on the line"


def test_a_lone_check_between_gaps_is_a_dot():
    chart = time_chart(span_of([slot(SINCE + timedelta(minutes=30))], checks=1), HOUR, "shop")
    assert chart.lines == ()
    assert chart.dots == (pytest.approx((x_of(SINCE + timedelta(minutes=30, seconds=15)), 0.0), abs=0.06),)


def test_the_page_offers_every_span_there_is():
    assert set(get_args(SpanKey)) == set(SPANS), "the query's choices and the charts' spans are the same"


def test_an_empty_span_says_so():
    chart = time_chart(span_of([]), HOUR, "shop")
    assert chart.empty
    assert "no checks in this span" in chart.summary
    assert chart.y_ticks == () and chart.lines == () and chart.marks == ()


@pytest.mark.parametrize(
    ("span", "labels", "first"),
    [
        ("hour", ["11:10", "11:20", "11:30", "11:40", "11:50", "12:00"], "2026-11-25 11:10"),
        ("day", ["12:00", "15:00", "18:00", "21:00", "Nov 25", "03:00", "06:00", "09:00", "12:00"], "2026-11-24 12:00"),
        ("week", ["Thu 19", "Fri 20", "Sat 21", "Sun 22", "Mon 23", "Tue 24", "Wed 25"], "2026-11-19 00:00"),
        ("90d", ["Sep 1", "Sep 15", "Oct 1", "Oct 15", "Nov 1", "Nov 15"], "2026-09-01 00:00"),
    ],
)  # fmt: skip
def test_the_time_axis_is_labelled_with_the_span_s_times_in_utc(span, labels, first):
    chosen = SPANS[span]
    since, until = chosen.window(NOW)
    checks = SpanChecks(since, until, chosen.slot, (slot(since),), (), figures(1))
    chart = time_chart(checks, chosen, "shop")
    assert [t.label for t in chart.x_ticks] == labels
    at = datetime.fromisoformat(first).replace(tzinfo=UTC)
    assert chart.x_ticks[0].x == pytest.approx((at - since) / (until - since)), "the first label at its own time"
    assert chart.x_ticks[-1].x <= 1.0
    if span == "day":  # a phone's width has room for every other label: 6 hours apart
        assert [t.label for t in chart.x_ticks if t.narrow] == ["12:00", "18:00", "Nov 25", "06:00", "12:00"]
    else:
        assert all(t.narrow for t in chart.x_ticks)
    assert "(UTC)" in chart.title


@pytest.mark.parametrize(
    ("highest", "scale", "words"),
    [
        (437.0, [0, 100, 200, 300, 400, 500], "500 ms"),
        (40.0, [0, 10, 20, 30, 40], "40 ms"),
        (2300.0, [0, 500, 1000, 1500, 2000, 2500], "2,500 ms"),
        (0.42, [0, 0.1, 0.2, 0.3, 0.4, 0.5], "0.5 ms"),
        (11.0, [0, 2.5, 5, 7.5, 10, 12.5], "12.5 ms"),
    ],
)
def test_the_response_time_axis_has_round_values(highest, scale, words):
    assert nice_scale(highest) == pytest.approx(scale)
    assert ms_words(scale[-1], scale[1]) == words


def certificate(name: str, days_left: float, problems: tuple[str, ...] = ()) -> CertificateRecord:
    expires = NOW + timedelta(days=days_left)
    place = CertificatePlace(name, f"{name}.test", "127.0.0.1", 443, NOW, NOW)
    return CertificateRecord(
        "ab" * 32, f"CN={name}.test,O=Example", "CN=Local CA", NOW - timedelta(days=90), expires,
        days_left, NOW, NOW, {"problems": list(problems)}, (place,),
    )  # fmt: skip


def test_the_certificate_calendar_has_dates_and_says_what_is_wrong_in_words():
    certs = [
        certificate("old", -3.0, ("cert_expired",)),
        certificate("shop", 10.0, ("cert_expiring",)),
        certificate("api", 45.0),
        certificate("mail", 60.0, ("cert_renewal_overdue",)),
        certificate("far", 200.0),
    ]
    calendar = expiry_calendar(certs, NOW)
    assert [(t.offset, t.day) for t in calendar.ticks] == [
        ("today", "Nov 25"), ("+30 d", "Dec 25"), ("+60 d", "Jan 24"), ("+90 d", "Feb 23"), ("+120 d", "Mar 25"),
    ]  # fmt: skip
    old, shop, api, mail = calendar.rows
    assert (old.name, old.state, old.words, old.expires) == ("old.test", "expired", "EXPIRED 3 days ago", "2026-11-22")
    assert (shop.state, shop.words) == ("soon", "expires in 10 days: renew soon")
    assert (api.state, api.words, api.expires) == ("ok", "expires in 45 days", "2027-01-09")
    assert mail.state == "soon", "the check said its renewal is overdue"
    assert api.x == pytest.approx(calendar.ticks[1].x + (calendar.ticks[2].x - calendar.ticks[1].x) / 2)
    assert old.x < calendar.today_x == calendar.ticks[0].x
    assert shop.monitors == "shop"
    assert calendar.later == 1 and calendar.left_out == 0
    assert calendar.summary == "1 expired, 2 to renew soon, 1 more within 120 days, 1 later."


# -- the store's side: which rows a span reads ------------------------------------------------


def verdict(status: str, at: datetime, latency: float) -> Verdict:
    cause = None if status == "up" else "tcp_timeout"
    return Verdict("https://shop.test/", status, cause, "summary", at, latency, ("127.0.0.1",))  # type: ignore[arg-type]


@pytest.fixture
def ten_days(store_url: str):
    """Ten days of a check every 10 minutes up to 11:50, down for the 2 hours from 06:00
    four days ago; rolled up, and the raw verdicts older than 3 days deleted."""
    store = Database(store_url)
    store.monitors.sync({"shop": "https://shop.test/"})
    outage = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
    last = datetime(2026, 11, 25, 11, 50, tzinfo=UTC)
    checks = [last - timedelta(minutes=10 * i) for i in range(10 * 144 - 1, -1, -1)]
    arrivals = [
        Arrival("shop", verdict("down" if outage <= at < outage + timedelta(hours=2) else "up", at, 30.0), Policy())
        for at in checks
    ]
    for i in range(0, len(arrivals), 200):
        store.monitors.record_many(arrivals[i : i + 200])
    while store.history.roll(NOW):
        pass
    after = 0
    while (last := store.history.prune(NOW - timedelta(days=3), after)[1]) is not None:
        after = last
    yield store, outage
    store.close()


@pytest.mark.parametrize(("span", "in_span"), [("week", 7 * 144), ("90d", 10 * 144)])
def test_a_long_span_reads_the_rollups_once_raw_verdicts_are_gone(ten_days, span, in_span):
    store, outage = ten_days
    chosen = SPANS[span]
    since, until = chosen.window(NOW)
    checks = store.series.span("shop", since, until, chosen.slot)
    assert len(checks.slots) <= (until - since) / chosen.slot + 1, "a row a slot at most"
    assert sum(s.checks for s in checks.slots) == in_span, "every check, rolled up or raw, counted once"
    assert sum(s.down for s in checks.slots) == 12, "the outage, four days old, from the rollups"
    [period] = checks.periods
    assert (period.start, period.end, period.severity) == (outage, outage + timedelta(hours=2), "down")
    chart = time_chart(checks, chosen, "shop")
    assert chart.summary.startswith("Median ")
    assert chart.summary.endswith(f", 12 of {in_span:,} checks failed.")
    assert len(chart.marks) == (2 if span == "week" else 1), "the failed checks drawn, in their slots (hours, days)"


def test_a_short_span_counts_raw_verdicts_per_slot(ten_days):
    store, _ = ten_days
    day = SPANS["day"]
    since, until = day.window(NOW)
    checks = store.series.span("shop", since, until, day.slot)
    assert [s.checks for s in checks.slots] == [1] * 144, "one check in each 10-minute slot"
    assert all(s.start.minute % 10 == 0 and s.start.second == 0 for s in checks.slots), "slots on the clock"
    assert checks.slots[-1].latency_avg_ms == 30.0
