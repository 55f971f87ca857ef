"""The checks on an event loop and a thread of their own.

Everything else of `ronda run` shares one loop: the web face, the store's answers,
incidents and notices. A flood of strangers' requests (reports, badges, logins, pages)
keeps that loop busy as fast as it answers, and a check that waits for a busy loop starts
late, or times out against a target that answered in time. So the scheduler and the
canaries run here, on a loop nothing else uses: when a check starts, and when its time
is up, depend on this loop alone. The two threads still share one core's worth of Python
(the GIL), but the GIL changes hands every few milliseconds (`sys.getswitchinterval`)
where a busy loop waits until all the work ahead of it is done.

Verdicts go back to the service's loop, where the store, incidents and notices live. A
monitor's loop waits until its verdict has been handed on there (its slot is free by then
for other monitors' checks), as before, so `remove` still returns only once no verdict of
the monitors removed can arrive.

The standard library's `asyncio.run_coroutine_threadsafe` carries every call across (and
a cancellation with it); what is written here is only which calls go which way.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from concurrent.futures import Future
from typing import Any, ParamSpec, TypeVar

from ronda import eventloop
from ronda.service.connectivity import Connectivity, many_failing
from ronda.service.scheduler import Changes, Job, LagHistogram, Scheduler

T = TypeVar("T")
P = ParamSpec("P")


class LoopThread:
    """An event loop on a thread of its own, and calls both ways between it and the loop
    that started it (home)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._home: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    def start(self) -> None:
        """Start the thread, from the home loop; returns once its loop runs."""
        self._home = asyncio.get_running_loop()
        ready: Future[None] = Future()
        self._thread = threading.Thread(target=eventloop.run, args=(self._serve(ready),), name=self.name, daemon=True)
        self._thread.start()
        ready.result()  # no timeout: a blocking wait with one hangs under clock shifters (libfaketime)

    async def _serve(self, ready: Future[None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        ready.set_result(None)
        await self._stop.wait()
        # Leaving here, asyncio's runner cancels what still runs on this loop and waits for it.

    async def call(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` on the thread's loop and wait for it from home; cancelling the wait
        cancels the work. Before the thread starts (or after it ended) nothing runs there
        to race with, so the work runs here (a service set up but not run, in tests)."""
        if self._loop is None:
            return await work
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self._loop))

    def homeward(self, handler: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Awaitable[T]]:
        """`handler`, to be awaited on the thread's loop but run on the home loop."""

        async def at_home(*args: P.args, **kwargs: P.kwargs) -> T:
            if self._home is None or _running_loop() is self._home:
                return await handler(*args, **kwargs)
            return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(handler(*args, **kwargs), self._home))

        return at_home

    async def stop(self) -> None:
        """End the loop (what still runs on it is cancelled and awaited) and the thread."""
        if self._loop is None or self._stop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._stop.set)
        await asyncio.to_thread(self._thread.join)
        self._loop = None


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class CheckEngine:
    """The scheduler and the canaries, run on `thread`, with the scheduler's face for the
    service's loop: the monitor manager hands it jobs as it would the scheduler. Build the
    scheduler's `on_verdict` and the canaries' `on_change` with `thread.homeward`."""

    def __init__(self, thread: LoopThread, scheduler: Scheduler, connectivity: Connectivity) -> None:
        self.thread = thread
        self.scheduler = scheduler
        self.connectivity = connectivity

    # -- read from any thread: plain values the checks' loop sets ---------------------------

    @property
    def jobs(self) -> list[Job]:
        return self.scheduler.jobs

    @property
    def job_count(self) -> int:
        return self.scheduler.job_count

    def alive(self) -> bool:
        return self.scheduler.alive()

    def stats(self) -> dict[str, float]:
        return self.scheduler.stats()

    def lag(self) -> LagHistogram:
        return self.scheduler.lag

    @property
    def online(self) -> bool:
        return self.connectivity.online

    def connectivity_status(self) -> dict[str, object]:
        return self.connectivity.status()

    # -- called from the service's loop -----------------------------------------------------

    def start(self) -> None:
        self.thread.start()

    async def replace(self, jobs: Iterable[Job]) -> Changes:
        return await self.thread.call(self.scheduler.replace(list(jobs)))

    async def update(self, jobs: Iterable[Job]) -> Changes:
        return await self.thread.call(self.scheduler.update(list(jobs)))

    async def remove(self, names: Iterable[str]) -> tuple[str, ...]:
        return await self.thread.call(self.scheduler.remove(list(names)))

    async def check_canaries(self) -> None:
        await self.thread.call(self.connectivity.check_once())

    async def recheck_if_many_fail(self, failing: int, total: int) -> None:
        if many_failing(failing, total):  # the usual case crosses no thread
            await self.thread.call(self.connectivity.recheck_if_many_fail(failing, total))

    async def run(self) -> None:
        """Check the monitors and the canaries until cancelled; then end the thread."""
        try:
            await self.thread.call(self._checks())
        finally:
            await self.thread.stop()

    async def _checks(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self.scheduler.run(), name="scheduler")
            group.create_task(self.connectivity.run(), name="canaries")
