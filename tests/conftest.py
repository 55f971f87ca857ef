"""Real local parts for every test: a CA, HTTP(S) servers and a DNS server on loopback,
running on an event loop in a background thread."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings

from ronda.check import run_check
from ronda.target import CheckOptions, Expectations, parse_target
from ronda.verdict import Verdict
from ronda.world.background import BackgroundLoop
from ronda.world.dnsserver import DnsServer
from ronda.world.pki import LocalPKI
from ronda.world.web import WebServer
from tests import support
from tests.receivers import BreakableSite, MailReceiver

T = TypeVar("T")

# `browser`: Debian's Chromium through Playwright; `store_url`, `postgres_url`: SQLite and a
# throwaway PostgreSQL cluster (tests/postgres.py).
pytest_plugins = ["tests.browser", "tests.postgres"]

# Property tests (tests/test_fuzz_parsers.py and others) run a modest number of examples by
# default, so the suite stays quick. HYPOTHESIS_PROFILE=fuzz runs each property 20,000
# times, for a session of fuzzing (see docs/testing.md); the examples still run without a
# per-example deadline, since a loopback server's answer may take a scheduler's moment.
settings.register_profile("default", max_examples=200, deadline=None)
settings.register_profile(
    "fuzz", max_examples=20_000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def world_loop() -> Iterator[BackgroundLoop]:
    loop = BackgroundLoop()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def pki() -> LocalPKI:
    return LocalPKI()


@pytest.fixture(scope="session")
def ca_file(pki: LocalPKI, tmp_path_factory: pytest.TempPathFactory) -> str:
    return pki.write_ca(str(tmp_path_factory.mktemp("pki") / "ca.pem"))


@pytest.fixture
def web(world_loop: BackgroundLoop) -> Iterator[Callable[..., WebServer]]:
    """Start web servers: web(host="127.0.0.2", tls=ctx). All stop at the end of the test."""
    started: list[WebServer] = []

    def start(
        host: str = "127.0.0.1", tls: ssl.SSLContext | None = None, port: int = 0, start: bool = True
    ) -> WebServer:
        server = WebServer(host, port, tls)
        if start:  # start=False: configure first, then world_loop.run(server.start())
            world_loop.run(server.start())
        started.append(server)
        return server

    yield start
    for server in started:
        world_loop.run(server.stop())


@pytest.fixture
def serve(world_loop: BackgroundLoop) -> Iterator[Callable[[T], T]]:
    """serve(server) starts any world server (one with start() and stop() coroutines) on the
    world loop and returns it; all stop at the end of the test."""
    started: list[Any] = []

    def start(server: T) -> T:
        world_loop.run(server.start())
        started.append(server)
        return server

    yield start
    for server in started:
        world_loop.run(server.stop())


@pytest.fixture
def dns_server(world_loop: BackgroundLoop) -> Iterator[DnsServer]:
    server = DnsServer("127.0.0.1")
    world_loop.run(server.start())
    yield server
    world_loop.run(server.stop())


@pytest.fixture
def check(ca_file: str) -> Callable[..., Verdict]:
    """check(url, timeout=.., resolve={...}, ...) -> Verdict, trusting the test CA."""

    def run(url: str, *, expect: Expectations | None = None, **options: object) -> Verdict:
        options.setdefault("ca_file", ca_file)
        opts = CheckOptions(expect=expect or Expectations(), **options)  # type: ignore[arg-type]
        return asyncio.run(run_check(parse_target(url), opts))

    return run


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture
def free_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released): connecting is refused."""
    return support.free_port()


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections (the kernel completes the handshake; nobody calls accept)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@pytest.fixture
def site() -> Iterator[BreakableSite]:
    """A web site on loopback that answers 200, or 503 while `site.broken`."""
    site = BreakableSite()
    yield site
    site.close()


@pytest.fixture
def mail() -> Iterator[MailReceiver]:
    """A real SMTP server on loopback (aiosmtpd); what it receives is in `mail.messages`."""
    server = MailReceiver()
    yield server
    server.close()
