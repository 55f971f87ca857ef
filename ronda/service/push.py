"""Push monitors in the running service: jobs call their URL, and a watcher per monitor
reports the call that does not come.

A call (success, failure, a job's exit status) and a missed heartbeat each become a verdict
handed to the same `on_verdict` as the probes' verdicts, so the store, incidents, status
pages, uptime and notifications treat them as any other check. /start makes no verdict: it
is remembered (`monitors.push_started_at`) to time the run and to notice a run that hangs.

Per monitor, one lock orders its calls and its watcher's reports, so verdicts of a monitor
reach the store in the order they happened and one job calling in a loop queues at most one
write at a time. The jobs change while the service runs (`replace`, `remove`) as the
scheduler's do: after `remove` returns, no verdict of the monitor is handed on.

Secrets are looked up by their SHA-256 in a dict: the time a lookup takes depends on the
digest, which tells someone guessing nothing about any stored secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from ronda.clock import Clock, system_clock
from ronda.config.load import ancestors, dependency_map
from ronda.config.schema import Config, Monitor, PushMonitor
from ronda.durations import format_duration
from ronda.rules.heartbeats import (
    Due,
    Heartbeat,
    HeartbeatSchedule,
    after_missed,
    due,
    missed_summary,
    overdue,
    run_time,
)
from ronda.rules.incidents import Policy
from ronda.service.scheduler import Changes, Job, ProbedJobs
from ronda.storage.push_records import LastHeard, PushRecords, instant
from ronda.target import parse_target
from ronda.verdict import Finding, Verdict, iso

log = logging.getLogger("ronda")

T = TypeVar("T")
Signal = Literal["success", "fail", "start"]
LONGEST_SLEEP = 60.0  # seconds a watcher sleeps at most, so a change of the wall clock is seen soon
SUMMARY_CHARS = 200  # of a failure's output in the verdict's summary; the finding has it whole


@dataclass(frozen=True)
class PushJob:
    """A push monitor with the config's defaults filled in."""

    name: str
    target: str  # what the monitor's target reads: "push: every 1 d, grace 1 h"
    schedule: HeartbeatSchedule
    token: str | None = None  # written in its definition; None: ronda's own, made once
    policy: Policy = field(default_factory=Policy)
    tags: tuple[str, ...] = ()


def monitor_target(monitor: Monitor) -> str:
    """What a monitor's target reads: its URL, or for a push monitor its schedule (never its
    secret: targets are shown where push URLs must not be)."""
    if monitor.kind == "push":
        return f"push: {schedule_of(monitor).describe()}"
    return parse_target(monitor.target_url()).url  # kind statuspage: its statuspage+ URL


def schedule_of(monitor: PushMonitor) -> HeartbeatSchedule:
    return HeartbeatSchedule(monitor.grace, monitor.period, monitor.cron, monitor.timezone or "UTC")


def push_job_for(monitor: PushMonitor, config: Config, parents: Mapping[str, list[str]] | None = None) -> PushJob:
    """A push monitor of `config` (its defaults filled in as it was loaded), ready for the
    watch of push monitors. `parents`: the config's dependency map, when the caller has it
    (made for each of 10,000 push monitors, it was minutes of start-up)."""
    policy = Policy(
        confirm=monitor.confirm,
        recover=monitor.recover,
        alert_local=monitor.alert_local,
        parents=ancestors(monitor.name, dependency_map(config.monitors) if parents is None else parents),
    )
    return PushJob(
        monitor.name, monitor_target(monitor), schedule_of(monitor), monitor.token, policy, tuple(monitor.tags)
    )


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


# -- verdicts ---------------------------------------------------------------------------------


def call_verdict(job: PushJob, heartbeat: Heartbeat, at: datetime, failed: str | None, client: str | None) -> Verdict:
    """A job's call: success, or failure with what it said (`failed`, maybe empty)."""
    ran = run_time(heartbeat, at)
    push: dict[str, Any] = {"signal": "success" if failed is None else "fail", "from": client}
    if ran is not None:
        push["run_s"] = round(ran, 3)
    took = f" after {format_duration(ran)}" if ran is not None else ""
    if failed is None:
        summary = f"{job.name} ran {format_duration(ran)}" if ran is not None else f"heartbeat from {job.name}"
        findings: tuple[Finding, ...] = ()
    else:
        said = failed.strip().splitlines()[0][:SUMMARY_CHARS] if failed.strip() else ""
        summary = f"{job.name} reported a failure{took}" + (f": {said}" if said else "")
        findings = (Finding("job_failed", failed or "the job reported a failure and said nothing more"),)
    return Verdict(
        target=job.target,
        status="up" if failed is None else "down",
        cause=None if failed is None else "job_failed",
        summary=summary,
        checked_at=at,
        latency_ms=None if ran is None else ran * 1000,
        findings=findings,
        extra={"push": push},
    )


def missed_verdict(job: PushJob, heartbeat: Heartbeat, missed: Due, at: datetime) -> Verdict:
    summary = missed_summary(job.name, heartbeat, missed)
    push = {
        "signal": "missed",
        "expected_at": iso(missed.expected),
        "late_at": iso(missed.by),
        "started_at": iso(missed.running_since) if missed.running_since else None,
        "last_call_at": iso(heartbeat.last_call) if heartbeat.last_call else None,
    }
    return Verdict(
        target=job.target,
        status="down",
        cause="heartbeat_missed",
        summary=summary,
        checked_at=at,
        latency_ms=None,
        findings=(Finding("heartbeat_missed", summary),),
        extra={"push": push},
    )


def heartbeat_from(heard: LastHeard, watching_since: datetime) -> Heartbeat:
    """What the database says of a job: its latest call or missed run, its latest /start."""
    verdict = heard.verdict
    push = verdict.get("push") if verdict else None
    # Stored verdicts' times are to the second: so is the start compared with them, or a run
    # that started and ended within a second would look unfinished.
    started = heard.started.replace(microsecond=0) if heard.started else None
    if verdict is None or not isinstance(push, dict):  # never heard, or a probed monitor until now
        return Heartbeat(watching_since, started=started)
    if push.get("signal") != "missed":
        return Heartbeat(watching_since, instant(verdict, "checked_at"), started)
    heartbeat = Heartbeat(watching_since, instant(push, "last_call_at"), started)
    expected, by = instant(push, "expected_at"), instant(push, "late_at")
    if expected is None or by is None:
        return heartbeat
    return after_missed(heartbeat, Due(expected, by, instant(push, "started_at")))


def _later(stored: datetime | None, heard: datetime | None) -> bool:
    """Stored times are to the second, heard ones are not: a second's difference is needed."""
    if stored is None:
        return False
    return heard is None or stored >= heard.replace(microsecond=0) + timedelta(seconds=1)


# -- the running part -------------------------------------------------------------------------

OnVerdict = Callable[[PushJob, Verdict], Awaitable[None]]


class PushMonitors:
    def __init__(
        self, records: PushRecords, writer: Executor, on_verdict: OnVerdict, clock: Clock = system_clock
    ) -> None:
        self.records = records
        self._writer = writer
        self.on_verdict = on_verdict
        self._clock = clock
        self._jobs: dict[str, PushJob] = {}
        self._heard: dict[str, Heartbeat] = {}
        self._by_digest: dict[bytes, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._group: asyncio.TaskGroup | None = None
        # Another hub on the same store may take calls (ronda/service/leadership.py): before a
        # run is declared missed, the store is asked whether one came there.
        self.shared = False

    @property
    def jobs(self) -> list[PushJob]:
        return list(self._jobs.values())

    async def run(self) -> None:
        """Watch every push monitor until cancelled."""
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                group.create_task(asyncio.Event().wait())  # keeps the group open for newcomers
                for name in self._jobs:
                    self._start(name)
        finally:
            self._group = None
            self._tasks.clear()

    def _start(self, name: str) -> None:
        if self._group is not None:
            self._tasks[name] = self._group.create_task(self._watch(name), name=f"push:{name}")

    async def replace(self, jobs: Iterable[PushJob]) -> Changes:
        """Make `jobs` the push monitors: the new ones start being watched from now (or from
        what the database remembers of them), the changed ones are judged by their new
        schedule at once, the others stop."""
        wanted = {job.name: job for job in jobs}
        removed = await self.remove([name for name in self._jobs if name not in wanted])
        added = tuple(name for name in wanted if name not in self._jobs)
        updated = tuple(name for name in wanted if name in self._jobs and wanted[name] != self._jobs[name])
        tokens = await self._db(self.records.ensure_tokens, {name: job.token for name, job in wanted.items()})
        now = self._clock()
        for name in added:
            self._heard[name] = heartbeat_from(await self._db(self.records.last_heard, name), now)
            self._locks[name], self._wake[name] = asyncio.Lock(), asyncio.Event()
        self._jobs = wanted
        self._by_digest = {digest(token): name for name, token in tokens.items()}
        for name in added:
            self._start(name)
        for name in updated:
            self._wake[name].set()
        return Changes(added=added, removed=removed, updated=updated)

    async def remove(self, names: Iterable[str]) -> tuple[str, ...]:
        """Stop watching these monitors and refuse their calls; returns once none of their
        verdicts can be handed on any more."""
        gone = tuple(name for name in names if name in self._jobs)
        tasks = [task for name in gone if (task := self._tasks.pop(name, None)) is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for name in gone:
            async with self._locks[name]:  # a call being recorded finishes first
                del self._jobs[name], self._heard[name]
            del self._locks[name], self._wake[name]
        self._by_digest = {key: name for key, name in self._by_digest.items() if name in self._jobs}
        return gone

    def monitor_of(self, token: str) -> str | None:
        return self._by_digest.get(digest(token))

    async def call(
        self,
        token: str,
        signal: Signal,
        *,
        output: str = "",
        client: str | None = None,
    ) -> bool:
        """A job's call; False when no push monitor has that secret (now)."""
        name = self.monitor_of(token)
        if name is None or name not in self._locks:
            return False
        async with self._locks[name]:
            job = self._jobs.get(name)
            if job is None:  # removed while this call waited
                return False
            at = self._clock()
            heartbeat = self._heard[name]
            if signal == "start":
                await self._db(self.records.started, name, at)
                self._heard[name] = Heartbeat(heartbeat.watching_since, heartbeat.last_call, at, heartbeat.missed)
            else:
                failed = output if signal == "fail" else None
                await self.on_verdict(job, call_verdict(job, heartbeat, at, failed, client))
                self._heard[name] = Heartbeat(heartbeat.watching_since, at, heartbeat.started)
            self._wake[name].set()
        return True

    async def _watch(self, name: str) -> None:
        while True:
            async with self._locks[name]:
                self._wake[name].clear()  # a call from here on wakes the sleep below
                job, heartbeat, now = self._jobs[name], self._heard[name], self._clock()
                missed = overdue(job.schedule, heartbeat, now)
                if missed is not None and self.shared and await self._heard_elsewhere(name, heartbeat):
                    continue
                if missed is not None:
                    await self._report(job, missed_verdict(job, heartbeat, missed, now))
                    self._heard[name] = after_missed(heartbeat, missed)
                    continue
                wait = (due(job.schedule, heartbeat).by - now).total_seconds()
            with contextlib.suppress(TimeoutError):
                # A hair past the deadline, so that the next look finds it passed.
                async with asyncio.timeout(min(wait + 0.01, LONGEST_SLEEP)):
                    await self._wake[name].wait()

    async def _heard_elsewhere(self, name: str, heartbeat: Heartbeat) -> bool:
        """Whether the store knows of a later call or start than this hub heard (taken by
        another hub): then that is the heartbeat from now on."""
        stored = heartbeat_from(await self._db(self.records.last_heard, name), heartbeat.watching_since)
        later = _later(stored.last_call, heartbeat.last_call) or _later(stored.started, heartbeat.started)
        if later:
            self._heard[name] = stored
        return later

    async def _report(self, job: PushJob, verdict: Verdict) -> None:
        try:
            await self.on_verdict(job, verdict)
        except Exception:
            # Counted as reported all the same: retrying at once would only fail again, in a loop.
            log.exception("the missed heartbeat of %s could not be recorded", job.name)

    async def _db(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, call, *args)


class Watchers:
    """The probed monitors' scheduler, the push monitors' watch and the agents' monitors, as
    one: what the monitor manager hands each monitor to, and stops. The scheduler gets only
    the monitors the hub checks itself (Job.local); `agents`, when given, every probed one."""

    def __init__(self, scheduler: ProbedJobs, push: PushMonitors, agents: ProbedJobs | None = None) -> None:
        self.scheduler = scheduler
        self.push = push
        self.agents = agents

    @property
    def jobs(self) -> list[Job | PushJob]:
        remote = [job for job in self.agents.jobs if not job.local] if self.agents is not None else []
        return [*self.scheduler.jobs, *remote, *self.push.jobs]

    async def replace(self, jobs: Iterable[Job | PushJob]) -> Changes:
        jobs = list(jobs)
        probed = [job for job in jobs if isinstance(job, Job)]
        # Probes first: a monitor that became a push monitor is no longer checked when its
        # calls start to count.
        checked = await self.scheduler.replace(job for job in probed if job.local)
        remote = await self.agents.replace(probed) if self.agents is not None else Changes()
        pushed = await self.push.replace(job for job in jobs if isinstance(job, PushJob))
        return merged(checked, remote, pushed)

    async def update(self, jobs: Iterable[Job | PushJob]) -> Changes:
        """Add or change these monitors only, whatever their kind was before."""
        jobs = list(jobs)
        probed = [job for job in jobs if isinstance(job, Job)]
        pushed = {job.name: job for job in jobs if isinstance(job, PushJob)}
        # A monitor that changed kind (or stopped being checked here) leaves the other side
        # first, as in replace.
        not_here = [*pushed, *(job.name for job in probed if not job.local)]
        left = (*await self.scheduler.remove(not_here), *await self.push.remove(job.name for job in probed))
        if self.agents is not None:
            left += await self.agents.remove(pushed)
        checked = await self.scheduler.update(job for job in probed if job.local)
        remote = await self.agents.update(probed) if self.agents is not None else Changes()
        watched = await self.push.replace([*self.push.jobs, *pushed.values()]) if pushed else Changes()
        together = merged(checked, remote, watched)
        return Changes(
            added=tuple(name for name in together.added if name not in left),
            removed=(),
            restarted=tuple(dict.fromkeys(together.restarted + left)),
            updated=together.updated,
        )

    async def remove(self, names: Iterable[str]) -> tuple[str, ...]:
        names = list(names)
        remote = await self.agents.remove(names) if self.agents is not None else ()
        return tuple(dict.fromkeys((*await self.scheduler.remove(names), *remote, *await self.push.remove(names))))


def merged(*parts: Changes) -> Changes:
    """Several parts' changes as one: a monitor one part lost and another gained (it moved
    from the hub's checks to the agents', or became a push monitor) was restarted."""
    added = [name for part in parts for name in part.added]
    removed = [name for part in parts for name in part.removed]
    moved = set(added) & set(removed)
    return Changes(
        added=tuple(dict.fromkeys(name for name in added if name not in moved)),
        removed=tuple(dict.fromkeys(name for name in removed if name not in moved)),
        restarted=tuple(dict.fromkeys([*(n for part in parts for n in part.restarted), *sorted(moved)])),
        updated=tuple(dict.fromkeys(name for part in parts for name in part.updated)),
    )
