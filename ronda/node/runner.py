"""`ronda run`: the config's monitors on a scheduler, verdicts into the store, incidents
out to people, and the API served, until SIGTERM or SIGINT. The checks run in a probe
worker process (ronda/node/worker.py), or on a loop and thread of their own with
`server.checks: thread` (ronda/service/engine.py); everything else on the main loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Container, Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, cast

from ronda import eventloop
from ronda.clock import Clock, system_clock
from ronda.config.load import ancestors, dependency_map
from ronda.config.schema import CheckMonitor, Config, Monitor, StatusPageMonitor
from ronda.errors import ServiceError
from ronda.logs import setup_logging
from ronda.node.server import EmbeddedServer, embedded_server, listen_socket
from ronda.node.worker import WorkerSetup
from ronda.node.worker_engine import WorkerEngine
from ronda.notify.channels import Channel, channels_for
from ronda.notify.messages import message_for
from ronda.notify.outbox import Outbox, settings_for
from ronda.notify.sender import Sender
from ronda.probes.base import ProbeContext
from ronda.rules.incidents import Policy
from ronda.rules.maintenance import active_window
from ronda.rules.public_status import in_maintenance, public_monitors
from ronda.service.agent_hub import AgentHub, AgentJobs
from ronda.service.connectivity import ROUTE_TABLE, Connectivity, gateway_address
from ronda.service.engine import CheckEngine, LoopThread
from ronda.service.first_admin import create_first_admin
from ronda.service.handover import hand_over
from ronda.service.history_keeper import HistoryKeeper
from ronda.service.leadership import HeldUntilLeading, Leadership
from ronda.service.monitors import MonitorManager
from ronda.service.push import PushJob, PushMonitors, Watchers, push_job_for
from ronda.service.recorder import Recorder
from ronda.service.report_watch import ReportWatch, watch_settings
from ronda.service.scheduler import Job, Scheduler
from ronda.service.write_behind import WriteBehind
from ronda.storage.arrivals import Arrival
from ronda.storage.database import Database
from ronda.storage.incidents import IncidentNotice, Notice
from ronda.storage.subscribers import subscriber_id
from ronda.target import CheckOptions, parse_nameserver, parse_resolve, parse_target
from ronda.verdict import Verdict
from ronda.web.app import create_app
from ronda.web.context import WebContext
from ronda.web.health import health_app
from ronda.web.live import LiveHub
from ronda.web.public_posts import PublicPosts

log = logging.getLogger("ronda")

NoticeListener = Callable[[Notice], None]
TOKEN_FILE = "ronda-token"  # where a run's own API token goes when no terminal reads it
MAINTENANCE_LOOK = 30.0  # seconds between looks at maintenance windows for status pages' posts
SHARED_IDLE_WAKE = 2.0  # seconds between the sender's looks at an outbox other hubs write to
SEND_GRACE = 10.0  # seconds a stopping service waits for a notification in flight
# Seconds from SIGTERM to the process's end, whatever is still running: past this, work in
# threads (a hung notification, a file read on a dead mount) is abandoned rather than waited for.
STOP_LIMIT = SEND_GRACE + 5.0
# Seconds without a turn of the service's loop before the health listener says "stalled":
# far beyond what a flood of requests costs it (a second at most), so only a stuck loop.
SERVICE_STALL = 30.0


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    loop.call_soon_threadsafe(callback)


def canary_urls(config: Config, route_table: Path = ROUTE_TABLE) -> list[str]:
    """The configured canaries; by default, the resolver ronda was told to use (any answer
    proves the way there) and the gateway, pinged (an answer proves the way out). `auto`
    reads the gateway from `route_table`."""
    if config.canaries is not None:
        return config.canaries
    nameserver = config.defaults.nameserver
    urls = [f"dns://{CANARY_NAME}?server={nameserver}"] if nameserver else []
    gateway = gateway_address(config.gateway, route_table)
    if gateway is not None:
        urls.append(f"icmp://[{gateway}]" if ":" in gateway else f"icmp://{gateway}")
    return urls


CANARY_NAME = "ronda-canary.invalid"  # any answer, NXDOMAIN included, proves the resolver is reachable


def canary_options(config: Config) -> CheckOptions:
    """Canaries are checked as the monitors are by default: same budget, trust and resolver."""
    defaults = config.defaults
    nameserver = parse_nameserver(defaults.nameserver) if defaults.nameserver else None
    return CheckOptions(timeout=defaults.timeout, ca_file=defaults.ca_file, nameserver=nameserver)


def jobs_for(config: Config, only: Container[str] | None = None) -> list[Job | PushJob]:
    """Every monitor of `config` (or those named in `only`), ready to run. The dependency
    map is made once for all of them: made per monitor, it made start-up quadratic (10,000
    monitors: 4 minutes). Monitors checked and judged alike share one CheckOptions and one
    Policy (`shared`): at 100,000 monitors a copy each was 60 MB, in the service and again
    in its probe worker."""
    parents = dependency_map(config.monitors)
    shared: dict[Hashable, Any] = {}
    monitors = config.monitors if only is None else [m for m in config.monitors if m.name in only]
    return [job_for(monitor, config, parents, shared) for monitor in monitors]


def job_for(
    monitor: Monitor,
    config: Config,
    parents: Mapping[str, list[str]] | None = None,
    shared: dict[Hashable, Any] | None = None,
) -> Job | PushJob:
    """A monitor of `config` (its defaults filled in as it was loaded), ready for the
    scheduler (or, for a push monitor, for the watch of push monitors). `parents`: the
    config's dependency map, when the caller has it already; `shared`: what jobs made
    before this one may share with it."""
    if monitor.kind == "push":
        return push_job_for(monitor, config, parents)
    shared = {} if shared is None else shared  # one job alone shares with nobody
    policy = Policy(
        confirm=monitor.confirm,
        recover=monitor.recover,
        quorum=monitor.quorum,
        alert_local=monitor.alert_local,
        parents=ancestors(monitor.name, dependency_map(config.monitors) if parents is None else parents),
    )
    return Job(
        monitor.name,
        parse_target(monitor.target_url()),  # kind statuspage: the statuspage+ probe
        check_options(monitor, shared),
        monitor.interval,
        shared.setdefault(policy, policy),
        monitor.recheck,
        tuple(monitor.tags),
        _shared_regions(monitor.regions, shared),
    )


def _shared_regions(regions: list[str] | None, shared: dict[Hashable, Any]) -> tuple[str, ...] | None:
    """A monitor's regions as a tuple that monitors with the same regions share."""
    if regions is None:
        return None
    key = ("regions", *regions)
    return cast(tuple[str, ...], shared.setdefault(key, tuple(regions)))


def check_options(monitor: CheckMonitor | StatusPageMonitor, shared: dict[Hashable, Any]) -> CheckOptions:
    """How a monitor is checked, as `ronda check` takes it; from `shared` when a monitor
    made before it is checked alike (a CheckOptions holds a dict, so it cannot be its own
    key: the key is what it is made from)."""
    resolve = dict(parse_resolve(f"{hostport}:{','.join(addrs)}") for hostport, addrs in monitor.resolve.items())
    key = (CheckOptions, *_options_made_from(monitor), tuple(resolve.items()))
    options = shared.get(key)
    if options is None:
        options = shared[key] = _options(monitor, resolve)
    return cast(CheckOptions, options)


PAGE_OPTIONS = ("subresources", "subresource_hosts", "send", "subprotocol")  # a status page has none of them


def _page_options(monitor: CheckMonitor | StatusPageMonitor) -> dict[str, Any]:
    if isinstance(monitor, StatusPageMonitor):
        return {}
    options = {option: getattr(monitor, option) for option in PAGE_OPTIONS}
    options["request"] = None if monitor.request is None else monitor.request.spec()  # a record that hashes
    return options


def _options_made_from(monitor: CheckMonitor | StatusPageMonitor) -> tuple[Hashable, ...]:
    """What of a monitor goes into its CheckOptions (but its --resolve pins)."""
    return (
        monitor.timeout,
        monitor.ca_file,
        monitor.nameserver,
        monitor.cert_warn_days,
        monitor.expect.expectations(),
        monitor.client_cert,
        monitor.client_key,
        monitor.deployed_from,
        monitor.acme_directory,
        *_page_options(monitor).values(),
    )


def _options(
    monitor: CheckMonitor | StatusPageMonitor, resolve: dict[tuple[str, int], tuple[str, ...]]
) -> CheckOptions:
    return CheckOptions(
        timeout=monitor.timeout,
        ca_file=monitor.ca_file,
        resolve=resolve,
        nameserver=parse_nameserver(monitor.nameserver) if monitor.nameserver else None,
        warn_days=monitor.cert_warn_days,
        expect=monitor.expect.expectations(),
        client_cert=monitor.client_cert,
        client_key=monitor.client_key,
        deployed_from=monitor.deployed_from,
        acme_directory=monitor.acme_directory,
        **_page_options(monitor),
    )


class Service:
    def __init__(
        self,
        config: Config,
        listeners: list[NoticeListener] | None = None,
        config_path: str | None = None,  # re-read on SIGHUP and POST /api/v1/reload
        clock: Clock = system_clock,  # the one "now" of every part below
    ) -> None:
        self.config = config
        self.clock = clock
        channels = channels_for(config)
        self.public_posts = PublicPosts(config)  # what status pages tell subscribers and public channels
        self.outbox = Outbox(
            channels, {}, settings_for(config), config.server.public_url, clock=clock, public=self.public_posts.rows
        )  # tags: _adopt
        self.db = Database(config.storage, outbox=self.outbox.write, clock=clock)
        self.listeners = listeners or []
        self.live = LiveHub()  # open dashboards hear each verdict at once
        self.token = config.server.token or secrets.token_urlsafe(24)
        self._failing: set[str] = set()  # monitors whose latest check failed, for the failing share
        self._web: WebContext | None = None
        self._turned = time.monotonic()  # the service loop's latest turn: see `turning`
        self._reloads: set[asyncio.Task[object]] = set()
        self.checking = asyncio.Event()  # set once the checks run (the monitors have their jobs)
        self.canaries = [parse_target(url) for url in canary_urls(config)]
        self.engine = self._check_engine()
        # One writer thread: SQLite takes one writer at a time, and verdicts of the same
        # monitor must be applied in order.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ronda-store")
        self.sender = Sender(
            self.db.outbox,
            channels,
            self.outbox.settings,
            self._writer,
            config.server.public_url,
            clock=clock,
            resolve=self._public_channel,
        )
        self.recorder = Recorder(self.db.monitors.record_many, self._writer)  # verdicts, in batches
        # Accepted reports wait in memory and are written in batches by the writer thread.
        self.db.reports.wake = WriteBehind(self.db.reports.write_pending, self._writer, "users' reports").wake
        self.push = PushMonitors(self.db.push, self._writer, self._on_verdict, clock)  # jobs call in
        self.agent_jobs = AgentJobs()  # every probed monitor, for the probe agents to share out
        self.agent_hub = AgentHub(self.db.agents, self.agent_jobs, lambda: self.config, self._store, clock)
        # Several hubs may share a PostgreSQL store: the one that leads checks, keeps time and
        # sends notices; the others serve and store (ronda/service/leadership.py).
        self.leadership = Leadership(self.db.engine)
        if self.leadership.shared:  # rows another hub wrote wake no one here: look often
            self.sender.idle_wake = SHARED_IDLE_WAKE
            self.push.shared = True
        self.own_checks = HeldUntilLeading(self.engine)  # the hub's own checks wait for the lead
        watchers = Watchers(self.own_checks, self.push, self.agent_jobs)
        self.monitors = MonitorManager(config, config_path, self.db, watchers, self._writer, jobs_for, self._adopt)
        self.reports = ReportWatch(
            self.db.reports.counts,
            self.db.reports.surges,
            self._writer,
            services=lambda: public_monitors(self.config, [job.name for job in self.jobs]),
            planned=lambda name, at: in_maintenance(self.config, name, at),
            announce=self._announce,
            settings=lambda: watch_settings(self.config.reports),
            clock=clock,
        )

        # Verdicts rolled up into hours and days, and aged out (retention:).
        self.history = HistoryKeeper(self.db.history, self._writer, lambda: self.config.retention, clock)

    def _check_engine(self) -> CheckEngine | WorkerEngine:
        """Where the checks run (server.checks); their verdicts are handled back here. An
        injected clock keeps them in this process, the one place that clock reaches."""
        if self.config.server.checks == "process" and self.clock is system_clock:
            return WorkerEngine(self._worker_setup, self._on_verdicts, self._connectivity_changed, self.clock())
        probing = ProbeContext(clock=self.clock)
        checks = LoopThread("ronda-checks")
        scheduler = Scheduler([], checks.homeward(self._on_verdict), context=probing)  # jobs: at start
        scheduler.known.update(self.db.monitors.known())  # what earlier runs' checks kept (host keys)
        connectivity = Connectivity(
            self.canaries,
            canary_options(self.config),
            interval=self.config.defaults.interval,
            context=probing,
            on_change=checks.homeward(self._connectivity_changed),
        )
        return CheckEngine(checks, scheduler, connectivity)

    def _worker_setup(self) -> WorkerSetup:
        """What a new probe worker starts from (each one: what the checks kept is read anew)."""
        return WorkerSetup(
            self.canaries,
            canary_options(self.config),
            self.config.defaults.interval,
            known=self.db.monitors.known(),  # what earlier checks kept (host keys)
            quiet=logging.getLogger().getEffectiveLevel() >= logging.ERROR,
            stall=SERVICE_STALL,
        )

    @property
    def jobs(self) -> list[Job]:
        """Every probed monitor: those the hub checks itself, then those only agents check."""
        return [*self.own_checks.jobs, *(job for job in self.agent_jobs.jobs if not job.local)]

    def _public_channel(self, name: str) -> Channel | None:
        """Where a status page's post goes: a subscriber (read from the store) or a public channel."""
        number = subscriber_id(name)
        subscriber = self.db.subscribers.get(number) if number is not None else None
        if number is not None and subscriber is None:
            return None  # unsubscribed since the row was written
        return self.public_posts.channel(name, subscriber)

    def _adopt(self, config: Config) -> None:
        """Run with these settings from now on (the file's, with the API's monitors): where
        notices go, maintenance windows, what the web face shows. On the loop, or at start."""
        self.config = config
        self.public_posts.config = config
        channels = channels_for(config)
        self.outbox.channels = channels
        # Only monitors with tags: the others read as none, and 100,000 empty sets cost 23 MB.
        self.outbox.monitor_tags = {m.name: frozenset(m.tags) for m in config.monitors if m.tags}
        self.outbox.settings = self.sender.settings = settings_for(config)
        self.sender.channels = {channel.name: channel for channel in channels}
        names = {monitor.name for monitor in config.monitors}
        self._failing &= names
        if self._web is not None:
            self._web.config = config

    def reload_soon(self) -> None:
        """SIGHUP: re-read the config file (errors are logged; the old config goes on)."""
        task: asyncio.Task[object] = asyncio.get_running_loop().create_task(self._reload_quietly())
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    async def _reload_quietly(self) -> None:
        with contextlib.suppress(Exception):  # reload_now logged why
            await self.monitors.reload_now()

    async def _on_verdict(self, job: Job | PushJob, verdict: Verdict) -> None:
        """A verdict to store and act on; raises what storing it raised."""
        (outcome,) = await self._on_verdicts([(job, verdict)])
        if isinstance(outcome, BaseException):
            raise outcome

    async def _on_verdicts(self, batch: Sequence[tuple[Job | PushJob, Verdict]]) -> list[BaseException | None]:
        """The hub's own verdicts to store and act on, together (a burst from the probe
        worker): each one's exception, or None once it is stored and its notices announced."""
        for job, verdict in batch:
            if verdict.status == "up":
                self._failing.discard(job.name)
            else:
                self._failing.add(job.name)
        await self.engine.recheck_if_many_fail(len(self._failing), self.engine.job_count)
        return await self._store(batch, offline=not self.engine.online)

    async def _store(self, batch: Sequence[tuple[Job | PushJob, Verdict]], offline: bool) -> list[BaseException | None]:
        """Verdicts to store and act on, the hub's or an agent's; `offline`: made while their
        vantage point's own network was cut off, so their failures open no incident."""
        arrivals = []
        for job, verdict in batch:
            planned = active_window(self.config.maintenance, job.name, job.tags, verdict.checked_at) is not None
            arrivals.append(Arrival(job.name, verdict, job.policy, planned, offline))
        outcomes = await self.recorder.record_all(arrivals)
        for (job, verdict), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                continue
            event = {"kind": "verdict", "monitor": job.name, "status": verdict.status, "cause": verdict.cause}
            self.live.publish(event)
            for notice in outcome:
                self._announce(notice)
        return [outcome if isinstance(outcome, BaseException) else None for outcome in outcomes]

    async def _connectivity_changed(self, online: bool, why: str, at: datetime) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, self.db.monitors.record_connectivity, online, why, at)

    def _person_posted(self) -> None:
        """A person's update or confirmation went to the outbox: deliver it now, and tell
        open pages (the incidents page redraws in place)."""
        self.sender.wake()
        self.live.publish({"kind": "notice", "monitor": None, "title": "a person's update"})

    def _announce(self, notice: Notice) -> None:
        message = message_for(notice)
        log.log(logging.INFO if message.kind == "success" else logging.WARNING, "%s", message.title)
        for listener in self.listeners:
            listener(notice)
        monitor = notice.monitor if isinstance(notice, IncidentNotice) else None
        self.live.publish({"kind": "notice", "monitor": monitor, "title": message.title})
        self.sender.wake()  # the store wrote it to the outbox; the sender delivers it

    async def run(self, stop: asyncio.Event) -> None:
        server_config = self.config.server
        listener = listen_socket(server_config.listen)  # fails here, before any check runs
        health_at = server_config.health_listen
        health_listener = listen_socket(health_at, "server.health_listen") if health_at else None
        web = embedded_server(create_app(self._web_context()))
        await self.monitors.start()  # the hub's own checks are held until it leads
        beating = asyncio.create_task(self._beat(), name="service loop")
        serving = asyncio.create_task(web.serve(sockets=[listener]), name="api")
        leading = asyncio.create_task(self._lead(health_listener), name="leading")
        stopping = asyncio.create_task(stop.wait())
        log.info("serving %d monitors; API on http://%s", len(self.jobs), server_config.listen)
        await asyncio.wait({leading, serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        web.should_exit = True
        leading.cancel()
        beating.cancel()
        await asyncio.gather(leading, serving, beating, return_exceptions=True)
        if health_listener is not None:
            health_listener.close()
        listener.close()
        for task in (leading, serving):
            if task.done() and not task.cancelled() and task.exception():
                raise task.exception()  # type: ignore[misc]

    async def _lead(self, health_listener: socket.socket | None) -> None:
        """Once this hub leads (at once, alone on SQLite): its own checks, the deadlines of
        push monitors, the report watch, history and the sender of notices, until it stops
        or loses the lead (an error: its supervisor starts it again, standing by)."""
        await self.leadership.acquire()
        health = embedded_server(health_app(self.engine.alive, self.engine.connectivity_status, self.turning))
        if isinstance(self.engine, WorkerEngine):
            await self.engine.start(health_listener)  # the worker answers server.health_listen
            serving_health = None
        else:
            self.engine.start()
            serving_health = self._serve_health_on_checks_thread(self.engine, health, health_listener)
        if self.canaries:
            await self.engine.check_canaries()  # know whether ronda is online before judging targets
        await self.own_checks.lead()
        self.checking.set()
        duties = [
            asyncio.create_task(self.engine.run(), name="checks"),
            asyncio.create_task(self.push.run(), name="heartbeats"),
            asyncio.create_task(self.reports.run(), name="reports"),
            asyncio.create_task(self.history.run(), name="history"),
            asyncio.create_task(self._telling_of_maintenance(), name="maintenance posts"),
        ]
        sending = asyncio.create_task(self.sender.run(), name="notifications")
        held = asyncio.create_task(self.leadership.hold(), name="the lead")
        try:
            done, _ = await asyncio.wait({duties[0], held}, return_when=asyncio.FIRST_COMPLETED)
            if held in done:
                raise ServiceError("lost the lead (the connection to PostgreSQL broke): stopping, to stand by")
            duties[0].result()  # the checks ended: what ended them
        finally:
            health.should_exit = True
            if serving_health is not None:
                await asyncio.gather(serving_health, return_exceptions=True)
            for task in (*duties, held):
                task.cancel()
            await asyncio.gather(*duties, held, return_exceptions=True)
            await self._stop_sending(sending)

    async def _telling_of_maintenance(self) -> None:
        """Status pages' subscribers and public channels hear of maintenance windows as they
        are scheduled, start and end (ronda/web/public_posts.py); looked at every little while."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                rows = partial(self.public_posts.maintenance_rows, now=self.clock())
                if await loop.run_in_executor(self._writer, self.db.outbox.write, rows):
                    self.sender.wake()
            except Exception:  # a bad look must not end the telling: the next one tries again
                log.exception("telling status pages' followers of maintenance failed")
            await asyncio.sleep(MAINTENANCE_LOOK)

    @staticmethod
    def _serve_health_on_checks_thread(
        engine: CheckEngine, health: EmbeddedServer, listener: socket.socket | None
    ) -> asyncio.Task[None] | None:
        """server.health_listen, answered on the checks' thread: see ronda/web/health.py."""
        if listener is None:
            return None
        return asyncio.create_task(engine.thread.call(health.serve(sockets=[listener])), name="health")

    def _web_context(self) -> WebContext:
        loop = asyncio.get_running_loop()
        self._web = WebContext(
            self.db,
            self.token,
            alive=self._alive,
            scheduler_stats=self.engine.stats,
            scheduler_lag=self.engine.lag,
            connectivity=self.engine.connectivity_status,
            notify=lambda: _call_soon(loop, self._person_posted),  # the API answers from worker threads
            config=self.config,
            live=self.live,
            monitors=self.monitors,
            push=self.push,
            agents=self.agent_hub,
            clock=self.clock,
            role=lambda: self.leadership.role,
        )
        return self._web

    def _alive(self) -> bool:
        """The leader is alive while its checks run; a standby while its loop turns."""
        return self.engine.alive() if self.leadership.leading else self.turning()

    async def _beat(self) -> None:
        while True:
            self._turned = time.monotonic()
            await asyncio.sleep(1)

    def turning(self) -> bool:
        """Whether the service's loop turned lately (the health listener asks, from the
        checks' thread; the probe worker hears the loop's beat instead): stuck, it stores no
        verdict and sends no notice."""
        return time.monotonic() - self._turned < SERVICE_STALL

    async def _stop_sending(self, sending: asyncio.Task[None]) -> None:
        """Let the send in flight finish and be marked; what is left stays in the outbox for
        the next start. A send that hangs past the grace is cut off, and may repeat then."""
        self.sender.stop()
        _, hanging = await asyncio.wait({sending}, timeout=SEND_GRACE)
        for task in hanging:
            task.cancel()
        await asyncio.gather(sending, return_exceptions=True)

    def close(self) -> None:
        self.leadership.close()
        self._writer.shutdown(wait=True)
        self.db.close()


def _stop_soon(stop: asyncio.Event) -> None:
    """Begin the orderly stop, and make sure the process ends by STOP_LIMIT even if some of
    it hangs: a daemon timer, since the main thread may be the one waiting."""
    if stop.is_set():
        return
    stop.set()
    threading.Thread(target=_abandon_after, args=(STOP_LIMIT,), name="stop-watchdog", daemon=True).start()


def _abandon_after(seconds: float) -> None:
    # A plain sleep, not threading.Timer: a Timer waits on a lock with an absolute deadline,
    # which clock shifters such as libfaketime (the test suite's run 400 days ahead) do not
    # move, so it would not fire there; a sleep is shifted with everything else.
    time.sleep(seconds)
    _abandon()


def _abandon() -> None:
    busy = sorted(t.name for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon)
    log.error("not stopped %gs after the signal; exiting with work still running in: %s", STOP_LIMIT, ", ".join(busy))
    logging.shutdown()
    os._exit(1)


async def run_until_signalled(service: Service) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _stop_soon, stop)
    loop.add_signal_handler(signal.SIGHUP, service.reload_soon)
    await service.run(stop)


def serve(config: Config, config_path: str | None = None) -> int:
    setup_logging()
    service = Service(config, config_path=config_path)
    folder = Path(config_path).resolve().parent if config_path else Path.cwd()
    if config.server.token is None:
        log.warning("no server.token in the config: this run has a token of its own")
        hand_over("this run's API token", service.token, TOKEN_FILE, folder)
    if config.server.public_url is None:
        log.warning(
            "no server.public_url in the config: links on status pages, in feeds and in push URLs "
            "point at %s; set it to the address people reach ronda at",
            config.server.base_url,
        )
    try:
        create_first_admin(service.db, folder=folder)
        eventloop.run(run_until_signalled(service))
    finally:
        service.close()
    log.info("stopped cleanly")
    return 0
