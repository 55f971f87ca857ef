"""`ronda run`'s probe worker (server.checks: process, the default): a worker that dies is
replaced and the checks go on; a service that dies takes its worker with it."""

from __future__ import annotations

import os
import signal
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import RondaProcess, free_port, wait_for


class _Listening(socketserver.ThreadingTCPServer):
    """A TCP target that is up: it takes connections and closes them."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), socketserver.BaseRequestHandler)


@pytest.fixture
def target() -> Iterator[int]:
    server = _Listening()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _config(tmp_path: Path, target: int) -> Path:
    path = tmp_path / "ronda.yaml"
    path.write_text(
        f"server:\n  listen: 127.0.0.1:{free_port()}\n  token: ${{RONDA_TOKEN}}\n"
        f"storage: sqlite:///{tmp_path}/ronda.db\n"
        "canaries: []\n"
        f"monitors:\n  - name: port\n    url: tcp://127.0.0.1:{target}\n    interval: 200ms\n"
    )
    return path


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _worker(ronda: RondaProcess) -> int:
    assert ronda.proc is not None
    [worker] = wait_for("the probe worker", lambda: _children(ronda.proc.pid))  # type: ignore[union-attr]
    return worker


def _ended(pid: int) -> bool:
    """Gone, or a zombie no one has reaped yet: either way it runs nothing."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def _stored(ronda: RondaProcess) -> int:
    return len(ronda.api("/api/v1/monitors/port/results?limit=1000"))


def test_a_worker_that_dies_is_replaced_and_the_checks_go_on(tmp_path, target):
    ronda = RondaProcess(_config(tmp_path, target)).start()
    try:
        first = _worker(ronda)
        wait_for("checks stored", lambda: _stored(ronda) >= 3)
        os.kill(first, signal.SIGKILL)
        wait_for("the worker gone", lambda: _ended(first))
        stored = _stored(ronda)
        second = wait_for("a new worker", lambda: [p for p in _children(ronda.proc.pid) if p != first])  # type: ignore[union-attr]
        assert len(second) == 1
        wait_for("checks stored again", lambda: _stored(ronda) >= stored + 3)
        assert ronda.get("/healthz", token=None).status_code == 200
        metrics = ronda.get("/metrics").text
        assert "ronda_probe_worker_restarts_total 1.0" in metrics
        assert ronda.api("/api/v1/monitors")[0]["status"] == "up"
    finally:
        code, out = ronda.stop()
    assert code == 0, out
    assert "the probe worker ended (exit status -9); starting a new one" in " ".join(out.split())


def test_the_worker_ends_with_the_service_even_when_the_service_is_killed(tmp_path, target):
    ronda = RondaProcess(_config(tmp_path, target)).start()
    worker = _worker(ronda)
    wait_for("checks stored", lambda: _stored(ronda) >= 1)
    code, _ = ronda.stop(signal.SIGKILL)
    assert code == -signal.SIGKILL
    # The worker reads the end of the socket pair it shared with the service, and ends: no
    # orphan goes on checking (and holding server.health_listen) for a service that is gone.
    wait_for("the orphaned worker gone", lambda: _ended(worker), timeout=10)


def test_an_orderly_stop_ends_the_worker_too(tmp_path, target):
    ronda = RondaProcess(_config(tmp_path, target)).start()
    worker = _worker(ronda)
    code, out = ronda.stop(signal.SIGTERM)
    assert code == 0, out
    assert _ended(worker)
    assert "probe worker ended" not in out
