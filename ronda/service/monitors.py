"""Monitors managed both ways: the config file's (the file is their source of truth, so they
are read-only here) and the API's (stored in the database, so they survive restarts), on
one scheduler, changed while it runs.

Every change runs on the service's event loop, one at a time, in the same order: stop the
checks that go, write the database on the store's writer thread, start the checks that come.
A check stopped in flight never records its verdict; a verdict already on its way to the
writer is stored before the change is (one writer, first come first served).

The API's routes run in worker threads; they call the blocking methods (`add`, `replace`,
`delete`, `reload`), which hand the work to the loop and wait for its answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Collection, Coroutine, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from ronda.config.load import (
    MONITOR_FILE_KEYS,
    DependencyIndex,
    dependency_index,
    dependency_problem,
    load_config,
)
from ronda.config.schema import Config, Monitor, PushMonitor, parse_monitor
from ronda.errors import UsageError
from ronda.memory import gc_paused, repacked
from ronda.reach import Reach
from ronda.service.push import PushJob, Watchers, monitor_target
from ronda.service.scheduler import Changes, Job
from ronda.storage.database import Database
from ronda.target import parse_nameserver, parse_target

log = logging.getLogger("ronda")

T = TypeVar("T")
# Every monitor of a config (or those named), ready to run.
MakeJobs = Callable[[Config, Collection[str] | None], list[Job | PushJob]]
Adopt = Callable[[Config], None]

ANSWER_WITHIN = 60.0  # seconds a route waits for the loop (a reload imports Apprise's plugins)
# Settings a reload leaves as they are (the listening socket, the database and the canaries
# are set up once, at start).
_FIXED = ("server", "storage", "canaries", "gateway")


class MonitorError(Exception):
    """A change of monitors that cannot be made; its message is for the person asking."""


class UnknownMonitorName(MonitorError):
    pass


class MonitorExists(MonitorError):
    pass


class ReadOnlyMonitor(MonitorError):
    """Defined in the config file: changed there, not through the API."""


class MonitorInUse(MonitorError):
    """Other monitors depend on it."""


class NotAvailable(MonitorError):
    """Nothing to do it with (no config file to re-read, the service not running)."""


@dataclass(frozen=True)
class Problem:
    """What is wrong with one field of a monitor, in the words of the config file's errors."""

    field: str
    message: str


class InvalidMonitor(MonitorError):
    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))


# -- checks across monitors (pydantic checks each monitor alone) ----------------------------


def dependency_problems(
    monitor: Monitor, monitors: Sequence[Monitor], among: DependencyIndex | None = None
) -> list[Problem]:
    """`monitor.depends_on` names monitors (or tags) among `monitors`, and leads nowhere back
    to `monitor`. The messages are those of a config file's depends_on. `among`: what
    `dependency_index(monitors)` gives, when the caller asks about many monitors."""
    problem = dependency_problem(monitor, among or dependency_index(monitors)) if monitor.depends_on else None
    return [] if problem is None else [Problem("depends_on", problem)]


def token_problems(monitor: Monitor, monitors: Sequence[Monitor]) -> list[Problem]:
    """A push monitor's written secret is its own: two monitors cannot share one URL."""
    token = token_of(monitor)
    if token is None or not any(token_of(m) == token and m.name != monitor.name for m in monitors):
        return []
    return [Problem("token", "another push monitor has this token")]


def token_of(monitor: Monitor) -> str | None:
    """The secret a push monitor's definition gives its URL, if it gives one."""
    return monitor.token if isinstance(monitor, PushMonitor) else None


def with_paths_from(monitor: Monitor, base: Path) -> Monitor:
    """File paths relative to `base` (the config file's folder), as the file's monitors have."""
    update = {key: str((base / value).resolve()) for key in MONITOR_FILE_KEYS if (value := getattr(monitor, key, None))}
    return monitor.model_copy(update=update)


def missing_files(monitor: Monitor) -> list[Problem]:
    return [
        Problem(key, f"no such file: {value}")
        for key in MONITOR_FILE_KEYS
        if (value := getattr(monitor, key, None)) is not None and not Path(value).is_file()
    ]


def reach_of(config: Config) -> Reach:
    """Where the API's and the dashboard's monitors may go, by the config's server block."""
    server = config.server
    return Reach(
        private=server.allow_private_targets,
        file_roots=tuple(server.file_roots),
        allowed=tuple(server.allowed_private_networks),
    )


def reach_problems(monitor: Monitor, reach: Reach) -> list[Problem]:
    """What of a monitor (its paths resolved) lies beyond `reach`, as far as can be told
    before a check: a file, an address written in it. Names are judged at each check,
    after resolution (ronda/probes/resolve.py), since what they point at can change."""
    problems = [
        Problem(key, refused)
        for key in MONITOR_FILE_KEYS
        if (value := getattr(monitor, key, None)) is not None and (refused := reach.refused_path(value))
    ]
    if isinstance(monitor, PushMonitor):
        return problems
    target = parse_target(monitor.target_url())
    if target.scheme == "file":
        refused = reach.refused_path(target.path)
        return [*problems, Problem("url", refused)] if refused else problems
    written = [("url", target.host)]
    written += [("resolve", address) for addresses in monitor.resolve.values() for address in addresses]
    # The monitor's own nameserver only: the one of the config's defaults is the operator's.
    own = monitor.nameserver if "nameserver" in monitor.model_fields_set else None
    servers = [("nameserver", own), ("url", target.params.get("server"))]
    written += [(key, _server_address(text)) for key, text in servers if text]
    problems += [Problem(key, refused) for key, address in written if (refused := reach.refused_address(address))]
    return problems


def _server_address(text: str) -> str:
    try:
        return parse_nameserver(text)[0]
    except UsageError:
        return text  # the model has said what is wrong with it


def spec_of(monitor: Monitor) -> dict[str, Any]:
    """What is stored: the fields given, in JSON (durations in seconds), paths as given."""
    return monitor.model_dump(mode="json", exclude_unset=True)


# -- the manager -----------------------------------------------------------------------------


class MonitorManager:
    """The monitors of the running service, from the file and from the API."""

    def __init__(
        self,
        config: Config,
        path: str | None,
        store: Database,
        scheduler: Watchers,  # the probes' scheduler and the push monitors' watch
        writer: Executor,
        make_jobs: MakeJobs,
        adopt: Adopt,
    ) -> None:
        self.file = config  # as last read from the file
        self.path = path
        self.base = Path(path).resolve().parent if path else Path.cwd()
        self.db = store
        self.specs = store.specs
        self.scheduler = scheduler
        self._writer = writer
        self._make_jobs = make_jobs
        self._adopt = adopt
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()  # one change at a time: each reads what the last one left
        # What `effective` made last, and of what (the file, and the API's monitors by identity).
        self._effective: tuple[list[Config | Monitor], Config] | None = None
        store.monitors.sync(_targets(config.monitors))  # before reading specs: the file wins a name
        self.unchecked: set[str] = set()  # stored API monitors no longer valid: fixed by PUT
        self.api = self._stored_monitors()
        adopt(self.effective)

    def _stored_monitors(self) -> dict[str, Monitor]:
        monitors: dict[str, Monitor] = {}
        for name, spec in self.specs.load().items():
            try:
                monitors[name] = parse_monitor(spec)
            except ValidationError as exc:
                # Stored by an older ronda, say: shown among the monitors, not checked until fixed.
                self.unchecked.add(name)
                log.error(
                    "the stored monitor %s is not valid now, so it is not checked (fix it with PUT): %s", name, exc
                )
        return monitors

    # -- what is running ---------------------------------------------------------------------

    @property
    def effective(self) -> Config:
        """The file's config with the API's monitors after its own: what the service runs."""
        if not self.api:  # the file's alone, filled from its defaults as it was read
            return self.file
        # Made again only when the file or an API monitor changed: read several times by each
        # change through the API, it was seconds of each at 100,000 monitors.
        made_of = [self.file, *self.api.values()]
        if self._effective is None or not _same_objects(self._effective[0], made_of):
            api = [with_paths_from(m, self.base) for m in self.api.values()]
            self._effective = made_of, self.file.with_added(api)
        return self._effective[1]

    def source(self, name: str) -> str | None:
        """Whose monitor `name` is: "config", "api", or None when there is none."""
        if self.file.monitor_named(name) is not None:
            return "config"
        return "api" if name in self.api or name in self.unchecked else None

    def jobs(self, effective: Config | None = None, only: Collection[str] | None = None) -> list[Job | PushJob]:
        """Every monitor's job (of `effective`, the running settings by default; of those
        named in `only`); the API's are checked within the config's reach (the file's go anywhere)."""
        reach = reach_of(self.file)
        with gc_paused():  # 100,000 jobs that live on: collections walked them, again and again
            return [
                dataclasses.replace(job, options=dataclasses.replace(job.options, reach=reach))
                if isinstance(job, Job) and job.name in self.api
                else job
                for job in self._make_jobs(effective or self.effective, only)
            ]

    async def start(self) -> None:
        """Bind to the running loop and hand the scheduler its first jobs."""
        self._loop = asyncio.get_running_loop()
        await self.scheduler.replace(self.jobs())

    # -- blocking calls, for the API's worker threads ------------------------------------------

    def add(self, monitor: Monitor) -> None:
        self._on_loop(self.add_now(monitor))

    def replace(self, name: str, monitor: Monitor) -> None:
        self._on_loop(self.replace_now(name, monitor))

    def delete(self, name: str) -> None:
        self._on_loop(self.delete_now(name))

    def reload(self) -> Changes:
        return self._on_loop(self.reload_now())

    def _on_loop(self, change: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            change.close()
            raise NotAvailable("the service is not running")
        if _running_loop() is self._loop:
            change.close()  # waiting here would stop the very loop that must do it
            raise RuntimeError("on the event loop, await the *_now coroutines instead")
        return asyncio.run_coroutine_threadsafe(change, self._loop).result(ANSWER_WITHIN)

    # -- changes, on the loop -------------------------------------------------------------------

    async def add_now(self, monitor: Monitor) -> Changes:
        async with self._lock:
            if (source := self.source(monitor.name)) is not None:
                raise MonitorExists(f"a monitor named {monitor.name!r} exists{self._where(source)}")
            self._validate(monitor, [*self.effective.monitors, monitor])
            await self._db(self.specs.save, monitor.name, monitor_target(monitor), spec_of(monitor))
            self.api[monitor.name] = monitor
            return await self._apply({monitor.name})

    async def replace_now(self, name: str, monitor: Monitor) -> Changes:
        async with self._lock:
            self._editable(name)
            if monitor.name != name:
                words = f"must be {name!r}, the name in the address (to rename a monitor, DELETE it and POST)"
                raise InvalidMonitor([Problem("name", words)])
            others = [m for m in self.effective.monitors if m.name != name]
            self._validate(monitor, [*others, monitor])
            await self._db(self.specs.save, name, monitor_target(monitor), spec_of(monitor))
            self.api[name] = monitor
            self.unchecked.discard(name)
            return await self._apply({name})

    async def delete_now(self, name: str) -> Changes:
        async with self._lock:
            self._editable(name)
            dependents = [m.name for m in self.effective.monitors if name in m.depends_on]
            if dependents:
                raise MonitorInUse(f"{', '.join(map(repr, dependents))} depend(s) on {name!r}: change them first")
            await self.scheduler.remove([name])  # first: no verdict of it after this
            await self._db(self.specs.deactivate, name)
            self.api.pop(name, None)
            self.unchecked.discard(name)
            return await self._apply(set())

    async def reload_now(self) -> Changes:
        """Read the config file again and run what it says now; on any error in it, change
        nothing, log the error and raise it (ConfigError)."""
        if self.path is None:
            raise NotAvailable("ronda was started without a config file, so there is none to re-read")
        async with self._lock:
            try:
                config = await asyncio.get_running_loop().run_in_executor(None, _loaded_compact, self.path)
            except Exception as exc:
                log.error("config not reloaded, still running on the previous one:\n%s", exc)
                raise
            config = self._keep_fixed(config)
            self.unchecked -= {m.name for m in config.monitors}
            for name in [m.name for m in config.monitors if m.name in self.api]:
                log.warning(
                    "monitor %s is now defined in %s: the file's definition replaces the API's", name, self.path
                )
                del self.api[name]
            self.file = config
            gone = {job.name for job in self.scheduler.jobs} - {m.name for m in self.effective.monitors}
            await self.scheduler.remove(gone)  # first: no verdict of theirs after this
            await self._db(self.db.monitors.sync, _targets(config.monitors))
            changes = await self._apply()
            # Those removed were stopped above, so the replace saw them gone: say them too.
            changes = dataclasses.replace(changes, removed=tuple(sorted(gone)) + changes.removed)
            self._warn_dangling()
            log.info("config reloaded from %s: %s", self.path, _described(changes))
            return changes

    async def _apply(self, touched: set[str] | None = None) -> Changes:
        """Hand the scheduler the monitors as they are now, and the service their settings.
        `touched`: the only monitors added or changed (one through the API, say); then only
        their jobs are made and handed on, with those of every monitor that depends on
        another (whose parents may have changed with them: few, and unchanged ones stay as
        they run). Making all, at 100,000 monitors, took seconds of each API call."""
        effective = self.effective
        if touched is None:
            changes = await self.scheduler.replace(self.jobs(effective))
        else:
            dependents = {monitor.name for monitor in effective.monitors if monitor.depends_on}
            changes = await self.scheduler.update(self.jobs(effective, touched | dependents))
        self._adopt(effective)
        return changes

    async def _db(self, write: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, write, *args)

    # -- rules ---------------------------------------------------------------------------------

    def _where(self, source: str) -> str:
        return f" (defined in the config file {self.path})" if source == "config" else ""

    def _editable(self, name: str) -> None:
        source = self.source(name)
        if source is None:
            raise UnknownMonitorName(f"no monitor named {name!r}")
        if source == "config":
            raise ReadOnlyMonitor(f"monitor {name!r} is defined in the config file {self.path}: change it there")

    def _validate(self, monitor: Monitor, monitors: Sequence[Monitor]) -> None:
        problems = dependency_problems(monitor, monitors) + token_problems(monitor, monitors)
        placed = with_paths_from(monitor, self.base)
        beyond = reach_problems(placed, reach_of(self.file))
        # A file beyond reach is not looked for: whether it exists is not the caller's to learn.
        problems += beyond + [p for p in missing_files(placed) if p.field not in {b.field for b in beyond}]
        if problems:
            raise InvalidMonitor(problems)

    def _keep_fixed(self, config: Config) -> Config:
        """What only a restart changes: the API's address and token, the database, the
        canaries. A new value is kept for the next start, and said so."""
        running = self.file
        fixed = {key: getattr(running, key) for key in _FIXED if key in Config.model_fields}
        for key, value in fixed.items():
            if getattr(config, key) != value:
                log.warning("%s changed in %s: that takes effect when ronda is restarted", key, self.path)
        return config.model_copy(update=fixed)

    def _warn_dangling(self) -> None:
        monitors = self.effective.monitors
        among = dependency_index(monitors) if any(m.depends_on for m in self.api.values()) else None
        for monitor in self.api.values():
            for problem in dependency_problems(monitor, monitors, among):
                log.warning("monitor %s (from the API): %s: %s", monitor.name, problem.field, problem.message)


def _same_objects(these: Sequence[object], those: Sequence[object]) -> bool:
    return len(these) == len(those) and all(a is b for a, b in zip(these, those, strict=True))


def _loaded_compact(path: str) -> Config:
    """The config at `path`, its monitors as compact as those `ronda run` started with."""
    return repacked(load_config(path))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _targets(monitors: Sequence[Monitor]) -> dict[str, str]:
    return {monitor.name: monitor_target(monitor) for monitor in monitors}


def _described(changes: Changes) -> str:
    parts = [f"{key} {', '.join(names)}" for key, names in changes.to_json().items() if names]
    return "; ".join(parts) or "no monitor changed"
