"""The dashboard's board as a person reads it: a monitor that answers but warns (a
certificate about to expire) is shown and counted apart from the up ones, and hundreds of
monitors fit a compact list with the same filter and search."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ronda.causes import words
from ronda.storage.database import Database
from ronda.verdict import Finding, Verdict
from ronda.web.app import create_app
from ronda.web.context import WebContext
from tests.asgi import AppClient

TOKEN = "board-token-0123456789abcdef"
NOW = datetime.now(UTC)


def verdict(status: str, at: datetime, cause: str | None = None, warning: str | None = None) -> Verdict:
    findings = (Finding(cause, "refused", "db.test", "127.0.0.1", 5432),) if cause else ()
    warnings = (Finding(warning, "expires in 5 days", "shop.test", "127.0.0.1", 443),) if warning else ()
    summary = "fine" if status == "up" else "refused"
    return Verdict("https://x.test/", status, cause, summary, at, 12.0, findings=findings, warnings=warnings)  # type: ignore[arg-type]


@pytest.fixture
def store(store_url: str) -> Iterator[Database]:
    store = Database(store_url)
    store.monitors.sync({"shop": "https://shop.test/", "api": "https://api.test/", "db": "tcp://db.test:5432"})
    for minutes in (2, 1):
        at = NOW - timedelta(minutes=minutes)
        store.monitors.record("shop", verdict("up", at, warning="cert_expiring"), 2)
        store.monitors.record("api", verdict("up", at), 2)
        store.monitors.record("db", verdict("down", at, "tcp_refused"), 2)
    yield store
    store.close()


def client(store: Database) -> AppClient:
    return AppClient(create_app(WebContext(store, TOKEN)), {"Authorization": f"Bearer {TOKEN}"})


def test_a_monitor_that_warns_is_counted_and_shown_apart_from_the_up_ones(store):
    page = client(store).get("/").text
    assert "1 down" in page and "1 with warnings" in page and "1 up" in page
    assert page.index('id="tile-db"') < page.index('id="tile-shop"') < page.index('id="tile-api"'), "worst first"
    shop = page[page.index('id="tile-shop"') : page.index("</article>", page.index('id="tile-shop"'))]
    assert 'data-warning="cert_expiring"' in shop and '<span class="badge warning">warning</span>' in shop
    assert words("cert_expiring") in shop and "expires in 5 days" in shop


def test_the_status_filter_sets_warnings_apart_and_the_api_keeps_its_meaning(store):
    app = client(store)
    assert 'id="tile-shop"' in app.get("/?status=warning").text
    assert 'id="tile-api"' not in app.get("/?status=warning").text
    assert 'id="tile-shop"' not in app.get("/?status=up").text, "the board's up are those without warnings"
    listed = {m["name"]: m for m in app.get("/api/v1/monitors?status=up").json()}
    assert set(listed) == {"api", "shop"}, "the API's status=up is every up monitor, as before"
    assert listed["shop"]["warning"] == "cert_expiring" and listed["api"]["warning"] is None


def test_the_list_layout_is_a_row_a_monitor_in_words_with_the_same_filters(store):
    app = client(store)
    page = app.get("/?layout=list").text
    assert '<table class="monitor-list"' in page and 'class="bars"' not in page
    rows = [page.index(f'id="row-{name}"') for name in ("db", "shop", "api")]
    assert rows == sorted(rows), "worst first"
    assert words("tcp_refused") in page and words("cert_expiring") in page
    assert 'data-live="/fragments/board?layout=list"' in page, "the live redraw keeps the layout"
    down = app.get("/fragments/board?layout=list&status=down").text
    assert 'id="row-db"' in down and 'id="row-api"' not in down and "<html" not in down
    assert 'aria-current="page">List</a>' in page
