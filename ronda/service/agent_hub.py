"""The hub's side of probe agents (ronda/agent/): which monitors each agent checks, and the
verdicts they send back.

Assignment: a monitor names the regions it is checked from (`regions:`, unset: all); in each
region one live agent checks it, the one rendezvous hashing picks (highest random weight: a
hash of agent and monitor, the largest wins). An agent joining or leaving a region moves only
the monitors it gains or had, never the others' (a modulo or a sorted list would reshuffle
them all). An agent is live while it was heard from within `agents.silent_after`; a silent agent's
monitors go to the others of its region at their next question (`agents.ask_every`), and the silent
agent is shown as a lost vantage point, never as failing targets: its readings simply age
out of the monitors' quorum (Policy.fresh_for).

Verdicts: an agent's batch carries its monitors' verdicts as `ronda check --json` writes
them. The vantage point is the agent's, from its token ("eu-south/milan-1"), whatever the
batch says; a verdict of a monitor no longer checked from its region is dropped, and a batch
sent again (its answer lost on the way) is taken once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ronda.clock import Clock, system_clock
from ronda.config.schema import Config
from ronda.service.scheduler import Changes, Job, changes_between, changes_of_update
from ronda.storage.agents import Agent, Agents
from ronda.verdict import Verdict, parse_iso, verdict_from_json

log = logging.getLogger("ronda")

LIVE_FOR = 2.0  # seconds the list of live agents is read once for all questions
BATCHES_REMEMBERED = 4096  # batch ids kept to take a batch sent twice once
# What an agent is not told of a monitor: how the hub judges (the agent only checks).
_NOT_FOR_AGENTS = frozenset({"depends_on", "tags", "regions", "alert_local", "quorum"})

Record = Callable[[Sequence[tuple[Job, Verdict]], bool], Awaitable[list[BaseException | None]]]


def owner(monitor: str, agents: Sequence[str]) -> str | None:
    """The agent (of `agents`, one region's) that checks `monitor`: rendezvous hashing."""
    return max(agents, key=lambda agent: _weight(agent, monitor), default=None)


def _weight(agent: str, monitor: str) -> bytes:
    return hashlib.blake2b(f"{agent}\0{monitor}".encode(), digest_size=8).digest()


class AgentJobs:
    """Every probed monitor's job, for the agents (the hub's own scheduler gets only those it
    checks itself: Job.local). `version` moves with every change, so assignments made for
    one set of jobs are made again for the next."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self.version = 0

    @property
    def jobs(self) -> list[Job]:
        return list(self._jobs.values())

    def get(self, name: str) -> Job | None:
        return self._jobs.get(name)

    async def replace(self, jobs: Iterable[Job]) -> Changes:
        """These jobs in place of all; the changes to those only agents check."""
        new = {job.name: job for job in jobs}
        changes = changes_between(_remote_only(self._jobs), _remote_only(new))
        self._jobs = new
        self.version += 1
        return changes

    async def update(self, jobs: Iterable[Job]) -> Changes:
        new = {job.name: job for job in jobs}
        changes = changes_of_update(_remote_only(self._jobs), _remote_only(new))
        self._jobs.update(new)
        self.version += 1
        return changes

    async def remove(self, names: Iterable[str]) -> tuple[str, ...]:
        gone = [name for name in names if name in self._jobs]
        remote = tuple(name for name in gone if not self._jobs[name].local)
        for name in gone:
            del self._jobs[name]
        self.version += 1
        return remote


def _remote_only(jobs: dict[str, Job]) -> dict[str, Job]:
    return {name: job for name, job in jobs.items() if not job.local}


@dataclass(frozen=True)
class Assignment:
    """An agent's monitors, as answered: `version` changes whenever what it checks does."""

    version: str
    names: tuple[str, ...]
    body: bytes  # the JSON answer


class AgentHub:
    def __init__(
        self,
        agents: Agents,
        jobs: AgentJobs,
        config: Callable[[], Config],
        record: Record,
        clock: Clock = system_clock,
    ) -> None:
        self.agents = agents
        self.jobs = jobs
        self._config = config
        self._record = record
        self._clock = clock
        self._live: tuple[float, dict[str, list[str]]] | None = None  # (read at, region -> names)
        self._regions: dict[str, tuple[Any, dict[str, list[str]]]] = {}  # region -> (key, agent -> monitors)
        self._answers: dict[str, tuple[Any, Assignment]] = {}  # agent -> (key, answer)
        self._batches: OrderedDict[str, int] = OrderedDict()  # agent:batch id -> verdicts taken
        self._storing: dict[str, asyncio.Future[dict[str, Any]]] = {}  # agent:batch id -> its answer, while stored
        self._unwatched: tuple[Any, dict[tuple[str, ...], list[str]]] | None = None

    @property
    def silent_after(self) -> timedelta:
        return timedelta(seconds=self._config().agents.silent_after)

    # -- assignment ------------------------------------------------------------------------

    def live_agents(self, monotonic: float) -> dict[str, list[str]]:
        """The live agents' names by region, read at most every LIVE_FOR seconds."""
        if self._live is None or monotonic - self._live[0] > LIVE_FOR:
            now, silent_after = self._clock(), self.silent_after
            by_region: dict[str, list[str]] = {}
            for agent in self.agents.active():
                if not agent.silent(now, silent_after):
                    by_region.setdefault(agent.region, []).append(agent.name)
            self._live = (monotonic, by_region)
        return self._live[1]

    def assignment(self, agent: Agent, monotonic: float) -> Assignment:
        """What `agent` checks now (it just called, so it counts among its region's live)."""
        live = sorted({*self.live_agents(monotonic).get(agent.region, []), agent.name})
        config = self._config()
        key = (self.jobs.version, id(config.monitors), tuple(live))
        cached = self._answers.get(agent.name)
        if cached is not None and cached[0] == key:
            return cached[1]
        names = tuple(self._shares(agent.region, live, key).get(agent.name, []))
        specs = [spec for spec in (_spec(config, name) for name in names) if spec is not None]
        version = hashlib.blake2b(json.dumps(specs, sort_keys=True).encode(), digest_size=12).hexdigest()
        told = {"name": agent.name, "region": agent.region, "version": version, "ask_every": config.agents.ask_every}
        body = json.dumps(told | {"monitors": specs}).encode()
        answer = Assignment(version, names, body)
        self._answers[agent.name] = (key, answer)
        return answer

    def unwatched(self, monotonic: float) -> dict[tuple[str, ...], list[str]]:
        """The monitors nobody checks now, by the regions they name: the hub does not check
        them itself and none of their regions has a live agent. A monitor must not go quiet
        unnoticed: the dashboard names them."""
        live = self.live_agents(monotonic)
        key = (self.jobs.version, tuple(sorted(region for region, names in live.items() if names)))
        if self._unwatched is not None and self._unwatched[0] == key:
            return self._unwatched[1]
        found: dict[tuple[str, ...], list[str]] = {}
        for job in self.jobs.jobs:
            if not job.local and job.regions is not None and not any(live.get(r) for r in job.regions):
                found.setdefault(job.regions, []).append(job.name)
        self._unwatched = (key, found)
        return found

    def assigned_counts(self) -> dict[str, int]:
        """How many monitors each agent was given at its latest question."""
        return {name: len(answer.names) for name, (_, answer) in self._answers.items()}

    def _shares(self, region: str, live: list[str], key: Any) -> dict[str, list[str]]:
        """Each live agent's monitors in `region`, made once per set of jobs and agents."""
        cached = self._regions.get(region)
        if cached is not None and cached[0] == key:
            return cached[1]
        shares: dict[str, list[str]] = {}
        for job in self.jobs.jobs:
            if job.regions is None or region in job.regions:
                chosen = owner(job.name, live)
                if chosen is not None:
                    shares.setdefault(chosen, []).append(job.name)
        self._regions[region] = (key, shares)
        return shares

    # -- verdicts --------------------------------------------------------------------------

    async def take(self, agent: Agent, payload: dict[str, Any]) -> dict[str, Any]:
        """Store a batch an agent sent; what was taken, as answered to it. Raises ValueError
        (the agent's defect: the batch is refused whole) when the batch is not one. A batch
        sent again while its first copy is still being stored waits for that one's answer."""
        # An id is the agent's own (made from its verdicts' monitors and seconds): two agents
        # checking one monitor in the same second make the same one, so it is kept per agent.
        batch_id = f"{agent.id}:{payload['batch']}" if payload.get("batch") else ""
        if batch_id and batch_id in self._batches:
            return {"taken": self._batches[batch_id], "again": True}
        if batch_id and batch_id in self._storing:
            return await asyncio.shield(self._storing[batch_id])
        storing = asyncio.get_running_loop().create_future()
        storing.add_done_callback(_retrieved)
        if batch_id:
            self._storing[batch_id] = storing
        try:
            answer = await self._take(agent, payload, batch_id)
            storing.set_result(answer)
            return answer
        except BaseException as exc:
            storing.set_exception(exc if isinstance(exc, Exception) else StoreFailed("the hub is stopping"))
            raise
        finally:
            self._storing.pop(batch_id, None)

    async def _take(self, agent: Agent, payload: dict[str, Any], batch_id: str) -> dict[str, Any]:
        online = bool(payload.get("online", True))
        if online != agent.online:  # written on a change only, off the loop
            detail, since = payload.get("offline_detail"), _since(payload)
            await asyncio.to_thread(self.agents.set_online, agent.id, online, detail, since)
        taken, dropped = self._arrivals(agent, payload.get("verdicts"))
        arrivals = sorted(taken, key=lambda arrival: arrival[2])  # stable: those made online first
        outcomes: list[BaseException | None] = []
        for offline in (False, True):  # made while the agent's own network worked, then not
            group = [(job, verdict) for job, verdict, cut_off in arrivals if cut_off is offline]
            outcomes += await self._record(group, offline) if group else []
        failed = [outcome for outcome in outcomes if outcome is not None]
        if failed and len(failed) == len(outcomes):  # the store is away: the agent sends it again
            raise StoreFailed(str(failed[0]))
        for (job, _, _), outcome in zip(arrivals, outcomes, strict=True):
            if outcome is not None:  # a defect with this one verdict: the others are kept
                log.error("verdict of %s from %s not stored: %s", job.name, agent.vantage, outcome)
        if batch_id:
            self._batches[batch_id] = len(arrivals)
            while len(self._batches) > BATCHES_REMEMBERED:
                self._batches.popitem(last=False)
        return {"taken": len(arrivals), "dropped": dropped}

    def _arrivals(self, agent: Agent, entries: object) -> tuple[list[tuple[Job, Verdict, bool]], list[str]]:
        """Each verdict with its job and whether the agent was cut off when it made it."""
        if not isinstance(entries, list):
            raise ValueError("verdicts: expected a list")
        arrivals: list[tuple[Job, Verdict, bool]] = []
        dropped: list[str] = []
        for place, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("monitor"), str):
                raise ValueError(f"verdicts[{place}]: expected an object with the monitor's name")
            job = self.jobs.get(entry["monitor"])
            if job is None or (job.regions is not None and agent.region not in job.regions):
                dropped.append(entry["monitor"])  # removed, or no longer checked from there
                continue
            try:
                verdict = verdict_from_json(entry.get("verdict") or {})
            except ValueError as exc:
                raise ValueError(f"verdicts[{place}].verdict: {exc}") from None
            arrivals.append((job, dataclasses.replace(verdict, vantage=agent.vantage), entry.get("offline") is True))
        return arrivals, dropped


def agent_state(agent: Agent, now: datetime, silent_after: timedelta) -> str:
    """What an agent is now, in one word: revoked, silent (a lost vantage point), cut-off (its
    own network fails, as its canaries say), or live."""
    if agent.revoked_at is not None:
        return "revoked"
    if agent.silent(now, silent_after):
        return "silent"
    return "live" if agent.online else "cut-off"


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Mark a stored batch's failure seen (nobody else may wait for it)."""
    if not future.cancelled():
        future.exception()


class StoreFailed(RuntimeError):
    """The store could not keep a batch: the agent keeps it and sends it again."""


def _since(payload: dict[str, Any]) -> datetime | None:
    text = payload.get("offline_since")
    try:
        return parse_iso(str(text)) if text else None
    except ValueError:
        return None


def _spec(config: Config, name: str) -> dict[str, Any] | None:
    """What an agent needs to check monitor `name`: its definition, defaults filled in,
    without how the hub judges it."""
    monitor = config.monitor_named(name)
    if monitor is None or monitor.kind == "push":
        return None
    return monitor.model_dump(mode="json", exclude=set(_NOT_FOR_AGENTS))
