"""Small helpers shared by the tests that drive ronda as a process."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any


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
