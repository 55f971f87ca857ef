"""The checks run apart from the service's loop (in a probe worker, or on a thread of their
own with `server.checks: thread`): a busy or stalled service loop (a flood on the web face,
a slow store) does not keep them from starting, and their verdicts still reach the store
once the service loop is free again."""

from __future__ import annotations

import asyncio
import json
import socketserver
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from ronda.config.schema import Config
from ronda.node.runner import Service
from ronda.storage.database import Database
from ronda.web.health import health_app
from tests.asgi import AppClient
from tests.support import free_port

MONITORS = 6


class _Counting(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Arrival)
        self.arrivals = 0
        self.lock = threading.Lock()


class _Arrival(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server = self.server
        assert isinstance(server, _Counting)
        with server.lock:
            server.arrivals += 1


def _config(tmp_path: Path, port: int, health_port: int, checks: str = "process") -> Config:
    return Config.model_validate(
        {
            "storage": f"sqlite:///{tmp_path}/run.db",
            "canaries": [],
            "server": {
                "listen": f"127.0.0.1:{free_port()}",
                "health_listen": f"127.0.0.1:{health_port}",
                "checks": checks,
                "token": "engine-test-token-0123456789",
            },
            "monitors": [
                {"name": f"m{i}", "url": f"tcp://127.0.0.1:{port}", "interval": "1s", "timeout": "2s"}
                for i in range(MONITORS)
            ],
        }
    )


def _stored(service: Service) -> list[int]:
    """How many verdicts of each monitor are in the store."""
    return [len(service.db.monitors.results(f"m{i}", 100)) for i in range(MONITORS)]


@pytest.mark.parametrize("checks", ["process", "thread"])
def test_checks_go_on_while_the_service_loop_is_held_and_their_verdicts_arrive_after(tmp_path, checks):
    targets = _Counting()
    threading.Thread(target=targets.serve_forever, daemon=True).start()
    health_port = free_port()
    service = Service(_config(tmp_path, targets.server_address[1], health_port, checks))
    seen: dict[str, Any] = {}

    async def main() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(service.run(stop))
        while min(_stored(service)) < 1:  # every monitor checked and its verdict stored: the schedule runs
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # the verdicts' hand-on done: each monitor waits for its next slot
        before, stored = targets.arrivals, _stored(service)
        # Hold the service's loop, as a flood of requests or a slow store would at worst.
        time.sleep(2)
        # The health listener answers meanwhile: it is served where the checks run.
        with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/healthz", timeout=10) as answer:
            seen["health while held"] = answer.status, json.load(answer)["status"]
        time.sleep(2)
        seen["checks while held"] = targets.arrivals - before
        # The loop free again: the verdicts made while it was held are handed on and stored.
        while any(now <= then for now, then in zip(_stored(service), stored, strict=True)):
            await asyncio.sleep(0.05)
        stop.set()
        await running

    try:
        asyncio.run(asyncio.wait_for(main(), 60))
    finally:
        service.close()
        targets.shutdown()
        targets.server_close()
    # The monitors (every second) started their next checks while the loop was held. On a
    # thread, each one check at most: a monitor's loop waits for its verdict's hand-on, and
    # one caught in the middle of it when the hold began makes none. The probe worker does
    # not wait for the service, so every monitor keeps its schedule (4 s held: 3 checks or
    # more each). On one shared loop, no check starts while it is held.
    assert seen["checks while held"] >= (MONITORS * 3 if checks == "process" else MONITORS // 2)
    assert seen["health while held"] == (200, "ok")
    database = Database(f"sqlite:///{tmp_path}/run.db")
    try:
        assert {m.name: m.status for m in database.monitors.active()} == {f"m{i}": "up" for i in range(MONITORS)}
    finally:
        database.close()


def test_the_health_listener_says_stalled_when_the_checks_or_the_service_loop_stop():
    def online() -> dict[str, Any]:
        return {"online": True}

    answers = {}
    for name, checking, serving in [("both", True, True), ("checks", False, True), ("service", True, False)]:
        app = health_app(lambda c=checking: c, online, lambda s=serving: s)
        answer = AppClient(app).get("/healthz")
        answers[name] = answer.status_code, answer.json()["status"]
    assert answers == {"both": (200, "ok"), "checks": (503, "stalled"), "service": (503, "stalled")}
