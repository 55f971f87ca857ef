"""The probe worker: the checks of `ronda run` in a process of their own.

`ronda run` starts it (ronda/node/worker_engine.py) and talks to it over a socket pair
(ronda/node/wire.py). The worker runs the scheduler and the canaries, as the service's
checks' thread does in `server.checks: thread`, and hands each verdict back; the store,
incidents, notices and the web face stay in the service. So a flood of strangers' requests,
which keeps the service's process busy on one core, cannot delay a check by a single turn
of its loop: the checks have their own interpreter (their own GIL) and the operating
system schedules them as it would any other program.

It ends when the service closes the socket pair (or dies), and ignores SIGINT and SIGTERM:
a Ctrl-C or a supervisor's stop reaches the service too, which stops in order and closes
the pair, and a worker that left first would look like a crash.

`server.health_listen` is served here when set: a supervisor then hears whether the checks
turn (and whether the service's loop still sends its beat) from a process that no flood
touches.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ronda import eventloop
from ronda.logs import setup_logging
from ronda.memory import Trimmer, limit_arenas
from ronda.node.server import embedded_server
from ronda.node.wire import Outgoing, from_columns, receive
from ronda.probes.base import ProbeContext
from ronda.service.connectivity import Connectivity
from ronda.service.scheduler import Job, Scheduler
from ronda.target import CheckOptions, Target
from ronda.verdict import Verdict
from ronda.web.health import health_app

log = logging.getLogger("ronda.worker")

STATE_EVERY = 1.0  # seconds between the worker's reports of how its checks go
# Verdicts handed on and not yet handled by the service (stored, judged) before the checks
# wait for it: enough for a store minutes behind at 1,000 monitors, bounded all the same.
UNHANDLED = 10_000


@dataclass(frozen=True)
class WorkerSetup:
    """What the service tells a new worker first."""

    canaries: list[Target]
    canary_options: CheckOptions
    canary_interval: float
    known: dict[str, dict[str, Any]] = field(default_factory=dict)  # what earlier checks kept (Scheduler.known)
    quiet: bool = False  # log errors only, as the service does
    stall: float = 30.0  # seconds without the service's beat before health says "stalled"


class Worker:
    """The scheduler and the canaries, driven by the service's messages."""

    def __init__(self, setup: WorkerSetup, outgoing: Outgoing) -> None:
        self.out = outgoing
        self.setup = setup
        self.scheduler = Scheduler([], self._verdict, context=ProbeContext())
        self.scheduler.known.update(setup.known)
        self.connectivity = Connectivity(
            setup.canaries,
            setup.canary_options,
            interval=setup.canary_interval,
            context=self.scheduler.context,
            on_change=self._connectivity_changed,
        )
        self.beat = time.monotonic()  # the service's latest beat
        self._unhandled = asyncio.Semaphore(UNHANDLED)
        self._orders: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self._rechecks: set[asyncio.Task[None]] = set()

    async def _verdict(self, job: Job, verdict: Verdict) -> None:
        """Hand the verdict on, and go on to the next check: a store that is behind (a burst
        of push calls to write, say) must not make checks skip their slots. Only when
        UNHANDLED verdicts wait for the service do the checks wait with them, so a stuck
        service cannot fill this process's memory."""
        await self._unhandled.acquire()
        self.out.send("verdict", job.name, verdict)

    async def _connectivity_changed(self, online: bool, why: str, at: datetime) -> None:
        self.out.send("connectivity", online, why, at)

    def serving(self) -> bool:
        return time.monotonic() - self.beat < self.setup.stall

    def on_message(self, message: tuple[Any, ...]) -> None:
        """A message from the service. Orders are carried out one at a time, in order (a
        `remove` after a `replace` finds what the replace left); the rest at once."""
        kind = message[0]
        if kind == "handled":  # ("handled", how many verdicts)
            for _ in range(message[1]):
                self._unhandled.release()
        elif kind == "beat":
            self.beat = time.monotonic()
        elif kind == "recheck":
            task = asyncio.get_running_loop().create_task(self.connectivity.recheck_if_many_fail(*message[1:]))
            self._rechecks.add(task)
            task.add_done_callback(self._rechecks.discard)
        else:
            self._orders.put_nowait(message)

    async def carry_out_orders(self) -> None:
        while True:
            kind, number, *args = await self._orders.get()
            if kind == "replace":
                await self.scheduler.replace(from_columns(args[0]))
            elif kind == "update":
                await self.scheduler.update(from_columns(args[0]))
            elif kind == "remove":
                await self.scheduler.remove(args[0])
            elif kind == "canaries":
                await self.connectivity.check_once()
            self.send_state()  # first: what the service reads next is what the order left
            self.out.send("done", number)

    async def report_state(self) -> None:
        """How the checks go, every STATE_EVERY: what the service's /healthz, /metrics and
        connectivity pages read."""
        while True:
            self.send_state()
            await asyncio.sleep(STATE_EVERY)

    def send_state(self) -> None:
        scheduler, lag = self.scheduler, self.scheduler.lag
        self.out.send("state", scheduler.alive(), scheduler.stats(), lag.counts, lag.total, self.connectivity.status())


async def serve(channel: socket.socket, health: socket.socket | None) -> None:
    reader, writer = await asyncio.open_connection(sock=channel)
    first = await receive(reader)
    if first is None:
        return
    setup: WorkerSetup = first[0][1]
    setup_logging(quiet=setup.quiet)
    outgoing = Outgoing(writer)
    worker = Worker(setup, outgoing)
    for message in first[1:]:  # the orders sent with the setup
        worker.on_message(message)
    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(outgoing.run(), name="to the service"),
            group.create_task(worker.scheduler.run(), name="scheduler"),
            group.create_task(worker.connectivity.run(), name="canaries"),
            group.create_task(worker.carry_out_orders(), name="orders"),
            group.create_task(worker.report_state(), name="state"),
        ]
        if health is not None:
            tasks.append(group.create_task(_serve_health(health, worker), name="health"))
        while (burst := await receive(reader)) is not None:
            for message in burst:
                worker.on_message(message)
        for task in tasks:  # the service has gone: so do the checks
            task.cancel()
    outgoing.close()


async def _serve_health(listener: socket.socket, worker: Worker) -> None:
    server = embedded_server(health_app(worker.scheduler.alive, worker.connectivity.status, worker.serving))
    try:
        await server.serve(sockets=[listener])
    finally:
        server.should_exit = True


def main(argv: list[str]) -> int:
    """`python -m ronda.node.worker CHANNEL_FD [HEALTH_FD]`, as the service starts it."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    limit_arenas()
    channel = socket.socket(fileno=int(argv[0]))
    health = socket.socket(fileno=int(argv[1])) if len(argv) > 1 else None
    trimmer = Trimmer().start()
    try:
        eventloop.run(serve(channel, health))
    finally:
        trimmer.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
