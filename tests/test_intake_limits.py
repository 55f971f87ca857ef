"""Strangers cannot make ronda read, parse or write much: request bodies are limited on every
kind of route (413), a body sent without credentials to a route behind them is refused
before a byte of it is read, floods of reports and push calls are shed with 429 before any
database work, and accepted reports are written in batches, all of them, counted by the
surge detector."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from ronda.storage.database import Database
from ronda.web.app import create_app
from ronda.web.context import WebContext
from tests.asgi import http_scope
from tests.status_support import Browser, config, fill
from tests.support import TOKEN, RondaProcess, config_text, free_port

REPORT = {"service": "shop", "problem": "slow"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Database]:
    store = Database(f"sqlite:///{tmp_path / 'r.db'}")
    fill(store, datetime.now(UTC))
    yield store
    store.close()


def app_for(store: Database, **settings: Any) -> Any:
    return create_app(WebContext(store, TOKEN, config=config(**settings)))


def call(app: Any, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://ronda.test") as client:
            return await client.request(method, path, content=body, headers=headers or {})

    return asyncio.run(go())


BEARER = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
KB = 1024


# -- body limits ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/api/v1/reports", {"Content-Type": "application/json"}),
        ("POST", "/push/some-secret-of-a-push-monitor", {}),
        ("POST", "/login", {"Content-Type": "application/x-www-form-urlencoded"}),
        ("POST", "/api/v1/monitors", BEARER),
        ("POST", "/api/v1/incidents/1/updates", BEARER),
        ("GET", "/status", {}),
        ("GET", "/healthz", {}),
    ],
    ids=["report", "push", "login", "monitor API", "incident update", "status page", "healthz"],
)
def test_a_body_over_the_limit_is_413_on_every_kind_of_route(store, method, path, headers):
    app = app_for(store)
    response = call(app, method, path, b"x" * (2 * 1024 * KB), headers)
    assert response.status_code == 413
    assert store.reports.latest() == []


def test_the_limit_is_smaller_where_strangers_post_and_both_are_set_in_the_config(store):
    body = json.dumps({"name": "big", "url": "https://big.example/", "tags": ["x" * 100] * 800}).encode()
    assert 64 * KB < len(body) < 1024 * KB
    app = app_for(store)
    # Behind the token, 100 kB of monitor definition is read (and judged: no monitor manager here).
    assert call(app, "POST", "/api/v1/monitors", body, BEARER).status_code == 503
    # Where anyone may post, it is not.
    assert call(app, "POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"}).status_code == 413
    smaller = app_for(store, server={"max_body": "32KiB", "max_public_body": "2KiB"})
    assert call(smaller, "POST", "/api/v1/monitors", body, BEARER).status_code == 413
    form = b"username=admin&password=" + b"p" * 3000
    assert (
        call(smaller, "POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded"}).status_code == 413
    )


def test_a_chunked_body_is_cut_off_at_the_limit(store):
    app = app_for(store)
    sent = []

    async def chunks() -> Any:
        for _ in range(1000):
            sent.append(1)
            yield b"x" * KB

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ronda.test") as client:
            return await client.post("/api/v1/reports", content=chunks(), headers={"Content-Type": "application/json"})

    assert asyncio.run(go()).status_code == 413
    assert store.reports.latest() == []


def test_a_limit_that_is_not_a_size_is_a_config_error_naming_the_key():
    with pytest.raises(ValueError, match=r"server\.max_body"):
        config(server={"max_body": "a lot"})


# -- credentials before the body -------------------------------------------------------------


def asgi_post(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, int, bytes]:
    """POST a 100 MB body in 1 MB chunks, straight over ASGI; the answer's status, how many
    chunks the app asked for, and its body."""
    asked = 0
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        return {"type": "http.request", "body": b"[" + b"1," * (512 * KB), "more_body": asked < 100}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    chunked = [(b"host", b"ronda.test"), (b"transfer-encoding", b"chunked"), *headers]
    scope = http_scope("POST", path, chunked, client=("203.0.113.9", 50000))
    asyncio.run(app(scope, receive, send))
    return answer["status"], asked, answer["body"]


@pytest.mark.parametrize(
    "headers",
    [[], [(b"authorization", b"Bearer not-a-token-of-ronda-s")], [(b"cookie", b"ronda_session=made-up")]],
    ids=["no token", "a wrong token", "a made-up session"],
)
def test_a_large_body_without_credentials_is_401_before_it_is_read(store, headers):
    app = create_app(WebContext(store, TOKEN, config=config(server={"max_body": "200MB"})))
    json_type = (b"content-type", b"application/json")
    status, asked, body = asgi_post(app, "/api/v1/monitors", [json_type, *headers])
    assert status == 401
    assert asked == 0, "not one chunk of the body was read"
    assert "bearer token" in json.loads(body)["detail"]
    status, asked, _ = asgi_post(app, "/api/v1/incidents/1/updates", [json_type, *headers])
    assert (status, asked) == (401, 0)
    # A dashboard form: to the login page, also unread.
    status, asked, _ = asgi_post(app, "/logout", [(b"content-type", b"application/x-www-form-urlencoded"), *headers])
    assert (status, asked) == (303, 0)


def test_with_its_token_the_same_large_body_is_read(store):
    app = create_app(WebContext(store, TOKEN, config=config(server={"max_body": "200MB"})))
    headers = [(b"content-type", b"application/json"), (b"authorization", f"Bearer {TOKEN}".encode())]
    status, asked, _ = asgi_post(app, "/api/v1/incidents/1/updates", headers)
    assert asked == 100 and status == 422  # read whole, and judged: it is not an update


# -- reports: shed before any work, written in batches ---------------------------------------


def test_reports_wait_in_memory_and_every_read_sees_them(store):
    browser = Browser(store, config(reports={"per_source": 1000}))
    statements = []
    event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    for n in range(30):
        browser.address = f"198.51.100.{n + 1}"
        assert browser.post("/api/v1/reports", json=REPORT).json() == {"accepted": True, "counted": True}
    assert not any("INSERT INTO reports" in s for s in statements), "nothing written while taking them"
    assert store.reports.pending == 30
    now = datetime.now(UTC) + timedelta(seconds=1)
    counts = store.reports.counts.window("shop", now, timedelta(minutes=5))
    assert counts.latest == 30, "the surge detector counts every accepted report"
    assert len([s for s in statements if "INSERT INTO reports" in s]) == 1, "one batch"
    assert len(store.reports.latest(100)) == 30


def test_a_repeat_is_not_counted_again_without_a_database_read(store):
    browser = Browser(store, config())
    assert browser.post("/api/v1/reports", json=REPORT).json()["counted"] is True
    again = browser.post("/api/v1/reports", json=REPORT).json()
    assert (again["accepted"], again["counted"]) == (True, False)
    assert again["detail"].startswith("already counted")
    assert len(store.reports.latest()) == 1


def test_when_the_writer_is_behind_a_report_is_503_with_retry_after(store):
    browser = Browser(store, config(reports={"per_source": 1000}))
    store.reports.pending_max = 3
    answers = []
    for n in range(5):
        browser.address = f"198.51.100.{n + 1}"
        answers.append(browser.post("/api/v1/reports", json=REPORT))
    assert [a.status_code for a in answers] == [202, 202, 202, 503, 503]
    assert answers[3].headers["retry-after"] == "2"
    assert answers[3].json()["accepted"] is False
    assert len(store.reports.latest()) == 3  # the three taken are all stored
    browser.address = "198.51.100.4"
    assert browser.post("/api/v1/reports", json=REPORT).status_code == 202  # room again once written


# -- the running service ---------------------------------------------------------------------


@pytest.fixture
def ronda(tmp_path: Path, ca_file: str) -> Iterator[RondaProcess]:
    port = free_port()
    monitors = (
        f"  - name: shop\n    url: tcp://127.0.0.1:{free_port()}\n    tags: [public]\n"
        "  - name: backup\n    kind: push\n    period: 1h\n"
    )
    text = config_text(port, ca_file, monitors) + (
        "reports:\n  per_source: 5\n  global_per_minute: 40\n"
        "status_pages:\n  - {slug: public, title: Ours, monitors: [shop]}\n"
    )
    path = tmp_path / "ronda.yaml"
    path.write_text(text)
    process = RondaProcess(path).start()
    yield process
    if process.proc is not None and process.proc.poll() is None:
        process.stop()


def post_report(client: httpx.Client, url: str) -> httpx.Response:
    return client.post(url, json=REPORT)


def test_a_flood_beyond_the_limits_is_429_and_the_service_stays_healthy(ronda):
    url = f"http://127.0.0.1:{ronda.port}/api/v1/reports"
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.1")) as one:
        own = [post_report(one, url) for _ in range(12)]
    assert [a.status_code for a in own] == [202] * 5 + [429] * 7
    assert int(own[-1].headers["retry-after"]) > 0
    answers = []
    for n in range(60):
        with httpx.Client(transport=httpx.HTTPTransport(local_address=f"127.0.3.{n + 1}")) as client:
            answers.append(post_report(client, url).status_code)
        assert ronda.get("/healthz", token=None).status_code == 200
    assert answers.count(202) == 40 - 5 and answers.count(429) == 60 - 35
    counted = [r for r in ronda.api("/api/v1/reports?limit=1000") if r["service"] == "shop"]
    assert len(counted) == 1 + 35  # the first address's repeats were taken, not counted
    code, output = ronda.stop()
    assert code == 0 and "Traceback" not in output, output


def test_reports_taken_just_before_a_stop_are_all_stored(ronda, tmp_path):
    url = f"http://127.0.0.1:{ronda.port}/api/v1/reports"
    counted = 0
    for n in range(30):
        with httpx.Client(transport=httpx.HTTPTransport(local_address=f"127.0.4.{n + 1}")) as client:
            counted += bool(post_report(client, url).json()["counted"])
    code, output = ronda.stop()
    assert code == 0, output
    store = Database(f"sqlite:///{tmp_path / 'ronda.db'}")
    try:
        assert len(store.reports.latest(1000)) == counted == 30
    finally:
        store.close()


def test_push_calls_over_the_limit_are_429_before_they_are_recorded(ronda):
    [monitor] = [m for m in ronda.api("/api/v1/monitors") if m["name"] == "backup"]
    url = monitor["push_url"]
    with httpx.Client() as client:
        codes = [client.get(url).status_code for _ in range(125)]
        assert codes == [200] * 120 + [429] * 5
        refused = client.post(f"{url}/fail", content=b"it broke")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
        assert client.get(f"{url[: -len(url.rsplit('/', 1)[1])]}not-a-secret").status_code == 404
    results = ronda.api("/api/v1/monitors/backup/results?limit=1000")
    assert len(results) == 120 and all(r["status"] == "up" for r in results)
    assert ronda.get("/healthz", token=None).status_code == 200
    code, output = ronda.stop()
    assert code == 0 and "Traceback" not in output, output
