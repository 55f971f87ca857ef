"""Verdicts into the store in batches, each caller still awaiting its own notices.

One transaction per verdict set the pace of every check past a few thousand monitors
(several reads, an insert, an update and a commit each, on the store's one writer thread).
Here each verdict waits in a list; the writer takes all that have gathered and records
them in one transaction (`Monitors.record_many`), then hands each caller its notices. The
first verdict of a batch waits LINGER for others to join it: a transaction costs about as
much for one verdict as for fifty, and at 1,700 checks a second the writer would otherwise
commit on every other verdict. The write-behind (service/write_behind.py) decides when the
writer runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor

from ronda.service.write_behind import WriteBehind
from ronda.storage.arrivals import Arrival
from ronda.storage.incidents import Notice

RecordMany = Callable[[Sequence[Arrival]], list[list[Notice] | Exception]]
Waiting = tuple[Arrival, asyncio.Future[list[Notice]]]

LINGER = 0.05  # seconds a batch's first verdict waits for others to share its transaction


class Recorder:
    def __init__(self, record_many: RecordMany, writer: Executor) -> None:
        self._record_many = record_many
        self._lock = threading.Lock()
        self._waiting: list[Waiting] = []
        self._behind = WriteBehind(self._write, writer, "verdicts")

    async def record_all(self, arrivals: Sequence[Arrival]) -> list[list[Notice] | BaseException]:
        """Store these verdicts with the others gathered meanwhile: each one's notices, or
        why it could not be stored (the others are stored all the same)."""
        loop = asyncio.get_running_loop()
        waiting: list[Waiting] = [(arrival, loop.create_future()) for arrival in arrivals]
        with self._lock:
            first = not self._waiting
            self._waiting += waiting
        if first:
            loop.call_later(LINGER, self._behind.wake)
        return await asyncio.gather(*(done for _, done in waiting), return_exceptions=True)

    def _write(self) -> None:
        """On the writer thread."""
        with self._lock:
            batch, self._waiting = self._waiting, []
        # A caller gone before its turn (its monitor removed, ronda stopping) is not written,
        # as a queued write was not before; one already in the batch is.
        batch = [(arrival, done) for arrival, done in batch if not done.cancelled()]
        if not batch:
            return
        try:
            outcomes = self._record_many([arrival for arrival, _ in batch])
        except Exception as exc:  # record_many raises only for a batch of one: its caller hears why
            outcomes = [exc] * len(batch)
        for (_, done), outcome in zip(batch, outcomes, strict=True):
            with contextlib.suppress(RuntimeError):  # its loop has closed: nobody waits any more
                done.get_loop().call_soon_threadsafe(_settle, done, outcome)


def _settle(done: asyncio.Future[list[Notice]], outcome: list[Notice] | Exception) -> None:
    if done.cancelled():
        return
    if isinstance(outcome, Exception):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
