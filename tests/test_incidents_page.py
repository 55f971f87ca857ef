"""The dashboard's incidents page as a person reads it: open incidents first, then the
resolved, a page at a time, filtered by state, times to the second, and the part live.js
redraws in place."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ronda.storage.database import Database
from ronda.verdict import Finding, Verdict
from ronda.web.app import create_app
from ronda.web.context import WebContext
from tests.asgi import AppClient

TOKEN = "incidents-page-token-0123456789"
NOW = datetime.now(UTC)


def verdict(status: str, at: datetime, cause: str | None = None) -> Verdict:
    findings = (Finding(cause, "refused", "svc.test", "127.0.0.1", 80),) if cause else ()
    return Verdict("tcp://svc.test:80", status, cause, "refused" if cause else "fine", at, 1.0, (), findings=findings)


def get(store: Database, path: str) -> str:
    return AppClient(create_app(WebContext(store, TOKEN)), {"Authorization": f"Bearer {TOKEN}"}).get(path).text


@pytest.fixture
def thirty(store_url: str) -> Iterator[Database]:
    """Thirty incidents, one per monitor, opened a minute apart; the first twenty resolved."""
    store = Database(store_url)
    names = [f"svc{n:02d}" for n in range(30)]
    store.monitors.sync({name: f"tcp://{name}.test:80" for name in names})
    for n, name in enumerate(names):
        at = NOW - timedelta(hours=2) + timedelta(minutes=n)
        for second in (0, 1, 2):
            store.monitors.record(name, verdict("down", at + timedelta(seconds=second), "tcp_refused"), 2)
        if n < 20:
            for second in (3, 4, 5):
                store.monitors.record(name, verdict("up", at + timedelta(seconds=second)), 2)
    yield store
    store.close()


def incident_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<section class="card incident[^"]*" id="incident-(\d+)"', page)]


def test_the_incidents_page_lists_open_ones_first_a_page_at_a_time(thirty):
    first = get(thirty, "/incidents")
    assert incident_ids(first)[:10] == list(range(30, 20, -1)), "the ten open ones first, newest first"
    assert incident_ids(first)[10:] == list(range(20, 5, -1)), "then the resolved, newest first: 25 a page"
    assert "Open (10)" in first and "Resolved (20)" in first
    assert "1–25 of 30" in first and 'href="/incidents?page=2"' in first
    assert incident_ids(get(thirty, "/incidents?page=2")) == [5, 4, 3, 2, 1]
    resolved = get(thirty, "/incidents?state=resolved")
    assert incident_ids(resolved) == list(range(20, 0, -1)) and "1–20 of 20" in resolved
    assert '<a href="/incidents?state=resolved" aria-current="page">Resolved (20)</a>' in resolved
    live = get(thirty, "/fragments/incidents?state=open")
    assert incident_ids(live) == list(range(30, 20, -1)) and "<html" not in live, "the live part alone"
    assert 'data-live="/fragments/incidents?state=open"' in get(thirty, "/incidents?state=open")


def test_an_incidents_times_are_written_to_the_second(thirty):
    page = get(thirty, "/incidents?state=resolved")
    moments = re.findall(r'<time datetime="([^"]+)" data-moment>([^<]+)</time>', page)
    assert moments and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text) for _, text in moments)
    assert all(text.startswith(at[:19].replace("T", " ")) for at, text in moments)
