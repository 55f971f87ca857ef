"""The sender: delivers the outbox's due rows, channel by channel, in the order written.

At least once: a row is marked `sent` in its own transaction right after its channel
accepted it. A crash (or a stop that cannot wait) between those two steps sends that one
notice again after the restart; that is the at-least-once window, and the only one. A row
the channel refused waits out its own backoff, so one notice a service rejects for good
cannot hold up the others; past its deadline a row is `failed`, with the channel's last
answer kept for the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

from ronda.clock import Clock, system_clock
from ronda.notify.apprise import deliver
from ronda.notify.channels import Channel
from ronda.notify.messages import Message, digest_message
from ronda.notify.outbox import OutboxSettings
from ronda.storage.outbox import Ledger, Pending

log = logging.getLogger("ronda.notify")
T = TypeVar("T")

IDLE_WAKE = 60.0  # seconds between looks at an outbox with nothing due (new rows wake it sooner)


@dataclass(frozen=True)
class Batch:
    """What goes out as one message: a row, or a storm's openings as one digest."""

    rows: tuple[Pending, ...]
    digest: bool = False


def plan(rows: Sequence[Pending], now: datetime, settings: OutboxSettings) -> list[Batch]:
    """One channel's pending rows (in the order written) -> what to send now, in order.

    Nothing goes unless a row is due; then rows never tried that were written before the
    last due one go too, so a held opening never arrives after its own resolution (a row
    waiting out a failure keeps its own time). The openings due within the storm window go
    as one digest, in the place of the first, when there are more than `settings.storm` of
    them or when one held for a storm (ronda/notify/outbox.py) is due and others wait too."""
    due = [i for i, row in enumerate(rows) if row.next_attempt_at <= now]
    if not due:
        return []
    ready = [row for row in rows[: due[-1] + 1] if row.attempts == 0 or row.next_attempt_at <= now]
    window_end = now + timedelta(seconds=settings.storm_window)
    opened = tuple(r for r in rows if r.opened_incident is not None and r.next_attempt_at <= window_end)
    storm_due = any(r.held_for_storm and r.next_attempt_at <= now for r in opened)
    if len(opened) <= settings.storm and not (storm_due and len(opened) > 1):
        return [Batch((row,)) for row in ready]
    in_digest = {row.id for row in opened}
    batches, digested = [], False
    for row in ready:
        if row.id not in in_digest:
            batches.append(Batch((row,)))
        elif not digested:
            batches.append(Batch(opened, digest=True))
            digested = True
    if not digested:  # every opening is held, a later row is due: the digest leads
        batches.insert(0, Batch(opened, digest=True))
    return batches


class Sender:
    def __init__(
        self,
        ledger: Ledger,
        channels: Sequence[Channel],
        settings: OutboxSettings,
        executor: Executor,
        public_url: str | None = None,
        clock: Clock = system_clock,
        send: Callable[[str, Message], str | None] = deliver,
        resolve: Callable[[str], Channel | None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.channels = {channel.name: channel for channel in channels}
        self.settings = settings
        self.public_url = public_url
        self._executor = executor  # the store's writer thread: one writer for SQLite
        self._clock = clock
        self._send = send
        # Channels the config does not list by name (a status page's subscribers and public
        # channels): looked up in the store's thread, per pass.
        self._resolve = resolve
        self._rng = random.Random()
        self._wake = asyncio.Event()
        self._stopping = False
        self.idle_wake = IDLE_WAKE  # seconds between looks with nothing due

    def wake(self) -> None:
        """New rows were written: look now rather than at the next due time."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the send in flight (and mark it), then end `run`."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                wake_at = await self.deliver_due()
            except Exception:
                # A defect (or a database hiccup) must not end notifications for good.
                log.exception("the notification sender failed; trying again shortly")
                wake_at = self._clock() + timedelta(seconds=5)
            await self._sleep_until(wake_at)

    async def deliver_due(self) -> datetime | None:
        """Send whatever is due now; return when to look next."""
        now = self._clock()
        expired = await self._db(self.ledger.expire, now)
        if expired:
            log.warning("%d notification(s) not delivered before their deadline; see /api/v1/notifications", expired)
        for name, rows in by_channel(await self._db(self.ledger.pending)).items():
            if self._stopping:
                break
            await self._deliver_channel(name, rows, now)
        return await self._db(self.ledger.next_wake)

    async def _deliver_channel(self, name: str, rows: list[Pending], now: datetime) -> None:
        channel = self.channels.get(name)
        if channel is None and self._resolve is not None:
            channel = await self._db(self._resolve, name)
        if channel is None:  # renamed or removed from the config since the row was written
            await self._db(self.ledger.abandon, [row.id for row in rows], f"no channel named {name!r} in the config")
            return
        for batch in plan(rows, now, self.settings):
            # After a failure the channel is likely down: its other rows wait for the next
            # pass, and the other channels get their turn first.
            if self._stopping or not await self._deliver(channel, batch):
                return

    async def _deliver(self, channel: Channel, batch: Batch) -> bool:
        message = await self._message(batch)
        error = await asyncio.to_thread(self._send, channel.url, message)
        ids = [row.id for row in batch.rows]
        if error is None:
            await self._db(self.ledger.mark_sent, ids, self._clock())
            return True
        # One time for the whole batch, so that a digest's rows come due together again.
        attempts = max(row.attempts for row in batch.rows) + 1
        retry_at = self._clock() + timedelta(seconds=self.settings.backoff.delay(attempts, self._rng.random()))
        await self._db(self.ledger.mark_attempt_failed, ids, retry_at, error)
        log.warning("channel %s did not take %r: %s", channel.name, message.title, error)
        return False

    async def _message(self, batch: Batch) -> Message:
        if not batch.digest:
            row = batch.rows[0]
            return Message(row.title, row.body, row.kind)
        ids = [row.opened_incident for row in batch.rows if row.opened_incident is not None]
        known = await self._db(self.ledger.opened, ids)
        return digest_message([known.get(i, (f"incident #{i}", None)) for i in ids], self.public_url)

    async def _sleep_until(self, wake_at: datetime | None) -> None:
        seconds = self.idle_wake if wake_at is None else (wake_at - self._clock()).total_seconds()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=min(max(seconds, 0.01), self.idle_wake))
        self._wake.clear()

    async def _db(self, call: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, partial(call, *args))


def by_channel(rows: Sequence[Pending]) -> dict[str, list[Pending]]:
    grouped: dict[str, list[Pending]] = {}
    for row in rows:
        grouped.setdefault(row.channel, []).append(row)
    return grouped
