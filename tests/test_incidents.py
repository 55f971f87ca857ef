"""The monitor state machine, table-driven: what a run of verdicts does to incidents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ronda.service.incidents import Event, MonitorState, advance

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def play(statuses: list[tuple[str, str | None]], confirm: int) -> tuple[MonitorState, list[list[str]]]:
    state = MonitorState()
    events = []
    for i, (status, cause) in enumerate(statuses):
        transition = advance(state, status, cause, T0 + timedelta(seconds=30 * i), confirm)
        state = transition.state
        events.append([e.value for e in transition.events])
    return state, events


UP, DOWN_503, DOWN_CERT = ("up", None), ("down", "http_server_error"), ("down", "cert_expired")


@pytest.mark.parametrize(
    ("statuses", "confirm", "expected_events", "open_at_end"),
    [
        ([UP, DOWN_503, UP], 2, [[], [], []], False),
        ([UP, DOWN_503, DOWN_503, UP], 2, [[], [], ["opened"], ["resolved"]], False),
        ([DOWN_503], 1, [["opened"]], True),
        ([DOWN_503, DOWN_503, DOWN_503, DOWN_503], 2, [[], ["opened"], [], []], True),
        ([DOWN_503, DOWN_503, DOWN_CERT, UP], 2, [[], ["opened"], ["cause_changed"], ["resolved"]], False),
        ([("degraded", "slow_response"), ("degraded", "slow_response")], 2, [[], ["opened"]], True),
        ([DOWN_503, UP, DOWN_503, UP], 2, [[], [], [], []], False),
    ],
    ids=[
        "one failed check is a blip, not an incident",
        "confirm failures in a row open one incident and a good check resolves it",
        "confirm 1 opens at the first failure",
        "a long outage stays one incident",
        "a new cause during an outage updates the incident instead of opening another",
        "degraded counts as failing",
        "failures that are not consecutive never confirm",
    ],
)
def test_incidents_follow_the_verdicts(statuses, confirm, expected_events, open_at_end):
    state, events = play(statuses, confirm)
    assert events == expected_events
    assert state.incident_open is open_at_end


def test_the_incident_dates_from_the_first_failed_check():
    state = MonitorState()
    state = advance(state, "down", "tcp_refused", T0, 3).state
    state = advance(state, "down", "tcp_refused", T0 + timedelta(seconds=30), 3).state
    transition = advance(state, "down", "tcp_refused", T0 + timedelta(seconds=60), 3)
    assert transition.events == (Event.OPENED,)
    assert transition.state.failing_since == T0
    assert transition.state.since == T0, "status 'down' since the first failed check"
