"""The service's side of the probe worker (ronda/node/worker.py): it starts the worker,
hands it the jobs, takes its verdicts to the service, and starts a new worker when one
dies, so that the checks never go quiet for longer than a start takes.

Its face is CheckEngine's (ronda/service/engine.py), which runs the checks on a thread of
this process instead: the monitor manager, the web face and the health answers cannot tell
them apart. What the worker knows (whether it is alive, its lag, its canaries) comes over
every STATE_EVERY second; what the service decides (the jobs) is kept here too, so that a
new worker gets all of it at once.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

from ronda.node.wire import Message, Outgoing, in_columns, receive
from ronda.node.worker import WorkerSetup
from ronda.service.connectivity import many_failing
from ronda.service.scheduler import Changes, Job, LagHistogram, changes_between, changes_of_update
from ronda.verdict import Verdict, iso

log = logging.getLogger("ronda")

RESTART_PAUSE = 1.0  # seconds before a dead worker's successor starts: a crash loop stays cheap
STOP_WAIT = 5.0  # seconds a stopping worker gets to end its checks before it is killed
ALIVE_WITHIN = 5.0  # seconds since the worker's latest report for it to count as alive

# Verdicts to store, together: each one's exception, or None when it was handled.
OnVerdicts = Callable[[list[tuple[Job, Verdict]]], Awaitable[list[BaseException | None]]]
OnConnectivity = Callable[[bool, str, datetime], Awaitable[None]]


class WorkerEngine:
    def __init__(
        self,
        setup: Callable[[], WorkerSetup],  # called (in a thread) for each worker started
        on_verdicts: OnVerdicts,
        on_connectivity: OnConnectivity,
        started: datetime,  # when the service started: "online since", until the worker says
    ) -> None:
        self._setup = setup
        self._on_verdicts = on_verdicts
        self._on_connectivity = on_connectivity
        self._jobs: dict[str, Job] = {}
        self._health: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._out: Outgoing | None = None
        self._sending: asyncio.Task[None] | None = None
        self._listening: asyncio.Task[None] | None = None  # takes the worker's messages till it ends
        self._orders: dict[int, asyncio.Future[None]] = {}
        self._ordered = 0
        self._handling: set[asyncio.Task[None]] = set()
        self._reported = -ALIVE_WITHIN  # time.monotonic() of the worker's latest report
        self._alive = False
        # Counted since the service started, over every worker: a new worker starts from 0.
        self._stats: dict[str, float] = {"checks_run": 0, "slots_skipped": 0, "lag_seconds": 0.0, "worker_restarts": 0}
        self._lag = LagHistogram()
        self._earlier: tuple[dict[str, float], LagHistogram] = (dict(self._stats), LagHistogram())
        self._connectivity: dict[str, Any] = {"online": True, "since": iso(started), "canaries": []}

    # -- read from any thread ----------------------------------------------------------------

    @property
    def jobs(self) -> list[Job]:
        return list(self._jobs.values())

    @property
    def job_count(self) -> int:
        return len(self._jobs)

    def alive(self) -> bool:
        return self._alive and time.monotonic() - self._reported < ALIVE_WITHIN

    def stats(self) -> dict[str, float]:
        return self._stats

    def lag(self) -> LagHistogram:
        return self._lag

    @property
    def online(self) -> bool:
        return bool(self._connectivity["online"])

    def connectivity_status(self) -> dict[str, Any]:
        return self._connectivity

    # -- called from the service's loop -------------------------------------------------------

    async def start(self, health: socket.socket | None = None) -> None:
        """Start a worker; `health`: the listener of server.health_listen, served there."""
        self._health = health
        await self._start_worker()

    async def replace(self, jobs: Iterable[Job]) -> Changes:
        wanted = {job.name: job for job in jobs}
        changes = changes_between(self._jobs, wanted)
        self._jobs = wanted
        await self._order("replace", in_columns(list(wanted.values())))
        return changes

    async def update(self, jobs: Iterable[Job]) -> Changes:
        """Add or change these jobs only: the worker is sent them, not all."""
        wanted = {job.name: job for job in jobs}
        changes = changes_of_update(self._jobs, wanted)
        self._jobs |= wanted
        await self._order("update", in_columns(list(wanted.values())))
        return changes

    async def remove(self, names: Iterable[str]) -> tuple[str, ...]:
        """Stop these monitors' checks. From now on their verdicts are dropped here, and once
        this returns the worker has stopped their loops."""
        gone = tuple(name for name in names if name in self._jobs)
        for name in gone:
            del self._jobs[name]
        await self._order("remove", list(gone))
        return gone

    async def check_canaries(self) -> None:
        await self._order("canaries")

    async def recheck_if_many_fail(self, failing: int, total: int) -> None:
        if many_failing(failing, total) and self._out is not None:
            self._out.send("recheck", failing, total)

    async def run(self) -> None:
        """Hand verdicts on until cancelled, with a new worker whenever one ends; then stop
        the worker."""
        beating = asyncio.create_task(self._beat(), name="beat to the worker")
        try:
            while True:
                assert self._listening is not None, "start() first"
                await asyncio.shield(self._listening)
                status = await self._exit_status()
                log.error("the probe worker ended (exit status %s); starting a new one in %gs", status, RESTART_PAUSE)
                self._alive = False
                await asyncio.sleep(RESTART_PAUSE)
                await self._start_worker()
                self._stats["worker_restarts"] += 1
                await self._order("replace", in_columns(list(self._jobs.values())))
        finally:
            beating.cancel()
            await self._stop_worker()

    # -- the worker ---------------------------------------------------------------------------

    async def _start_worker(self) -> None:
        setup = await asyncio.to_thread(self._setup)
        ours, theirs = socket.socketpair()
        passed = [theirs.fileno()] + ([self._health.fileno()] if self._health is not None else [])
        self._process = subprocess.Popen(
            [sys.executable, "-m", "ronda.node.worker", *map(str, passed)], pass_fds=passed, stdin=subprocess.DEVNULL
        )
        theirs.close()
        reader, writer = await asyncio.open_connection(sock=ours)
        self._out = Outgoing(writer)
        self._sending = asyncio.create_task(self._out.run(), name="to the probe worker")
        self._out.send("setup", setup)
        self._listening = asyncio.create_task(self._listen(reader), name="from the probe worker")

    async def _listen(self, reader: asyncio.StreamReader) -> None:
        """Take the worker's messages until it closes its end."""
        while (burst := await receive(reader)) is not None:
            verdicts = []
            for message in burst:
                if message[0] == "verdict":
                    verdicts.append(message)
                else:
                    self._take(message)
            if verdicts:
                self._handle(verdicts)
        self._let_go()

    def _let_go(self) -> None:
        """Forget the worker's channel; what was ordered of it, its successor gets whole, and
        what it counted, its successor counts on from."""
        lag = LagHistogram()
        lag.counts, lag.total = list(self._lag.counts), self._lag.total
        self._earlier = (dict(self._stats), lag)
        if self._sending is not None:
            self._sending.cancel()
        if self._out is not None:
            self._out.close()
        self._out = self._sending = None
        for future in self._orders.values():
            if not future.done():
                future.set_result(None)
        self._orders.clear()

    def _take(self, message: Message) -> None:
        kind = message[0]
        if kind == "state":
            _, self._alive, stats, counts, total, self._connectivity = message
            self._count(stats, counts, total)
            self._reported = time.monotonic()
        elif kind == "connectivity":
            _, online, why, at = message
            self._connectivity = self._connectivity | {"online": online, "since": iso(at)}
            self._spawn(self._on_connectivity(online, why, at))
        elif kind == "done":
            future = self._orders.pop(message[1], None)
            if future is not None and not future.done():
                future.set_result(None)

    def _count(self, stats: dict[str, float], counts: list[int], total: float) -> None:
        """The worker's counts, added to those of the workers before it."""
        stats_before, lag_before = self._earlier
        for key in ("checks_run", "slots_skipped"):
            self._stats[key] = stats_before[key] + stats[key]
        self._stats["lag_seconds"] = stats["lag_seconds"]
        self._lag.counts = [before + now for before, now in zip(lag_before.counts, counts, strict=True)]
        self._lag.total = lag_before.total + total

    def _handle(self, verdicts: list[Message]) -> None:
        """A burst of ("verdict", name, verdict) messages, handled together in one task."""
        worker = self._out  # the answers go to the worker that asked, not to a successor
        # A monitor removed since is dropped, as remove promises.
        batch = [(job, verdict) for _, name, verdict in verdicts if (job := self._jobs.get(name)) is not None]

        async def handle() -> None:
            try:
                outcomes = await self._on_verdicts(batch) if batch else []
                for (job, _), outcome in zip(batch, outcomes, strict=True):
                    if outcome is not None:
                        log.error("the verdict on %s could not be handled", job.name, exc_info=outcome)
            except Exception:
                log.exception("a burst of %d verdicts could not be handled", len(batch))
            finally:
                if worker is not None:
                    worker.send("handled", len(verdicts))

        self._spawn(handle())

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)

    async def _order(self, *order: Any) -> None:
        """Send an order and wait until the worker has carried it out (or has died: its
        successor starts from everything ordered so far)."""
        if self._out is None:
            return
        self._ordered += 1
        done = self._orders[self._ordered] = asyncio.get_running_loop().create_future()
        self._out.send(order[0], self._ordered, *order[1:])
        await done

    async def _beat(self) -> None:
        """Tell the worker every second that the service's loop turns (its health answer)."""
        while True:
            if self._out is not None:
                self._out.send("beat")
            await asyncio.sleep(1)

    async def _exit_status(self) -> int | None:
        """The ended worker's exit status (it closed its end of the pair: it is ending)."""
        return await asyncio.to_thread(self._process.wait) if self._process is not None else None

    async def _stop_worker(self) -> None:
        """Close the pair (the worker's signal to end), give it STOP_WAIT to, then kill it."""
        if self._listening is not None:
            self._listening.cancel()
        self._let_go()
        process, self._process = self._process, None
        if process is None:
            return
        try:
            await asyncio.wait_for(asyncio.to_thread(process.wait), STOP_WAIT)
        except TimeoutError:
            log.warning("the probe worker did not end within %gs of the stop; killed", STOP_WAIT)
            process.kill()
            await asyncio.to_thread(process.wait)
