"""Strangers are served kept pages: a change shows once the refresh bound has passed (or at
once when the page is older than it), concurrent visitors get the same bytes, a client
holding them gets 304, and badges answer only for monitors some page shows."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from ronda.storage.database import Database
from ronda.web.app import create_app
from ronda.web.context import WebContext
from ronda.web.dashboard import BOARD_REFRESH
from ronda.web.public_cache import MAX_AGE, REFRESH
from tests.status_support import config, fill, verdict


class Clock:
    """The service's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(tmp_path):
    store = Database(f"sqlite:///{tmp_path / 'r.db'}")
    yield store
    store.close()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def ctx(store, clock):
    fill(store, clock())
    return WebContext(store, "a-token-long-enough-123", config=config(), clock=clock)


def get_all(ctx: WebContext, paths: list[str], **kwargs: object) -> list[httpx.Response]:
    """Every request at once, in one event loop, through the real app."""

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app_of(ctx))
        async with httpx.AsyncClient(transport=transport, base_url="http://ronda.test") as client:
            return list(await asyncio.gather(*(client.get(path, **kwargs) for path in paths)))  # type: ignore[arg-type]

    return asyncio.run(go())


_apps: dict[int, object] = {}


def app_of(ctx: WebContext) -> object:
    """One app per context, as `ronda run` has: its kept pages live as long as it does."""
    return _apps.setdefault(id(ctx), create_app(ctx))


def get(ctx: WebContext, path: str, **kwargs: object) -> httpx.Response:
    return get_all(ctx, [path], **kwargs)[0]


def shop_state(html: str) -> str:
    found = re.search(r'<h3>shop</h3>\s*<p class="state">\s*<span class="badge [a-z_]+">([^<]+)</span>', html)
    assert found, "shop is on the page"
    return found.group(1)


def recover_shop(ctx: WebContext, at: datetime) -> None:
    """Two good checks of shop, heard as `ronda run` hears them (its live hub)."""
    for seconds in (0, 1):
        ctx.db.monitors.record("shop", verdict("shop", "up", None, at + timedelta(seconds=seconds)), 2)
        ctx.live.publish({"kind": "verdict", "monitor": "shop", "status": "up", "cause": None})


@pytest.fixture(autouse=True)
def _forget_apps():
    yield
    _apps.clear()


def test_a_status_change_shows_on_the_page_once_the_refresh_bound_has_passed(ctx, clock):
    assert shop_state(get(ctx, "/status").text) == "Major outage"
    assert "operational" not in get(ctx, "/badge/shop/status.svg").text
    recover_shop(ctx, clock())
    kept = get(ctx, "/status").text
    assert shop_state(kept) == "Major outage", "within the refresh bound the kept page is served"
    clock.now += REFRESH
    fresh = get(ctx, "/status").text
    assert shop_state(fresh) == "Operational", "past it, the change heard is shown"
    for path in ("/status/summary.json", "/badge/shop/status.svg"):
        assert "operational" in get(ctx, path).text


def test_without_any_change_heard_the_page_is_still_made_again_after_its_longest_age(ctx, clock):
    get(ctx, "/status")
    ctx.db.monitors.record("shop", verdict("shop", "up", None, clock()), 1)  # written, never announced
    clock.now += REFRESH
    assert shop_state(get(ctx, "/status").text) == "Major outage"
    clock.now += MAX_AGE
    assert shop_state(get(ctx, "/status").text) == "Operational"


def test_a_maintenance_window_that_starts_shows_without_waiting_for_a_change(store, clock):
    fill(store, clock())
    cfg = config(
        maintenance=[
            {
                "name": "Shop move",
                "monitors": ["shop"],
                "start": clock() + timedelta(seconds=2),
                "end": clock() + timedelta(hours=1),
            }
        ]
    )
    ctx = WebContext(store, "a-token-long-enough-123", config=cfg, clock=clock)
    assert shop_state(get(ctx, "/status").text) == "Major outage"
    clock.now += timedelta(seconds=3)
    assert shop_state(get(ctx, "/status").text) == "Under maintenance"


def test_concurrent_visitors_get_the_same_bytes(ctx):
    for path in ("/status/summary.json", "/status/feed.atom", "/status/badge.svg", "/badge/api/uptime.svg"):
        answers = get_all(ctx, [path] * 40)
        assert {a.status_code for a in answers} == {200}
        assert len({a.content for a in answers}) == 1, path
        assert len({(a.headers["etag"], a.headers["last-modified"]) for a in answers}) == 1, path
        assert answers[0].headers["cache-control"] == "public, max-age=5"


def test_a_client_holding_the_current_bytes_gets_304(ctx, clock):
    first = get(ctx, "/badge/shop/status.svg")
    etag = first.headers["etag"]
    again = get(ctx, "/badge/shop/status.svg", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert get(ctx, "/badge/shop/status.svg", headers={"If-None-Match": '"other"'}).status_code == 200
    recover_shop(ctx, clock())
    clock.now += REFRESH
    changed = get(ctx, "/badge/shop/status.svg", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag and "operational" in changed.text


def test_the_page_is_kept_per_visitor_token_and_revalidates_to_304(ctx):
    async def visit() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app_of(ctx))
        async with httpx.AsyncClient(transport=transport, base_url="http://ronda.test") as browser:
            first = await browser.get("/status")
            again = await browser.get("/status", headers={"If-None-Match": first.headers["etag"]})
            thanked = await browser.get("/status?report=thanks")
            return first, again, thanked

    first, again, thanked = asyncio.run(visit())
    token = first.cookies["ronda_report"]
    assert f'name="form_token" value="{token}"' in first.text, "the visitor's own token is in the form"
    assert first.headers["cache-control"] == "private, max-age=5", "never kept by a shared cache"
    assert again.status_code == 304
    assert "Thank you: your report was received." in thanked.text and token in thanked.text
    stranger = get(ctx, "/status")
    assert stranger.cookies["ronda_report"] != token and token not in stranger.text
    assert stranger.headers["etag"] != first.headers["etag"]


@pytest.mark.parametrize("badge", ["status.svg", "uptime.svg?period=7d"])
def test_a_private_monitor_and_an_unknown_name_get_the_same_404(ctx, badge):
    private, unknown = get(ctx, f"/badge/secret/{badge}"), get(ctx, f"/badge/no-such-monitor/{badge}")
    assert private.status_code == unknown.status_code == 404
    assert private.json()["detail"] == unknown.json()["detail"] == "no status page shows a monitor of that name"
    assert get(ctx, f"/badge/shop/{badge}").status_code == 200


def test_feeds_and_summaries_name_only_the_page_s_monitors(ctx):
    ctx.config = config(status_pages=[{"slug": "public", "title": "Example", "monitors": ["api"]}])
    for path in ("/status/public/feed.atom", "/status/public/summary.json", "/status"):
        text = get(ctx, path).text
        assert "shop" not in text and "secret" not in text, path
    assert [c["name"] for c in get(ctx, "/status/public/summary.json").json()["components"]] == ["api"]
    assert get(ctx, "/status/other/feed.atom").status_code == 404


def test_every_open_board_shows_a_change_once_its_drawing_is_older_than_the_bound(ctx, clock):
    bearer = {"Authorization": "Bearer a-token-long-enough-123"}
    tabs = get_all(ctx, ["/fragments/board"] * 10, headers=bearer)
    assert (
        len({tab.text for tab in tabs}) == 1 and 'id="tile-shop" data-monitor="shop" data-status="down"' in tabs[0].text
    )
    recover_shop(ctx, clock())
    assert 'data-monitor="shop" data-status="down"' in get(ctx, "/fragments/board", headers=bearer).text
    clock.now += BOARD_REFRESH
    board = get(ctx, "/fragments/board", headers=bearer).text
    assert 'data-monitor="shop" data-status="up"' in board
    assert board in get(ctx, "/", headers=bearer).text, "the page embeds the same drawing"


def test_a_new_config_redraws_the_board_at_once(ctx, clock):
    """A monitor added or deleted (the API's, or a reload) gives the service a new config:
    whoever just deleted a monitor must not find it still on the board."""
    bearer = {"Authorization": "Bearer a-token-long-enough-123"}
    assert 'data-monitor="shop" data-status="down"' in get(ctx, "/fragments/board", headers=bearer).text
    recover_shop(ctx, clock())
    ctx.config = ctx.config.model_copy()
    assert 'data-monitor="shop" data-status="up"' in get(ctx, "/fragments/board", headers=bearer).text
