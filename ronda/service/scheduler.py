"""Runs every monitor at its interval, forever, without drift or pile-up.

Each monitor has a fixed random phase (jitter), so a hundred monitors with the same
interval do not all fire in the same instant. One dispatcher takes the next due check from
a heap when a slot is free, and a check is a task only while it runs: at 100,000 monitors a
sleeping task per monitor cost a kilobyte each and a timer wake-up per check. Due times are
computed from the schedule, not from when the last check ended, so checks do not drift; a check
that overruns its slot skips the missed slots instead of running them back to back.
A semaphore bounds how many checks run at once, and every check is bounded by its own
timeout, so a slow or hostile target only ever costs its own slot.

The jobs can change while it runs (`replace` all, `update` some, `remove`): a monitor that is
checked the same way keeps its plan, so its phase and its confirmation state, and takes new
judging settings (policy, tags, re-check pace) from its next verdict; one checked
differently (target, options, interval) starts over; one removed is cancelled, its check in
flight included, and no verdict of it is handed on after `remove` returns.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ronda import defaults
from ronda.check import run_check
from ronda.config.schema import LOCAL_REGION
from ronda.errors import RondaError
from ronda.probes.base import ProbeContext
from ronda.probes.browsers import BROWSERS
from ronda.rules.incidents import Policy
from ronda.target import CheckOptions, Target
from ronda.verdict import Verdict

log = logging.getLogger("ronda.scheduler")

# A monitor's first check comes soon after it starts, spread over FIRST_WITHIN seconds; when
# many start at once (ronda's start, a large reload), over as long as keeps their first
# checks to FIRST_PER_SECOND, up to an interval: 100,000 first checks in 3 s were a backlog
# that took minutes to clear, every check late behind it.
FIRST_WITHIN = 3.0
FIRST_PER_SECOND = 500.0


def first_spread(starting: int) -> float:
    """Seconds over which the first checks of `starting` monitors are spread (before the
    cap of each one's interval)."""
    return max(FIRST_WITHIN, starting / FIRST_PER_SECOND)


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    target: Target
    options: CheckOptions
    interval: float
    policy: Policy = field(default_factory=Policy)
    recheck: float = defaults.RECHECK  # seconds to a re-check while a change of state is unconfirmed
    tags: tuple[str, ...] = ()
    regions: tuple[str, ...] | None = None  # where it is checked from (agents' regions, local); None: all

    @property
    def local(self) -> bool:
        """Whether the hub checks it itself, as well as any agents."""
        return self.regions is None or LOCAL_REGION in self.regions


class ProbedJobs(Protocol):
    """What runs the probed monitors: the scheduler, or the engine that runs it on a thread."""

    @property
    def jobs(self) -> list[Job]: ...

    async def replace(self, jobs: Iterable[Job]) -> Changes: ...

    async def update(self, jobs: Iterable[Job]) -> Changes: ...

    async def remove(self, names: Iterable[str]) -> tuple[str, ...]: ...


OnVerdict = Callable[[Job, Verdict], Awaitable[None]]


def checked_alike(old: Job, new: Job) -> bool:
    """Whether two definitions of a monitor run the same checks on the same grid (the rest,
    policy and tags, only judges the verdicts, so it can change under a running loop)."""
    return (old.target, old.options, old.interval) == (new.target, new.options, new.interval)


@dataclass(frozen=True)
class Changes:
    """What a `replace` did, by monitor name."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    restarted: tuple[str, ...] = ()  # checked differently now: a new loop, a new phase
    updated: tuple[str, ...] = ()  # judged differently now: the same loop

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.restarted or self.updated)

    def to_json(self) -> dict[str, list[str]]:
        return {key: list(getattr(self, key)) for key in ("added", "removed", "restarted", "updated")}


def changes_between(old: Mapping[str, Job], new: Mapping[str, Job]) -> Changes:
    """What making `new` the jobs in place of `old` does, monitor by monitor."""
    added = tuple(name for name in new if name not in old)
    removed = tuple(name for name in old if name not in new)
    changed = [name for name in new if name in old and new[name] != old[name]]
    restarted = tuple(name for name in changed if not checked_alike(old[name], new[name]))
    starting_over = set(restarted)  # a set: a reload may restart 100,000
    updated = tuple(name for name in changed if name not in starting_over)
    return Changes(added, removed, restarted, updated)


def changes_of_update(old: Mapping[str, Job], new: Mapping[str, Job]) -> Changes:
    """What adding or changing the jobs `new` among `old` does, leaving the others be."""
    return changes_between({name: old[name] for name in new if name in old}, new)


def next_due(due: float, interval: float, now: float) -> tuple[float, int]:
    """The slot after `due` that has not passed yet, and how many slots were skipped to
    reach it. Slots stay on the grid due + k * interval, so checks never drift."""
    following = due + interval
    if following >= now:
        return following, 0
    missed = math.ceil((now - following) / interval)
    return following + missed * interval, missed


# Upper bounds (seconds) of the lag histogram's buckets: from "on time" to "a whole default
# interval late", where a check is as good as lost.
LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0)


class LagHistogram:
    """How late checks started against their due time, counted since start in buckets (the
    Prometheus form), so a scraper gets percentiles over any span from two scrapes. The
    latest lag alone hides the stalls a soak or an operator looks for."""

    def __init__(self, bounds: tuple[float, ...] = LAG_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: later than every bound
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.total += seconds

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, checks at most that late) per bucket, +Inf last."""
        running, out = 0, []
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


class Confirmation:
    """Tracks whether a monitor's latest change of state (failing, or working again) still
    needs confirming checks; the scheduler re-checks quickly while it does."""

    __slots__ = ("policy", "settled_failing", "streak")  # one per monitor: 100,000 in the worker

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


class _Plan(Confirmation):
    """Where one monitor stands on its grid: the state its checks carry from one to the next,
    its confirmation among them (one object, not two: 100,000 of them in the worker)."""

    __slots__ = ("due", "next_start", "rechecked")

    def __init__(self, due: float, policy: Policy) -> None:
        super().__init__(policy)
        self.due = due  # the grid's latest slot
        self.rechecked = True  # the first check is off the grid: slots it spans are not lost
        # Its entry in the heap, by identity: entries of a plan replaced or of a monitor gone
        # are stale (a token per plan was 36 bytes a monitor more, in a worker of 100,000).
        self.next_start: float | None = None


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
        self._jobs = {job.name: job for job in jobs}  # the current definition of each monitor
        self._plans: dict[str, _Plan] = {}  # each monitor's place on its grid, while running
        self._due: list[tuple[float, str]] = []  # (start, monitor): a heap; see _Plan.next_start
        self._running: dict[str, asyncio.Task[None]] = {}  # checks in flight, by monitor
        self._wake = asyncio.Event()  # set when a check falls due sooner than the dispatcher waits
        self._waiting_until = math.inf
        self._group: asyncio.TaskGroup | None = None
        self.on_verdict = on_verdict
        self.context = context or ProbeContext()
        self._slots = asyncio.Semaphore(concurrency)
        self._rng = rng or random.Random()
        self.heartbeat = time.monotonic()
        self.checks_run = 0
        self.slots_skipped = 0
        self.lag_seconds = 0.0  # how late the latest check started against its due time
        self.lag = LagHistogram()  # ... and every check's, in buckets
        self._cannot: dict[str, str] = {}  # monitor -> why this machine cannot check it now
        # What each monitor's latest check kept for the next (Verdict.kept), as the store keeps
        # it: {"target": URL, "kept": {...}}. A monitor whose URL changed starts over.
        self.known: dict[str, dict[str, Any]] = {}

    def alive(self, within: float = 5.0) -> bool:
        return time.monotonic() - self.heartbeat < within

    def stats(self) -> dict[str, float]:
        return {"checks_run": self.checks_run, "slots_skipped": self.slots_skipped, "lag_seconds": self.lag_seconds}

    @property
    def jobs(self) -> list[Job]:
        return list(self._jobs.values())

    @property
    def job_count(self) -> int:
        return len(self._jobs)

    async def run(self) -> None:
        """Run until cancelled. Browser checks' Chromium stays open between checks meanwhile
        (one start per idle spell, not one per check), and closes as the scheduler stops."""
        try:
            async with BROWSERS.kept_open(), asyncio.TaskGroup() as group:
                self._group = group
                group.create_task(self._beat())
                self._start(self._jobs, first_spread(len(self._jobs)))
                await self._dispatch(group)
        finally:
            self._group = None
            self._plans.clear()
            self._due.clear()
            self._running.clear()

    def _start(self, names: Iterable[str], spread: float) -> None:
        """Give these monitors a new plan: a first check soon (a newcomer wants to see state
        at once), spread over `spread` seconds (first_spread), and a grid whose phase is
        spread over the whole interval: were the first check the phase, every monitor would
        fall due in the same few seconds of each interval and wait on each other for slots."""
        if self._group is None:
            return
        now = time.monotonic()
        for name in names:
            job = self._jobs[name]
            start = now + self._rng.uniform(0, min(job.interval, spread))
            plan = _Plan(start - self._rng.uniform(0, job.interval), job.policy)
            self._plans[name] = plan
            self._plan_next(name, plan, start)

    def _plan_next(self, name: str, plan: _Plan, start: float) -> None:
        plan.next_start = start
        heapq.heappush(self._due, (start, name))
        if start < self._waiting_until:
            self._wake.set()

    async def remove(self, names: Iterable[str]) -> tuple[str, ...]:
        """Stop checking these monitors and wait until their checks in flight have stopped:
        such a check is cancelled and its verdict never reaches `on_verdict`."""
        gone = tuple(name for name in names if name in self._jobs)
        for name in gone:
            del self._jobs[name]
        await self._stop(gone)
        return gone

    async def _stop(self, names: Iterable[str]) -> None:
        stopping = []
        for name in names:
            self._plans.pop(name, None)  # its entry in the heap is stale from now on
            if (task := self._running.pop(name, None)) is not None:
                stopping.append(task)
        await _cancel(stopping)

    async def replace(self, jobs: Iterable[Job]) -> Changes:
        """Make `jobs` the scheduler's jobs (see the module's docstring for what each kind
        of change does). Returns once removed and restarted checks have stopped."""
        wanted = {job.name: job for job in jobs}
        changes = changes_between(self._jobs, wanted)
        await self.remove(changes.removed)
        await self._take(wanted, changes)
        return changes

    async def update(self, jobs: Iterable[Job]) -> Changes:
        """Add these jobs or change them, and leave every other as it is: what one monitor
        added through the API costs, whatever the number of the others."""
        wanted = {job.name: job for job in jobs}
        changes = changes_of_update(self._jobs, wanted)
        await self._take(self._jobs | wanted, changes)
        return changes

    async def _take(self, jobs: dict[str, Job], changes: Changes) -> None:
        await self._stop(changes.restarted)
        self._jobs = jobs
        starting = (*changes.added, *changes.restarted)
        self._start(starting, first_spread(len(starting)))

    async def _beat(self) -> None:
        while True:
            self.heartbeat = time.monotonic()
            await asyncio.sleep(1)

    async def _dispatch(self, group: asyncio.TaskGroup) -> None:
        """Start each check when it falls due and a slot is free, earliest due first."""
        while True:
            await self._slots.acquire()  # released when the check ends (_run_one)
            try:
                start, name, plan = await self._next_due()
            except BaseException:
                self._slots.release()
                raise
            self._running[name] = group.create_task(self._check_once(name, plan, start))

    async def _next_due(self) -> tuple[float, str, _Plan]:
        loop = asyncio.get_running_loop()
        while True:
            now = time.monotonic()
            while self._due:
                start, name = self._due[0]
                plan = self._plans.get(name)
                if plan is None or plan.next_start is not start:  # removed or restarted since
                    heapq.heappop(self._due)
                    continue
                if start > now:
                    break
                heapq.heappop(self._due)
                return start, name, plan
            self._waiting_until = self._due[0][0] if self._due else math.inf
            self._wake.clear()
            timer = loop.call_later(self._waiting_until - now, self._wake.set) if self._due else None
            try:
                await self._wake.wait()
            finally:
                self._waiting_until = -math.inf  # while not waiting, nothing needs to wake it
                if timer is not None:
                    timer.cancel()

    async def _check_once(self, name: str, plan: _Plan, start: float) -> None:
        """One check of a monitor and, unless the monitor is gone or restarted meanwhile,
        the plan of its next one."""
        job = self._jobs[name]  # its policy and tags may have changed since; its checks not
        plan.policy = job.policy
        verdict = await self._run_one(job, start)
        now = time.monotonic()
        if self._plans.get(name) is not plan:
            return
        del self._running[name]
        if verdict is not None and plan.observe(verdict.status != "up"):
            # A change not yet confirmed: look again within seconds, not a whole interval;
            # the regular slots resume after it, on the same grid. The re-check's lag is
            # measured from its own due time, not from the slot that started it.
            plan.rechecked = True
            self._plan_next(name, plan, now + min(job.recheck, job.interval))
            return
        plan.due, missed = next_due(plan.due, job.interval, now)
        if not plan.rechecked:  # slots passed during re-checks were used, not lost
            self.slots_skipped += missed
        plan.rechecked = False
        self._plan_next(name, plan, plan.due)

    async def _run_one(self, job: Job, due: float) -> Verdict | None:
        try:
            # The slot (taken by the dispatcher) bounds the checks in flight, not the verdicts
            # being stored: it is free again before the verdict is handed on, so a slow store
            # (or a busy service loop) delays this monitor's next check at most, never the
            # others'.
            try:
                self.lag_seconds = max(time.monotonic() - due, 0.0)
                self.lag.observe(self.lag_seconds)
                verdict = await self._check(job)
            finally:
                self._slots.release()
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
            verdict = await run_check(job.target, job.options, self.context, self._known(job))
        except RondaError as exc:
            if self._cannot.get(job.name) != str(exc):
                log.error("%s cannot be checked: %s", job.name, exc)
            self._cannot[job.name] = str(exc)
            return None
        if self._cannot.pop(job.name, None) is not None:
            log.warning("%s can be checked again", job.name)
        if verdict.kept is not None:
            self.known[job.name] = {"target": job.target.url, "kept": verdict.kept}
        return verdict

    def _known(self, job: Job) -> dict[str, Any] | None:
        memory = self.known.get(job.name)
        return memory["kept"] if memory is not None and memory.get("target") == job.target.url else None


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    # A loop cancelled mid-check ends with CancelledError; that is the point, not a failure.
    await asyncio.gather(*tasks, return_exceptions=True)
