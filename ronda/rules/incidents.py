"""The monitor state machine, pure: previous state + a verdict -> new state + what happened.

`confirm` consecutive failed checks open an incident (one bad check is a blip, not an
outage); `recover` consecutive good checks resolve it. The incident dates from the first
failed check of the streak, which is when users started to suffer, not from the
confirmation. A monitor that keeps changing state (flapping) keeps one incident, marked
flapping, instead of opening and resolving twenty: failing again soon after a resolution
reopens the same incident, and a flapping incident resolves only after `flap_calm` good
checks in a row.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from ronda import defaults


class Event(StrEnum):
    OPENED = "opened"
    REOPENED = "reopened"  # failing again soon after it resolved: the same incident, flapping
    CAUSE_CHANGED = "cause_changed"
    FLAPPING = "flapping"
    RESOLVED = "resolved"
    UPDATED = "updated"  # a person's post on the timeline
    SCOPE_CHANGED = "scope_changed"  # more or fewer vantage points see it
    ESCALATED = "escalated"  # degraded became down
    # The other signal sees it too: users report an incident the probes opened, or the probes
    # fail under an incident users' reports opened.
    SIGNAL_JOINED = "signal_joined"


@dataclass(frozen=True, slots=True)
class Policy:
    """How eagerly a monitor's state turns into incidents."""

    confirm: int = defaults.CONFIRM  # consecutive failed checks before an incident opens
    recover: int = defaults.RECOVER  # consecutive good checks before it resolves
    flap_window: timedelta = timedelta(minutes=30)
    flap_changes: int = 6  # this many changes of state within the window is flapping
    flap_calm: int = 5  # good checks in a row that end a flapping incident
    quorum: int | float = defaults.QUORUM  # vantage points (int) or share of them (float) that must fail
    fresh_for: timedelta = timedelta(minutes=10)  # a vantage point's latest verdict counts this long
    alert_local: bool = defaults.ALERT_LOCAL  # tell people about failures only one vantage point of several sees
    parents: tuple[str, ...] = ()  # monitors this one depends on, nearest first, transitively


@dataclass(frozen=True)
class MonitorState:
    status: str = "unknown"  # unknown | up | degraded | down
    cause: str | None = None
    since: datetime | None = None  # when `status` began
    failures: int = 0  # consecutive failed checks
    successes: int = 0  # consecutive good checks
    failing_since: datetime | None = None  # first failed check of the current streak
    changes: tuple[datetime, ...] = ()  # recent changes between failing and working
    incident_open: bool = False
    incident_cause: str | None = None
    incident_flapping: bool = False
    resolved_at: datetime | None = None  # when the last incident resolved


@dataclass(frozen=True)
class Transition:
    state: MonitorState
    events: tuple[Event, ...] = ()


def flapping(state: MonitorState, policy: Policy) -> bool:
    return len(state.changes) >= policy.flap_changes


def advance(state: MonitorState, status: str, cause: str | None, at: datetime, policy: Policy) -> Transition:
    """Apply one verdict (its status, cause and time) to a monitor's state."""
    new = _observe(state, status, cause, at, policy)
    if status == "up":
        return _working(state, new, policy, at)
    return _failing(state, new, cause, policy)


def _observe(state: MonitorState, status: str, cause: str | None, at: datetime, policy: Policy) -> MonitorState:
    failing = status != "up"
    was_failing = state.status not in ("up", "unknown")
    changed = state.status != "unknown" and failing != was_failing
    recent = tuple(t for t in state.changes if at - t < policy.flap_window) + ((at,) if changed else ())
    return replace(
        state,
        status=status,
        cause=cause,
        since=state.since if status == state.status and state.since else at,
        failures=state.failures + 1 if failing else 0,
        successes=0 if failing else state.successes + 1,
        failing_since=(state.failing_since or at) if failing else None,
        changes=recent,
    )


def _working(old: MonitorState, new: MonitorState, policy: Policy, at: datetime) -> Transition:
    if not old.incident_open or new.successes < policy.recover:
        return Transition(new)
    if (new.incident_flapping or flapping(new, policy)) and new.successes < policy.flap_calm:
        return _mark_flapping(new)  # still changing: the incident stays open until calm
    resolved = replace(new, incident_open=False, incident_cause=None, incident_flapping=False, resolved_at=at)
    return Transition(resolved, (Event.RESOLVED,))


def _failing(old: MonitorState, new: MonitorState, cause: str | None, policy: Policy) -> Transition:
    if not old.incident_open:
        if new.failures < policy.confirm:
            return Transition(new)
        assert new.failing_since is not None
        again = new.resolved_at is not None and new.failing_since - new.resolved_at < policy.flap_window
        opened = replace(new, incident_open=True, incident_cause=cause, incident_flapping=again)
        return Transition(opened, (Event.REOPENED,) if again else (Event.OPENED,))
    events: tuple[Event, ...] = ()
    if cause != old.incident_cause:
        new, events = replace(new, incident_cause=cause), (Event.CAUSE_CHANGED,)
    if flapping(new, policy) and not new.incident_flapping:
        marked = _mark_flapping(new)
        return Transition(marked.state, events + marked.events)
    return Transition(new, events)


def _mark_flapping(state: MonitorState) -> Transition:
    if state.incident_flapping:
        return Transition(state)
    return Transition(replace(state, incident_flapping=True), (Event.FLAPPING,))
