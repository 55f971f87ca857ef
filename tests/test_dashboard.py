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

from ronda.storage.database import Database
from ronda.verdict import Finding, Verdict
from ronda.web.app import create_app
from ronda.web.context import WebContext
from ronda.web.dashboard import BOARD_TILES, latency_chart
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


def test_an_unknown_monitor_page_is_404(store):
    assert get(store, "/monitors/nope").status_code == 404


def test_pages_send_a_visitor_without_login_to_the_login_page(store):
    response = get(store, "/monitors/shop?x=1", headers=None)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/monitors/shop%3Fx%3D1"


def test_the_incidents_page_shows_each_timeline(store):
    page = get(store, "/incidents").text
    assert 'id="incident-1"' in page and "api" in page
    assert "open" in page


@pytest.mark.parametrize(
    ("latencies", "statuses", "expected_top", "points"),
    [
        ([10.0, 20.0], ["up", "up"], 20.0, 2),
        ([10.0, 9000.0, 20.0], ["up", "down", "up"], 20.0, 2),
        ([10.0], ["up"], 0.0, 0),
    ],
    ids=["two answered checks draw a line", "a down check's time is not a response time", "one point is no chart"],
)
def test_the_response_time_chart(latencies, statuses, expected_top, points):
    results = [{"latency_ms": v, "status": s} for v, s in zip(reversed(latencies), reversed(statuses), strict=True)]
    drawn, top = latency_chart(results)
    assert top == expected_top
    assert len(drawn.split()) == points


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
