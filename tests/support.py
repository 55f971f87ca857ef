"""Small helpers shared by the tests that drive ronda as a process."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

TOKEN = "test-token-0123456789abcdef"


def free_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll until `condition()` is truthy; the timeout only bounds a failing test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def config_error(path: str) -> str:
    """What loading the config at `path` says is wrong (it must be wrong)."""
    from ronda.config.load import load_config
    from ronda.errors import ConfigError

    try:
        load_config(path, {})
    except ConfigError as exc:
        return str(exc)
    raise AssertionError(f"{path} loaded, but a ConfigError was expected")


def config_text(
    port: int,
    ca_file: str,
    monitors: str,
    notify: str = "[]",
    canaries: str = "[]",
    storage: str = "sqlite:///ronda.db",
) -> str:
    """A config for `ronda run` in tests: fast intervals, the test CA, the token from the
    environment, the database beside the file (or `storage`)."""
    return (
        f"server:\n  listen: 127.0.0.1:{port}\n  token: ${{RONDA_TOKEN}}\n"
        f"storage: {storage}\n"
        f"defaults:\n  interval: 200ms\n  timeout: 2s\n  confirm: 2\n  ca_file: {ca_file}\n"
        f"notify: {notify}\n"
        f"canaries: {canaries}\n"
        f"monitors:\n{monitors}"
    )


def die_with_parent() -> None:
    """For Popen's preexec_fn: the child is killed when the test run that started it dies
    (a timeout's kill, a crash), so no orphaned `ronda run` keeps a port and a core busy
    for the runs after it. Linux's prctl(PR_SET_PDEATHSIG); nothing in the standard
    library offers it."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


class RondaProcess:
    """`ronda run --config FILE` as a user starts it, and its API over HTTP."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.port = int(config.read_text().split("listen: 127.0.0.1:")[1].split()[0])
        self.proc: subprocess.Popen[str] | None = None

    def start(
        self,
        timeout: float = 20.0,
        env: dict[str, str] | None = None,
        preexec: Callable[[], None] = die_with_parent,
    ) -> RondaProcess:
        """Start it (with `env` added to the environment, `preexec` run in the child before
        ronda) and wait until it answers."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ronda", "run", "--config", str(self.config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "RONDA_TOKEN": TOKEN, **(env or {})},
            preexec_fn=preexec,
        )
        wait_for("the API", self._healthy, timeout)
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"ronda exited early:\n{self.proc.stdout.read() if self.proc.stdout else ''}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz").status_code == 200
        except httpx.TransportError:
            return False

    def get(self, path: str, token: str | None = TOKEN) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", headers=headers)

    def send(self, method: str, path: str, body: Any = None, token: str | None = TOKEN) -> httpx.Response:
        """Any request, with a JSON body; the answer whatever its status."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = f"http://127.0.0.1:{self.port}{path}"
        return httpx.request(method, url, headers=headers, json=body, timeout=60)

    def api(self, path: str) -> Any:
        response = self.get(path)
        assert response.status_code == 200, response.text
        return response.json()

    def hangup(self) -> None:
        """SIGHUP: re-read the config file."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        assert self.proc is not None
        self.proc.send_signal(sig)
        out, _ = self.proc.communicate(timeout=20)
        return self.proc.returncode, out


def ronda_check(repo_root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`ronda check ARGS` as a user runs it: a process of its own, plain text, wide lines."""
    return subprocess.run(
        [sys.executable, "-m", "ronda", "check", *args],
        capture_output=True,
        text=True,
        cwd=repo_root,
        env={**os.environ, "PYTHONPATH": str(repo_root), "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
        timeout=30,
    )
