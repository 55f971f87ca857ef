"""Keeping history cheap while ronda runs: every few minutes the verdicts stored since the
last round are rolled up into their hours and days, and what is older than `retention:` is
deleted (ronda/storage/history.py says how). Each step is one short transaction on the
store's writer, so verdicts keep being written between them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta

from ronda.clock import Clock, system_clock
from ronda.config.schema import Retention
from ronda.storage.history import History

log = logging.getLogger("ronda")

EVERY = 300.0  # seconds between rounds: readers add the raw verdicts not yet rolled up


@dataclass(frozen=True)
class Round:
    rolled: int  # chunks of monitors' hours rolled up
    deleted: int  # raw verdicts deleted


@dataclass
class HistoryKeeper:
    history: History
    writer: Executor  # the store's one writer thread
    retention: Callable[[], Retention]  # the config's, now
    clock: Clock = system_clock
    every: float = EVERY

    async def run(self) -> None:
        while True:
            try:
                done = await self.round()
                if done.rolled or done.deleted:
                    log.debug("history: %d steps rolled up, %d verdicts deleted", done.rolled, done.deleted)
            except Exception:  # a bad round must not end the keeping; the next one tries again
                log.exception("rolling up or pruning history failed")
            await asyncio.sleep(self.every)

    async def round(self, now: datetime | None = None) -> Round:
        """Make the coming days' tables, roll up every hour due, then prune by the
        retention, as of `now`."""
        loop = asyncio.get_running_loop()
        now = now or self.clock()
        await loop.run_in_executor(self.writer, self.history.prepare, now)  # PostgreSQL's day tables
        rolled = 0
        while await loop.run_in_executor(self.writer, self.history.roll, now):
            rolled += 1
        retention = self.retention()
        before = now - timedelta(seconds=retention.raw)
        deleted, after = 0, 0
        while True:
            removed, last = await loop.run_in_executor(self.writer, self.history.prune, before, after)
            deleted += removed
            if last is None:
                break
            after = last
        days_before = None if retention.daily is None else now - timedelta(seconds=retention.daily)
        await loop.run_in_executor(
            self.writer, self.history.prune_rollups, now - timedelta(seconds=retention.hourly), days_before
        )
        return Round(rolled, deleted)
