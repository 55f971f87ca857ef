"""Which event loop ronda runs on: uvloop where it is installed, asyncio's own elsewhere.

uvloop cut a third of the CPU an HTTPS check costs in bench/https_throughput.py (its
transports and SSL layer are compiled), and the probes use only asyncio's public API,
so both loops give the same verdicts; the test suite runs on asyncio's loop and the
command-line tests on uvloop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
