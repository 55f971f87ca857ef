"""What one status page shows, gathered once per refresh: its components (each monitor's
state, days and uptime), its overall state, recent incidents and maintenance ahead. The
HTML page, the Atom feed and summary.json are each drawn from one View."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from ronda.config.schema import StatusPage
from ronda.records import DayFigures, MonitorRecord, PublicIncident
from ronda.rules.maintenance import next_windows
from ronda.rules.public_status import Overall, component_state, in_maintenance, members, overall, window_members
from ronda.storage.monitors import Selection
from ronda.web.context import WebContext

RESOLVED_SHOWN = timedelta(days=14)  # resolved incidents stay on the page this long
MAINTENANCE_AHEAD = timedelta(days=14)
DAYS = 90


@dataclass(frozen=True)
class Component:
    name: str  # the monitor's: what reports and badges are keyed by
    shown_as: str  # what visitors read (the page's display name, else the monitor's name)
    description: str | None
    group: str | None
    position: int
    status: str  # ronda's: up, degraded, down, unknown
    state: str  # Statuspage's: operational, ..., under_maintenance
    since: datetime | None
    days: list[DayFigures]  # one bucket per UTC day, oldest first
    uptime: float | None  # over the days shown that had checks: never over days before the first
    first_check: datetime | None

    def watched_since(self, now: datetime) -> datetime | None:
        """The first check's moment when it falls within the days shown (the uptime is over
        the time watched, "since 4 Dec"); None when ronda watched all of them."""
        if self.first_check is None or self.first_check < now - timedelta(days=DAYS):
            return None
        return self.first_check


@dataclass(frozen=True)
class Planned:
    name: str
    start: datetime
    end: datetime
    components: list[str]
    in_progress: bool


@dataclass(frozen=True)
class View:
    """Everything one page shows, gathered once per refresh."""

    page: StatusPage
    components: list[Component]
    overall: Overall
    incidents: list[PublicIncident]  # open and recently resolved, newest first
    maintenance: list[Planned]
    now: datetime

    @property
    def groups(self) -> list[tuple[str | None, list[Component]]]:
        """The components by group, groups in the order they first appear; those of no
        group first (a page without groups is one list)."""
        grouped: dict[str | None, list[Component]] = {None: []}
        for component in self.components:
            grouped.setdefault(component.group, []).append(component)
        return [(group, members) for group, members in grouped.items() if members]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.components]

    @functools.cached_property
    def shown(self) -> frozenset[str]:
        """The page's monitors, to ask whether one is on it: made once per view (as a list
        made per question, an incident of 100,000 monitors took minutes to draw)."""
        return frozenset(self.names)

    @property
    def turns_at(self) -> datetime | None:
        """When a maintenance window shown starts or ends next: the page changes then,
        whether or not a check says anything."""
        moments = [m.start for m in self.maintenance if m.start > self.now] + [m.end for m in self.maintenance]
        return min(moments, default=None)

    @property
    def updated_at(self) -> datetime:
        """The page's last change: a component's state or an incident's update."""
        moments = [c.since for c in self.components if c.since is not None]
        moments += [u.at for i in self.incidents for u in i.updates]
        return max(moments, default=self.now)


def gather(ctx: WebContext, page: StatusPage, now: datetime) -> View:
    """The page's view in a few reads, whatever the number of monitors (every monitor's
    day bars in one): it is made in a worker thread, then kept (ronda/web/public_cache.py)."""
    if page.monitors or page.tags:  # its own monitors read, not all 100,000 with their verdicts
        names = members(page, ctx.config, [])
        stored = {m.name: m for m in ctx.db.monitors.active(Selection(names=frozenset(names)))}
    else:  # the page of every monitor
        stored = {m.name: m for m in ctx.db.monitors.active()}
        names = members(page, ctx.config, list(stored))
    first = ctx.db.monitors.first_checks(names)
    days = ctx.db.monitors.daily_many([name for name in names if name in stored], now, DAYS)
    components = [
        _component(ctx, page, stored.get(name), name, i, first.get(name), days.get(name, []), now)
        for i, name in enumerate(names)
    ]
    return View(
        page=page,
        components=components,
        overall=overall([c.state for c in components]),
        incidents=ctx.db.incidents.public(names, now - RESOLVED_SHOWN),
        maintenance=_maintenance(ctx, names, now),
        now=now,
    )


def _component(
    ctx: WebContext,
    page: StatusPage,
    monitor: MonitorRecord | None,
    name: str,
    position: int,
    first: datetime | None,
    days: list[DayFigures],
    now: datetime,
) -> Component:
    status = monitor.status if monitor else "unknown"
    since = monitor.since if monitor else None
    checks = sum(d.checks for d in days)
    uptime = None if checks == 0 else 100.0 * sum(d.checks - d.down for d in days) / checks
    state = component_state(status, monitor.cause if monitor else None, in_maintenance(ctx.config, name, now))
    shown = page.components.get(name)
    description, group = (shown.description, shown.group) if shown is not None else (None, None)
    return Component(
        name, page.display_name(name), description, group, position + 1, status, state, since, days, uptime, first
    )


def _maintenance(ctx: WebContext, names: list[str], now: datetime) -> list[Planned]:
    planned = []
    members: dict[int, list[str]] = {}  # per window, not per time it comes (up to 20 of one window)
    for window, start, end in next_windows(ctx.config.maintenance, now, MAINTENANCE_AHEAD, limit=20):
        if id(window) not in members:
            members[id(window)] = window_members(window, names, ctx.config)
        covered = members[id(window)]
        if covered:
            planned.append(Planned(window.name, start, end, covered, start <= now))
    return planned
