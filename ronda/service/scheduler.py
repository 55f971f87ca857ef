"""Runs every monitor at its interval, forever, without drift or pile-up.

Each monitor has its own loop with a fixed random phase (jitter), so a hundred monitors
with the same interval do not all fire in the same instant. Due times are computed
from the schedule, not from when the last check ended, so checks do not drift; a check
that overruns its slot skips the missed slots instead of running them back to back.
A semaphore bounds how many checks run at once, and every check is bounded by its own
timeout, so a slow or hostile target only ever costs its own slot.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ronda.check import run_check
from ronda.errors import RondaError
from ronda.probes.base import ProbeContext
from ronda.service.incidents import Policy
from ronda.target import CheckOptions, Target
from ronda.verdict import Verdict

log = logging.getLogger("ronda.scheduler")


@dataclass(frozen=True)
class Job:
    name: str
    target: Target
    options: CheckOptions
    interval: float
    policy: Policy = field(default_factory=Policy)
    recheck: float = 2.0  # seconds to a re-check while a change of state is unconfirmed
    tags: tuple[str, ...] = ()


OnVerdict = Callable[[Job, Verdict], Awaitable[None]]


def next_due(due: float, interval: float, now: float) -> tuple[float, int]:
    """The slot after `due` that has not passed yet, and how many slots were skipped to
    reach it. Slots stay on the grid due + k * interval, so checks never drift."""
    following = due + interval
    if following >= now:
        return following, 0
    missed = math.ceil((now - following) / interval)
    return following + missed * interval, missed


class Confirmation:
    """Tracks whether a monitor's latest change of state (failing, or working again) still
    needs confirming checks; the scheduler re-checks quickly while it does."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.settled_failing = False
        self.streak = 0  # checks in a row that disagree with the settled state

    def observe(self, failing: bool) -> bool:
        """Record a check; True while a change it started is still unconfirmed."""
        if failing == self.settled_failing:
            self.streak = 0
            return False
        self.streak += 1
        needed = self.policy.confirm if failing else self.policy.recover
        if self.streak >= needed:
            self.settled_failing, self.streak = failing, 0
            return False
        return True


class Scheduler:
    def __init__(
        self,
        jobs: list[Job],
        on_verdict: OnVerdict,
        *,
        concurrency: int = 64,
        context: ProbeContext | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.jobs = jobs
        self.on_verdict = on_verdict
        self.context = context or ProbeContext()
        self._slots = asyncio.Semaphore(concurrency)
        self._rng = rng or random.Random()
        self.heartbeat = time.monotonic()
        self.checks_run = 0
        self.slots_skipped = 0
        self.lag_seconds = 0.0  # how late the latest check started against its due time
        self._cannot: dict[str, str] = {}  # monitor -> why this machine cannot check it now

    def alive(self, within: float = 5.0) -> bool:
        return time.monotonic() - self.heartbeat < within

    def stats(self) -> dict[str, float]:
        return {"checks_run": self.checks_run, "slots_skipped": self.slots_skipped, "lag_seconds": self.lag_seconds}

    async def run(self) -> None:
        """Run until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._beat())
            for job in self.jobs:
                group.create_task(self._loop(job), name=f"monitor:{job.name}")

    async def _beat(self) -> None:
        while True:
            self.heartbeat = time.monotonic()
            await asyncio.sleep(1)

    async def _loop(self, job: Job) -> None:
        # The first check comes soon (a newcomer wants to see state at once), spread over
        # at most the first few seconds; after that every `interval`, on the same phase.
        due = time.monotonic() + self._rng.uniform(0, min(job.interval, 3.0))
        confirming = Confirmation(job.policy)
        rechecked = False
        while True:
            await asyncio.sleep(max(due - time.monotonic(), 0))
            verdict = await self._run_one(job, due)
            now = time.monotonic()
            if verdict is not None and confirming.observe(verdict.status != "up"):
                # A change not yet confirmed: look again within seconds, not a whole interval;
                # the regular slots resume after it, on the same grid.
                await asyncio.sleep(min(job.recheck, job.interval))
                rechecked = True
                continue
            due, missed = next_due(due, job.interval, now)
            if not rechecked:  # slots passed during re-checks were used, not lost
                self.slots_skipped += missed
            rechecked = False

    async def _run_one(self, job: Job, due: float) -> Verdict | None:
        async with self._slots:
            self.lag_seconds = max(time.monotonic() - due, 0.0)
            try:
                verdict = await self._check(job)
                if verdict is None:
                    return None
                self.checks_run += 1
                await self.on_verdict(job, verdict)
            except Exception:
                # A bug in one check must not stop the others; it is logged loudly.
                log.exception("check of %s failed with an internal error", job.name)
                return None
            return verdict

    async def _check(self, job: Job) -> Verdict | None:
        """The job's verdict; None when this machine cannot make it (ping not permitted, a
        parameter the probe refuses). That is no verdict on the target: it is logged when it
        starts and when it ends, not at every slot, and the other monitors go on."""
        try:
            verdict = await run_check(job.target, job.options, self.context)
        except RondaError as exc:
            if self._cannot.get(job.name) != str(exc):
                log.error("%s cannot be checked: %s", job.name, exc)
            self._cannot[job.name] = str(exc)
            return None
        if self._cannot.pop(job.name, None) is not None:
            log.warning("%s can be checked again", job.name)
        return verdict
