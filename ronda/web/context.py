"""What the web face needs from the running service, handed in as one object so each
router takes only collaborators, never globals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ronda.clock import Clock, system_clock
from ronda.config.schema import Config
from ronda.service.scheduler import LagHistogram
from ronda.storage.database import Database
from ronda.web.live import LiveHub

if TYPE_CHECKING:
    from ronda.service.agent_hub import AgentHub
    from ronda.service.monitors import MonitorManager
    from ronda.service.push import PushMonitors


def _no_connectivity() -> dict[str, Any]:
    return {"online": True, "since": None, "canaries": []}


def _nothing() -> None:
    return None


@dataclass
class WebContext:
    db: Database
    token: str  # the config's bearer token: always accepted, like an API token
    alive: Callable[[], bool] = lambda: True
    scheduler_stats: Callable[[], dict[str, float]] = lambda: {"checks_run": 0, "slots_skipped": 0, "lag_seconds": 0}
    scheduler_lag: Callable[[], LagHistogram] = LagHistogram  # how late checks started (none: empty)
    connectivity: Callable[[], dict[str, Any]] = _no_connectivity
    # Called after the API wrote a notice to the outbox (a person's post), so the sender
    # delivers it now rather than at its next look, and open pages hear of it.
    notify: Callable[[], None] = _nothing
    # The running settings: the file's, with the API's monitors among `monitors` (a
    # monitor's `source` in the store says whose it is); replaced on each reload.
    config: Config = field(default_factory=Config)
    live: LiveHub = field(default_factory=LiveHub)
    # Adds, changes and removes monitors, re-reads the config file; None where nothing runs
    # them (the routes answer 503).
    monitors: MonitorManager | None = None
    # Takes push monitors' calls (/push/{token}); None where nothing runs them (404 for all).
    push: PushMonitors | None = None
    # Shares the monitors out to probe agents and takes their verdicts; None where nothing
    # runs them (the agents' routes answer 503).
    agents: AgentHub | None = None
    # The wall clock the report intake reads (its dedupe window, rate limits, pruning);
    # tests set it to drive time.
    clock: Clock = system_clock
    # "leader", or "standby" while another hub on the same PostgreSQL leads (it serves all
    # the same; ronda/service/leadership.py).
    role: Callable[[], str] = lambda: "leader"

    def tagged(self, tag: str | None) -> frozenset[str] | None:
        """The names of the monitors with `tag` (the running config's); None, no tag: all."""
        return frozenset(m.name for m in self.config.monitors if tag in m.tags) if tag is not None else None
