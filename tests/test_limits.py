"""Limits that hold: login attempts counted before they are tried, however many arrive at
once; password hashing a few at a time; failures slowing an address, never locking an
account for everyone; X-Forwarded-For believed from the listed proxies only."""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from ronda.config.schema import Config
from ronda.storage.database import Database
from ronda.web.app import create_app
from ronda.web.context import WebContext
from ronda.web.login_limits import HASH_NICENESS, HASH_QUEUE, HASHING, PasswordWork
from tests.status_support import config as status_config
from tests.status_support import fill
from tests.support import TOKEN, RondaProcess, config_error, free_port

PASSWORD = "correct horse battery"
PER_ADDRESS_AND_USER = 5  # ronda/web/login_limits.py


class WatchedHasher(PasswordHasher):
    """argon2 as ronda uses it, counting the hashes verified and how many ran at once;
    with `gate`, each waits for it first, so a test can hold them all in flight."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        super().__init__()
        self.gate = gate
        self.verified = self.running = self.peak = 0
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self._lock:
            self.verified += 1
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            if self.gate is not None:
                self.gate.wait(30)
            return super().verify(hash, password)
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Database]:
    store = Database(f"sqlite:///{tmp_path / 'ronda.db'}")
    store.accounts.add_user("alice", PASSWORD)
    yield store
    store.close()


async def login_form(app: Any) -> tuple[str, str]:
    """The login form's CSRF token and its cookie, as a browser gets them."""
    transport = httpx.ASGITransport(app=app, client=("192.0.2.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://ronda.test") as client:
        page = await client.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1), page.cookies["ronda_login_csrf"]


async def guess(app: Any, form: tuple[str, str], address: str, password: str = "wrong guess") -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    csrf, cookie = form
    async with httpx.AsyncClient(
        transport=transport, base_url="http://ronda.test", cookies={"ronda_login_csrf": cookie}
    ) as client:
        data = {"username": "alice", "password": password, "csrf_token": csrf}
        return await client.post("/login", data=data)


def test_of_100_parallel_guesses_from_one_address_exactly_the_limit_are_tried(store):
    hasher = store.accounts.hasher = WatchedHasher()
    app = create_app(WebContext(store, TOKEN, config=Config()))

    async def attack() -> list[httpx.Response]:
        form = await login_form(app)
        return await asyncio.gather(*(guess(app, form, "10.0.0.1") for _ in range(100)))

    answers = asyncio.run(attack())
    codes = [answer.status_code for answer in answers]
    assert codes.count(401) == PER_ADDRESS_AND_USER
    assert codes.count(429) == 100 - PER_ADDRESS_AND_USER
    assert hasher.verified == PER_ADDRESS_AND_USER  # the refused ones were never hashed
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert "Too many failed attempts" in refused.text and int(refused.headers["retry-after"]) > 0


def test_password_hashes_run_two_at_a_time_and_logins_past_a_short_queue_are_refused_at_once(store):
    gate = threading.Event()
    hasher = store.accounts.hasher = WatchedHasher(gate)
    app = create_app(WebContext(store, TOKEN, config=Config()))

    async def crowd() -> tuple[list[httpx.Response], list[httpx.Response]]:
        form = await login_form(app)
        tasks = [asyncio.create_task(guess(app, form, f"10.1.{i // 250}.{i % 250 + 1}")) for i in range(100)]
        while sum(task.done() for task in tasks) < 100 - HASHING - HASH_QUEUE:
            await asyncio.sleep(0.01)
        refused_at_once = [task.result() for task in tasks if task.done()]
        gate.set()
        return refused_at_once, list(await asyncio.gather(*tasks))

    refused_at_once, answers = asyncio.run(crowd())
    assert {answer.status_code for answer in refused_at_once} == {429}
    assert all("Too many logins at once" in answer.text for answer in refused_at_once)
    assert [answer.status_code for answer in answers].count(401) == HASHING + HASH_QUEUE
    assert hasher.peak == HASHING


def test_the_owner_logs_in_from_home_while_strangers_guess_their_password(store):
    app = create_app(WebContext(store, TOKEN, config=Config()))

    async def day() -> tuple[list[int], int]:
        form = await login_form(app)
        strangers = [(await guess(app, form, f"198.51.100.{i}")).status_code for i in range(1, 31)]
        home = (await guess(app, form, "192.0.2.50", PASSWORD)).status_code
        return strangers, home

    strangers, home = asyncio.run(day())
    assert set(strangers) == {401}  # thirty addresses, one failure each: none is slowed
    assert home == 303


# -- X-Forwarded-For -----------------------------------------------------------------------


def reports_from(app: Any, forwarded: list[str], peer: str = "127.0.0.1") -> list[int]:
    """One report per forged X-Forwarded-For value, all over connections from `peer`."""

    async def send() -> list[int]:
        transport = httpx.ASGITransport(app=app, client=(peer, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://ronda.test") as client:
            codes = []
            for value in forwarded:
                body = {"service": "shop", "problem": "slow"}
                answer = await client.post("/api/v1/reports", json=body, headers={"X-Forwarded-For": value})
                codes.append(answer.status_code)
            return codes

    return asyncio.run(send())


FORGED = [f"203.0.113.{i}" for i in range(1, 16)]


@pytest.mark.parametrize(
    ("trusted", "peer", "accepted"),
    [
        ([], "127.0.0.1", 10),
        (["10.9.0.0/16"], "127.0.0.1", 10),
        (["127.0.0.1"], "127.0.0.1", 15),
        (["127.0.0.0/8", "::1"], "127.0.0.5", 15),
    ],
    ids=["nobody trusted: the peer counts", "another proxy trusted", "the peer listed", "the peer's network listed"],
)
def test_x_forwarded_for_names_the_client_only_from_a_listed_proxy(tmp_path, trusted, peer, accepted):
    store = Database(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        fill(store, datetime.now(UTC))
        config = status_config(server={"trusted_proxies": trusted})
        app = create_app(WebContext(store, TOKEN, config=config))
        codes = reports_from(app, FORGED, peer)
    finally:
        store.close()
    assert codes.count(202) == accepted  # reports.per_source: 10 per address
    assert codes.count(429) == len(FORGED) - accepted


def test_a_trusted_proxy_setting_that_is_no_address_is_a_config_error_at_its_line(tmp_path):
    path = tmp_path / "ronda.yaml"
    path.write_text("server:\n  trusted_proxies:\n    - 10.0.0.0/8\n    - proxy.example\n")
    error = config_error(str(path))
    assert "ronda.yaml:4" in error and "trusted_proxies" in error and "proxy.example" in error


def test_ronda_run_ignores_x_forwarded_for_from_loopback_unless_listed(tmp_path):
    """uvicorn alone believes X-Forwarded-For from 127.0.0.1; `ronda run` believes nobody
    unless told."""
    port = free_port()
    monitor = "  - name: shop\n    url: tcp://127.0.0.1:9\n    interval: 1h\n    tags: [public]\n"
    pages = "status_pages:\n  - slug: public\n    title: T\n    monitors: [shop]\n"
    (tmp_path / "ronda.yaml").write_text(
        f"server:\n  listen: 127.0.0.1:{port}\n  token: ${{RONDA_TOKEN}}\nstorage: sqlite:///ronda.db\n"
        f"canaries: []\ngateway: none\nmonitors:\n{monitor}{pages}"
    )
    ronda = RondaProcess(tmp_path / "ronda.yaml").start()
    try:
        codes = []
        for value in FORGED:
            answer = httpx.post(
                f"http://127.0.0.1:{port}/api/v1/reports",
                json={"service": "shop", "problem": "slow"},
                headers={"X-Forwarded-For": value},
            )
            codes.append(answer.status_code)
    finally:
        ronda.stop()
    assert codes.count(202) == 10 and codes.count(429) == 5


def test_passwords_hash_at_a_lower_priority_than_the_checks_and_the_service():
    """A crowd logging in must not take the CPU the checks and the service's loop need: the
    hashing threads run at a nice value HASH_NICENESS above the process's (Linux: per thread)."""

    def own_niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    service = os.getpriority(os.PRIO_PROCESS, 0)
    hashing = asyncio.run(PasswordWork().run(own_niceness))
    assert hashing == min(service + HASH_NICENESS, 19)
    assert os.getpriority(os.PRIO_PROCESS, 0) == service, "the rest of the process keeps its priority"
