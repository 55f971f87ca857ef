"""`ronda agent`: the probe engine alone, far from the hub (no web face, no database). It
asks the hub which monitors it checks (every `ask_every` seconds, told by the hub), checks
them on its own schedule, and sends their verdicts back in batches every second.

A batch the hub does not take (away, overloaded, restarting) goes to the on-disk buffer
(ronda/agent/buffer.py) and is sent, oldest first, once the hub answers again: a hub away for
an hour loses no verdict. Each verdict says whether the agent's own network worked when it
was made (its connectivity canaries): failures seen while it was cut off open no incident.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
import uuid
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ronda.agent.buffer import DEFAULT_MAX_BYTES, VerdictBuffer
from ronda.agent.hub import HubAway, HubClient, Refused, Rejected
from ronda.clock import Clock, system_clock
from ronda.config.schema import CheckMonitor, StatusPageMonitor, parse_monitor
from ronda.node.runner import check_options
from ronda.probes.base import ProbeContext
from ronda.rules.incidents import Policy
from ronda.service.connectivity import Connectivity
from ronda.service.scheduler import Job, Scheduler
from ronda.target import CheckOptions, parse_target
from ronda.verdict import Verdict, iso

log = logging.getLogger("ronda")

SEND_EVERY = 1.0  # seconds between batches while the hub answers
LONGEST_WAIT = 30.0  # seconds between tries at most while it does not
BATCH_LIMIT = 500  # verdicts in one batch
# Bytes of screenshots (base64, in failing browser checks' verdicts) in one batch: JPEGs hardly
# compress, and a hub takes bodies of 1 MiB by default (server.max_body); a batch it refuses
# as too large would be dropped whole.
BATCH_SCREENSHOTS = 512 * 1024
CANARY_INTERVAL = 10.0
CANARY_FRESH = 2.0  # seconds a canary look stands for this agent's network when a check fails


@dataclass(frozen=True)
class AgentSettings:
    hub: str  # the hub's base URL: https://ronda.example
    token: str
    data: Path  # where the buffer of unsent verdicts lives
    name: str | None = None  # what it calls itself: only compared with what the hub says
    region: str | None = None
    canaries: list[str] = field(default_factory=list)
    hub_ca: str | None = None
    max_buffer: int = DEFAULT_MAX_BYTES


def agent_job(monitor: CheckMonitor | StatusPageMonitor, shared: dict[Hashable, Any]) -> Job:
    """A monitor the hub gave, ready for the agent's scheduler: it is checked (and re-checked
    while a change is unconfirmed) as on the hub; the hub judges."""
    policy = Policy(confirm=monitor.confirm, recover=monitor.recover)
    return Job(
        monitor.name,
        parse_target(monitor.target_url()),
        check_options(monitor, shared),
        monitor.interval,
        shared.setdefault(policy, policy),
        monitor.recheck,
    )


def jobs_from(specs: list[Any]) -> list[Job]:
    """The assignment's monitors as jobs; one this agent cannot read is logged and left out."""
    shared: dict[Hashable, Any] = {}
    jobs = []
    for spec in specs:
        name = spec.get("name", "?") if isinstance(spec, dict) else "?"
        try:
            monitor = parse_monitor(spec)
        except (ValidationError, ValueError) as exc:
            log.error("monitor %s from the hub cannot be checked here: %s", name, exc)
            continue
        if isinstance(monitor, CheckMonitor | StatusPageMonitor):
            jobs.append(agent_job(monitor, shared))
    return jobs


class ProbeAgent:
    def __init__(self, settings: AgentSettings, clock: Clock = system_clock) -> None:
        self.settings = settings
        self.hub = HubClient(settings.hub, settings.token, settings.hub_ca)
        self.buffer = VerdictBuffer(settings.data / "buffer", settings.max_buffer)
        context = ProbeContext(clock=clock)
        self.scheduler = Scheduler([], self._on_verdict, context=context)
        canaries = [parse_target(url) for url in settings.canaries]
        self.connectivity = Connectivity(canaries, CheckOptions(), interval=CANARY_INTERVAL, context=context)
        self.pending: list[dict[str, Any]] = []  # verdicts made, not yet in a batch
        self.version = ""  # of the assignment being checked
        self.ask_every = 10.0
        self.hub_answers = True  # as of the last call: said in the log when it changes
        self.sent = 0  # verdicts the hub took
        self._asking_canaries = asyncio.Lock()
        self._hub_back = asyncio.Event()  # set when the hub answers again: the sender stops waiting

    async def _on_verdict(self, job: Job, verdict: Verdict) -> None:
        if verdict.status != "up":
            await self._canaries_lately()
        entry: dict[str, Any] = {"monitor": job.name, "verdict": verdict.to_json()}
        if not self.connectivity.online:
            entry["offline"] = True
        self.pending.append(entry)

    async def _canaries_lately(self) -> None:
        """Before a failure is sent, the canaries' word on this agent's own network, at most
        CANARY_FRESH seconds old: a cut uplink fails every check at once, and the first
        failures must already say so (the canaries' own round comes every CANARY_INTERVAL)."""
        if not self.connectivity.canaries:
            return
        async with self._asking_canaries:  # one look for a burst of failures
            if time.monotonic() - self.connectivity.checked > CANARY_FRESH:
                await self.connectivity.check_once()

    async def run(self, stop: asyncio.Event) -> None:
        if self.connectivity.canaries:
            await self.connectivity.check_once()
        tasks = [
            asyncio.create_task(self.scheduler.run(), name="checks"),
            asyncio.create_task(self.connectivity.run(), name="canaries"),
            asyncio.create_task(self._asking(), name="assignment"),
            asyncio.create_task(self._sending(), name="verdicts"),
        ]
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._keep_pending()  # a clean stop sends them at the next start
        await self.hub.close()

    # -- the assignment ------------------------------------------------------------------

    async def _asking(self) -> None:
        while True:
            with contextlib.suppress(HubAway):  # said by _heard
                await self.ask_once()
            await asyncio.sleep(self.ask_every)

    async def ask_once(self) -> None:
        try:
            answer = await self.hub.assignment(self.version)
        except HubAway as exc:
            self._heard(exc)
            raise
        self._heard(None)
        if answer.get("unchanged"):
            return
        self._compare_identity(answer)
        jobs = jobs_from(answer.get("monitors") or [])
        changes = await self.scheduler.replace(jobs)
        self.version = str(answer.get("version", ""))
        self.ask_every = float(answer.get("ask_every", self.ask_every))
        if changes:
            log.info("checking %d monitors for the hub (%s)", len(jobs), _described(changes.to_json()))

    def _compare_identity(self, answer: dict[str, Any]) -> None:
        """The hub's word on who this agent is wins; a different claim is worth a warning."""
        for key, claimed in (("name", self.settings.name), ("region", self.settings.region)):
            told = answer.get(key)
            if claimed and told and claimed != told:
                log.warning(
                    "this agent's token is the %s %r's at the hub, not %r: the hub's word holds", key, told, claimed
                )

    # -- the verdicts --------------------------------------------------------------------

    async def _sending(self) -> None:
        wait = SEND_EVERY
        while True:
            with contextlib.suppress(TimeoutError):  # the hub answered a question: try at once
                async with asyncio.timeout(wait):
                    await self._hub_back.wait()
            self._hub_back.clear()
            wait = SEND_EVERY if await self.send_once() else min(wait * 2, LONGEST_WAIT)

    async def send_once(self) -> bool:
        """Hand over what is buffered (oldest first), then what is new; False when the hub
        did not take something (what it did not take is in the buffer)."""
        while (oldest := self.buffer.oldest()) is not None:
            key, verdicts = oldest
            if not await self._send(verdicts):
                self._keep_pending()
                return False
            self.buffer.remove(key)
        while self.pending:
            size = batch_size(self.pending)
            batch, self.pending = self.pending[:size], self.pending[size:]
            if not await self._send(batch):
                self.buffer.append(batch)
                self._keep_pending()
                return False
        return True

    async def _send(self, verdicts: list[dict[str, Any]]) -> bool:
        connectivity = self.connectivity
        batch = {
            "batch": _batch_id(verdicts),
            "verdicts": verdicts,
            "online": connectivity.online,
            "offline_since": None if connectivity.online else iso(connectivity.since),
            "offline_detail": None if connectivity.online else _why_offline(connectivity),
        }
        try:
            await self.hub.send(batch)
        except Rejected as exc:
            log.error("the hub will not take a batch of %d verdicts, dropped: %s", len(verdicts), exc)
            return True
        except HubAway as exc:
            self._heard(exc)
            return False
        self._heard(None)
        self.sent += len(verdicts)
        return True

    def _keep_pending(self) -> None:
        while self.pending:
            size = batch_size(self.pending)
            batch, self.pending = self.pending[:size], self.pending[size:]
            self.buffer.append(batch)

    def _heard(self, trouble: HubAway | None) -> None:
        """Say when the hub stops or starts answering, not at every try."""
        if trouble is None and not self.hub_answers:
            log.warning("the hub answers again; %d batches kept meanwhile go now", len(self.buffer))
            self._hub_back.set()
        elif trouble is not None and (self.hub_answers or isinstance(trouble, Refused)):
            log.error("the hub does not answer, verdicts are kept on disk: %s", trouble)
        self.hub_answers = trouble is None


def batch_size(entries: list[dict[str, Any]]) -> int:
    """How many of the first entries make the next batch: at most BATCH_LIMIT, carrying at
    most BATCH_SCREENSHOTS bytes of screenshots (but always one entry)."""
    carried = 0
    for count, entry in enumerate(entries[:BATCH_LIMIT]):
        carried += _screenshot_bytes(entry)
        if carried > BATCH_SCREENSHOTS and count > 0:
            return count
    return min(len(entries), BATCH_LIMIT)


def _screenshot_bytes(entry: dict[str, Any]) -> int:
    shot = (entry["verdict"].get("browser") or {}).get("screenshot") or {}
    data = shot.get("data") if isinstance(shot, dict) else None
    return len(data) if isinstance(data, str) else 0


def _batch_id(verdicts: list[dict[str, Any]]) -> str:
    """The same batch sent twice has the same id (the hub takes it once): made from its
    first and last verdicts' monitor and time, which one agent never repeats."""
    first, last = verdicts[0], verdicts[-1]
    key = (
        f"{first['monitor']}@{first['verdict'].get('checked_at')}|{last['monitor']}@{last['verdict'].get('checked_at')}"
    )
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{key}|{len(verdicts)}"))


def _why_offline(connectivity: Connectivity) -> str:
    return "no canary answers: " + "; ".join(verdict.summary for verdict in connectivity.latest)


def _described(changes: dict[str, list[str]]) -> str:
    return ", ".join(f"{len(names)} {what}" for what, names in changes.items() if names) or "no change"


def serve_agent(settings: AgentSettings) -> int:
    """Run until SIGTERM or SIGINT."""
    from ronda import eventloop
    from ronda.logs import setup_logging

    setup_logging()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per call to the hub says nothing

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        agent = ProbeAgent(settings)
        log.info("agent for %s; verdicts not yet taken are kept in %s", settings.hub, agent.buffer.folder)
        await agent.run(stop)

    eventloop.run(main())
    log.info("stopped cleanly")
    return 0
