"""The monitor state machine, pure: previous state + a verdict -> new state + what happened.

`confirm` consecutive failed checks open an incident (one bad check is a blip, not an
outage); the first good check resolves it. The incident dates from the first failed
check of the streak, which is when users started to suffer, not from the confirmation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum


class Event(StrEnum):
    OPENED = "opened"
    CAUSE_CHANGED = "cause_changed"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class MonitorState:
    status: str = "unknown"  # unknown | up | degraded | down
    cause: str | None = None
    since: datetime | None = None  # when `status` began
    failures: int = 0  # consecutive failed checks
    failing_since: datetime | None = None  # first failed check of the current streak
    incident_open: bool = False
    incident_cause: str | None = None


@dataclass(frozen=True)
class Transition:
    state: MonitorState
    events: tuple[Event, ...] = ()


def advance(state: MonitorState, status: str, cause: str | None, at: datetime, confirm: int) -> Transition:
    """Apply one verdict (its status, cause and time) to a monitor's state."""
    failing = status != "up"
    new = replace(
        state,
        status=status,
        cause=cause,
        since=state.since if status == state.status and state.since else at,
        failures=state.failures + 1 if failing else 0,
        failing_since=(state.failing_since or at) if failing else None,
    )
    if not failing:
        if state.incident_open:
            return Transition(replace(new, incident_open=False, incident_cause=None), (Event.RESOLVED,))
        return Transition(new)
    if not state.incident_open and new.failures >= confirm:
        return Transition(replace(new, incident_open=True, incident_cause=cause), (Event.OPENED,))
    if state.incident_open and cause != state.incident_cause:
        return Transition(replace(new, incident_cause=cause), (Event.CAUSE_CHANGED,))
    return Transition(new)
