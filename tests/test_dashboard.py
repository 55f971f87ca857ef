"""The dashboard as a person reads it: monitors worst first with their cause in plain
words, a page per monitor, certificates soonest expiry first, incidents with timelines,
and live updates over server-sent events."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn

from ronda.rules.incidents import Policy
from ronda.storage.arrivals import Arrival
from ronda.storage.database import Database
from ronda.verdict import CertificateInfo, Finding, Verdict
from ronda.web.app import create_app
from ronda.web.context import WebContext
from ronda.web.dashboard import BOARD_TILES
from tests.support import free_port, wait_for

TOKEN = "dashboard-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOW = datetime.now(UTC)


def verdict(status: str, at: datetime, cause: str | None = None, summary: str = "fine", latency: float = 12.0) -> Any:
    findings = (Finding(cause, summary, "shop.test", "127.0.0.1", 443),) if cause else ()
    return Verdict("https://shop.test/", status, cause, summary, at, latency, ("127.0.0.1",), findings=findings)


@pytest.fixture
def store(store_url: str) -> Iterator[Database]:
    store = Database(store_url)
    store.monitors.sync({"shop": "https://shop.test/", "api": "https://api.test/", "fresh": "tcp://db.test:5432"})
    for minute in range(10, 0, -1):
        store.monitors.record("shop", verdict("up", NOW - timedelta(minutes=minute), latency=10.0 + minute), 2)
    for minute in range(3, 0, -1):
        at = NOW - timedelta(minutes=minute)
        store.monitors.record("api", verdict("down", at, "http_server_error", "503 <script>alert(1)</script>"), 2)
    yield store
    store.close()


def get(store: Database, path: str, headers: dict[str, str] | None = AUTH) -> httpx.Response:
    app = create_app(WebContext(store, TOKEN))

    async def fetch() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ronda") as client:
            return await client.get(path, headers=headers or {})

    return asyncio.run(fetch())


def test_the_board_lists_monitors_worst_first_with_the_cause_in_plain_words(store):
    page = get(store, "/").text
    assert page.index('id="tile-api"') < page.index('id="tile-fresh"') < page.index('id="tile-shop"')
    assert "the server answered with an error (5xx)" in page
    assert "1 down" in page and "1 up" in page and "1 not checked yet" in page


def test_text_from_a_target_is_escaped(store):
    page = get(store, "/").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_each_tile_has_ninety_daily_bars_with_today_coloured(store):
    page = get(store, "/fragments/board").text
    tile = page[page.index('id="tile-api"') : page.index('id="tile-fresh"')]
    bars = tile[tile.index('class="bars"') : tile.index("</div>", tile.index('class="bars"'))]
    assert bars.count("<span class=") == 90
    assert bars.rsplit("<span", 1)[1].startswith(' class="down"')
    first, today = bars.split("<span")[1], bars.rsplit("<span", 1)[1]
    assert re.search(r'title="\d{4}-\d\d-\d\d: no checks"', first), "a day before the first check"
    assert re.search(r'title="\d{4}-\d\d-\d\d: \d{1,3}\.\d\d%"', today), "the day and its uptime"


def test_a_monitor_page_shows_its_uptime_incident_and_latest_checks(store):
    page = get(store, "/monitors/api").text
    assert "<h1>api" in page
    assert "Uptime, last 90 days" in page and "0.000%" in page
    assert "#1" in page and "detected" in page  # the incident and its timeline
    assert page.count('class="badge down"') >= 4  # the monitor, and each of its latest checks


def test_a_monitor_page_shows_only_its_own_incidents(store):
    assert "#1" not in get(store, "/monitors/shop").text


def test_an_unknown_monitor_is_a_page_with_a_way_back_for_a_browser_and_json_for_the_api(store):
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    page = get(store, "/monitors/nope", headers=AUTH | browser)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "No monitor named &#39;nope&#39;." in page.text and '<a href="/">Back to the monitors</a>' in page.text
    api = get(store, "/api/v1/monitors/nope", headers=AUTH | browser)
    assert (api.status_code, api.json()) == (404, {"detail": "no monitor named 'nope'"})
    assert get(store, "/monitors/nope").json() == {"detail": "no monitor named 'nope'"}, "a script asks for JSON"
    lost = get(store, "/no/such/page", headers=browser)
    assert lost.status_code == 404 and "There is nothing at this address." in lost.text, "without a login too"


PINNED = datetime(2026, 11, 25, 12, 7, tzinfo=UTC)  # a Wednesday


def get_at(store: Database, path: str, headers: dict[str, str] | None = AUTH) -> httpx.Response:
    """`get`, with the web face's clock pinned at PINNED."""
    app = create_app(WebContext(store, TOKEN, clock=lambda: PINNED))

    async def fetch() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ronda") as client:
            return await client.get(path, headers=headers or {})

    return asyncio.run(fetch())


@pytest.fixture
def outage(store_url: str) -> Iterator[Database]:
    """The monitor "web", checked every 5 minutes for three days up to 12:05: down at 11:35 and
    11:40 (an incident from 11:35 to 11:45), slow yesterday from 20:00 to 21:00 (a degraded one)."""
    store = Database(store_url)
    store.monitors.sync({"web": "https://web.test/"})
    slow = (datetime(2026, 11, 24, 20, tzinfo=UTC), datetime(2026, 11, 24, 21, tzinfo=UTC))
    down = {datetime(2026, 11, 25, 11, 35, tzinfo=UTC), datetime(2026, 11, 25, 11, 40, tzinfo=UTC)}
    arrivals = []
    for i in range(3 * 24 * 12 - 1, -1, -1):
        at = datetime(2026, 11, 25, 12, 5, tzinfo=UTC) - timedelta(minutes=5 * i)
        if at in down:
            checked = verdict("down", at, "tcp_refused", "refused", latency=3.0)
        elif slow[0] <= at < slow[1]:
            checked = verdict("degraded", at, "slow_response", "slow", latency=900.0)
        else:
            checked = verdict("up", at)
        arrivals.append(Arrival("web", checked, Policy(confirm=2)))
    for i in range(0, len(arrivals), 200):
        store.monitors.record_many(arrivals[i : i + 200])
    yield store
    store.close()


def chart_of(page: str) -> str:
    return page[page.index('id="chart-h"') : page.index("</figure>")]


@pytest.mark.parametrize(
    ("span", "labels", "top", "marks", "bands"),
    [
        # The last hour: its checks at 12 ms, the top of the axis a round value above.
        ("hour", ["11:10", "11:20", "11:30", "11:40", "11:50", "12:00"], "12.5 ms", 2, ["down"]),
        # 10-minute slots: yesterday's slow hour at 900 ms.
        ("day", ["12:00", "15:00", "18:00", "21:00", "Nov 25", "03:00", "06:00", "09:00", "12:00"], "1,000 ms", 2,
         ["degraded", "down"]),
        ("week", ["Thu 19", "Fri 20", "Sat 21", "Sun 22", "Mon 23", "Tue 24", "Wed 25"], "1,000 ms", 1,
         ["degraded", "down"]),
        # Day slots: the slow hour is 12 checks of yesterday's 288, an average of 49 ms.
        ("90d", ["Sep 1", "Sep 15", "Oct 1", "Oct 15", "Nov 1", "Nov 15"], "50 ms", 1, ["degraded", "down"]),
    ],
)  # fmt: skip
def test_the_monitor_page_charts_each_span_with_its_times_incidents_and_failed_checks(
    outage, span, labels, top, marks, bands
):
    page = get_at(outage, f"/monitors/web?span={span}").text
    chart = chart_of(page)
    assert f'href="/monitors/web?span={span}#chart-h" aria-current="page"' in chart, "the chosen span marked"
    assert chart.count('aria-current="page"') == 1
    assert re.findall(r'<text class="x-label[^"]*"[^>]*>([^<]+)</text>', chart) == labels
    values = re.findall(r'<text class="y-label"[^>]*>([^<]+)</text>', chart)
    assert (values[0].startswith("0"), values[-1]) == (True, top), "the response-time axis, 0 to a round value"
    assert re.findall(r'<rect class="band (\w+)"', chart) == bands, "down in red, degraded in amber, in time order"
    assert "<title>Down 2026-11-25 11:35 UTC to 2026-11-25 11:45 UTC (10 min): " in chart
    assert chart.count('<line class="failed"') == marks, "the failed checks drawn, in their slots"
    assert re.search(r"Median 12 ms, 2 of \d+ checks failed", chart), "the summary in words"
    assert 'role="img"' in chart and "Times in UTC." in chart


def test_a_span_without_checks_says_so(store):
    page = get_at(store, "/monitors/fresh?span=hour").text
    assert "There were no checks in this span." in chart_of(page)
    assert "<svg" not in chart_of(page)
    assert get_at(store, "/monitors/fresh?span=month").status_code == 422


def test_the_monitor_page_redraws_in_place_from_its_fragment(outage):
    page = get_at(outage, "/monitors/web?span=week").text
    assert '<div id="monitor-live" data-live="/fragments/monitors/web?span=week" data-live-on="web">' in page
    assert '<script src="/static/live.js" defer></script>' in page and "data-reload-on" not in page
    fragment = get_at(outage, "/fragments/monitors/web?span=week")
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert 'id="now-h"' in fragment.text and "Thu 19" in fragment.text
    assert fragment.text.strip() in page, "the page and its fragment are one template"
    assert get_at(outage, "/fragments/monitors/nope").status_code == 404
    assert get_at(outage, "/fragments/monitors/web", headers=None).status_code == 401, "no login page drawn into it"


def certified(name: str, days_left: float, problems: tuple[str, ...] = ()) -> Verdict:
    expires = PINNED + timedelta(days=days_left)
    certificate = CertificateInfo(
        f"{name}.test", "127.0.0.1", 443, f"CN={name}.test", "CN=Test CA", "01", (f"{name}.test",),
        PINNED - timedelta(days=80), expires, days_left, (name * 64)[:64], problems=problems,
    )  # fmt: skip
    target = f"https://{name}.test/"
    return Verdict(target, "up", None, "fine", PINNED, 12.0, ("127.0.0.1",), certificates=(certificate,))


def test_the_certificates_page_has_an_expiry_calendar_with_dates_and_words(outage):
    outage.monitors.record("web", certified("shop", 10.0, ("cert_expiring",)), 2)
    outage.monitors.record("web", certified("api", -2.0, ("cert_expired",)), 2)
    page = get_at(outage, "/certificates").text
    calendar = page[page.index('<svg class="calendar"') : page.index("</svg>", page.index('<svg class="calendar"'))]
    days = re.findall(r'<text class="day"[^>]*>([^<]+)</text>', calendar)
    assert days == ["Nov 25", "Dec 25", "Jan 24", "Feb 23", "Mar 25"], "today, +30, +60, +90, +120 days"
    assert re.findall(r'<text class="offset"[^>]*>([^<]+)</text>', calendar)[:2] == ["today", "+30 d"]
    assert calendar.index("api.test") < calendar.index("shop.test"), "soonest first"
    assert "2026-11-23 · EXPIRED 2 days ago" in calendar and "2026-12-05 · expires in 10 days: renew soon" in calendar
    assert 'aria-label="Certificate expiry calendar from today to Mar 25: 1 expired, 1 to renew soon' in calendar


def test_pages_send_a_visitor_without_login_to_the_login_page(store):
    response = get(store, "/monitors/shop?x=1", headers=None)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/monitors/shop%3Fx%3D1"


def test_the_incidents_page_shows_each_timeline(store):
    page = get(store, "/incidents").text
    assert 'id="incident-1"' in page and "api" in page
    assert "open" in page


def test_an_open_page_hears_each_change_over_server_sent_events(store):
    ctx = WebContext(store, TOKEN)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(ctx), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for("the server", lambda: server.started)
    loop = server_loop(server)
    try:
        with httpx.stream("GET", f"http://127.0.0.1:{port}/live", headers=AUTH, timeout=10) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            wait_for("a subscriber", lambda: ctx.live.subscribers)
            event = {"kind": "verdict", "monitor": "shop", "status": "down", "cause": "tcp_refused"}
            loop.call_soon_threadsafe(ctx.live.publish, event)
            lines = stream.iter_lines()
            assert next(line for line in lines if line.startswith("event:")) == "event: change"
            assert json.loads(next(lines).removeprefix("data: ")) == event
    finally:
        server.should_exit = True
        thread.join(10)
    assert not ctx.live.subscribers  # a closed page no longer holds events


def server_loop(server: uvicorn.Server) -> asyncio.AbstractEventLoop:
    """The event loop uvicorn runs on (its thread's), where the live hub lives."""
    return next(s for s in server.servers).get_loop()  # type: ignore[attr-defined]


@pytest.fixture
def large(tmp_path) -> Iterator[Database]:
    """More monitors than one board shows: 3 down, 2 degraded, 4 never checked, the rest up."""
    store = Database(f"sqlite:///{tmp_path / 'large.db'}")
    names = [f"m{n:03d}" for n in range(BOARD_TILES + 50)]
    store.monitors.sync({name: f"https://{name}.test/" for name in names})
    states = {"m100": "down", "m200": "down", "m249": "down", "m050": "degraded", "m150": "degraded"}
    for name in names[4:]:
        status = states.get(name, "up")
        cause = {"down": "tcp_refused", "degraded": "cert_expiring"}.get(status)
        store.monitors.record(name, verdict(status, NOW - timedelta(minutes=1), cause), 1)
    yield store
    store.close()


def tiles(page: str) -> list[str]:
    return re.findall(r'<article class="tile \w+" id="tile-([^"]+)"', page)


def test_a_large_board_shows_a_page_of_the_worst_and_pages_on(large):
    page = get(large, "/").text
    shown = tiles(page)
    assert len(shown) == BOARD_TILES
    # Worst first: down, degraded, never checked, then up by name.
    assert shown[:9] == ["m100", "m200", "m249", "m050", "m150", "m000", "m001", "m002", "m003"]
    assert f"Showing the {BOARD_TILES} worst of {BOARD_TILES + 50} monitors" in page
    assert "3 down" in page and "2 degraded" in page and f"{BOARD_TILES + 50 - 9} up" in page
    [following] = re.findall(r'<a rel="next" href="(/\?[^"]+)"', page)
    assert following == f"/?status=up&amp;after={shown[-1]}"
    rest = tiles(get(large, following.replace("&amp;", "&")).text)
    up = sorted(name for name in (f"m{n:03d}" for n in range(BOARD_TILES + 50)) if name not in shown[:9])
    assert rest == [name for name in up if name > shown[-1]], "the next page goes on where the board stopped"
    assert set(shown) | set(rest) == {f"m{n:03d}" for n in range(BOARD_TILES + 50)}, "every monitor on a page"


def test_the_board_searches_by_text_and_status_and_keeps_the_view_live(large):
    assert tiles(get(large, "/?q=M24").text) == [f"m24{n}" for n in range(10)]
    down = get(large, "/?status=down").text
    assert tiles(down) == ["m100", "m200", "m249"]
    assert 'data-live="/fragments/board?status=down"' in down, "the live redraw keeps the view"
    assert tiles(get(large, "/fragments/board?status=down").text) == ["m100", "m200", "m249"]
    assert tiles(get(large, "/?q=m24&status=down").text) == ["m249"]
    assert "No monitor matches." in get(large, "/?q=nothing-like-it").text
    assert '<option value="down" selected>' in down, "the form shows the view chosen"
    assert get(large, "/?status=sideways").status_code == 422
