"""The monitor state machine, table-driven: what a run of verdicts does to incidents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ronda.rules.incidents import Event, MonitorState, Policy, advance
from ronda.service.scheduler import Confirmation

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
UP, DOWN_503, DOWN_CERT = ("up", None), ("down", "http_server_error"), ("down", "cert_expired")
SLOW = ("degraded", "slow_response")


def play(statuses: list[tuple[str, str | None]], policy: Policy) -> tuple[MonitorState, list[list[str]]]:
    state = MonitorState()
    events = []
    for i, (status, cause) in enumerate(statuses):
        transition = advance(state, status, cause, T0 + timedelta(seconds=30 * i), policy)
        state = transition.state
        events.append([e.value for e in transition.events])
    return state, events


@pytest.mark.parametrize(
    ("statuses", "policy", "expected_events", "open_at_end"),
    [
        ([UP, DOWN_503, UP], Policy(confirm=2), [[], [], []], False),
        ([UP, DOWN_503, DOWN_503, UP], Policy(confirm=2), [[], [], ["opened"], ["resolved"]], False),
        ([DOWN_503], Policy(confirm=1), [["opened"]], True),
        ([DOWN_503, DOWN_503, DOWN_503, DOWN_503], Policy(confirm=2), [[], ["opened"], [], []], True),
        (
            [DOWN_503, DOWN_503, DOWN_CERT, UP],
            Policy(confirm=2),
            [[], ["opened"], ["cause_changed"], ["resolved"]],
            False,
        ),
        ([SLOW, SLOW], Policy(confirm=2), [[], ["opened"]], True),
        ([DOWN_503, UP, DOWN_503, UP], Policy(confirm=2), [[], [], [], []], False),
        (
            [DOWN_503, DOWN_503, DOWN_503, UP, UP],
            Policy(confirm=3, recover=2),
            [[], [], ["opened"], [], ["resolved"]],
            False,
        ),
        (
            [DOWN_503, UP, DOWN_503, UP, UP],
            Policy(confirm=1, recover=2, flap_changes=99),
            [["opened"], [], [], [], ["resolved"]],
            False,
        ),
    ],
    ids=[
        "one failed check is a blip, not an incident",
        "confirm failures in a row open one incident and a good check resolves it",
        "confirm 1 opens at the first failure",
        "a long outage stays one incident",
        "a new cause during an outage updates the incident instead of opening another",
        "degraded counts as failing",
        "failures that are not consecutive never confirm",
        "confirm 3 opens at the third failure and recover 2 needs two good checks",
        "a good check between failures does not resolve when recover asks for two",
    ],
)
def test_incidents_follow_the_verdicts(statuses, policy, expected_events, open_at_end):
    state, events = play(statuses, policy)
    assert events == expected_events
    assert state.incident_open is open_at_end


def test_the_incident_dates_from_the_first_failed_check():
    state = MonitorState()
    policy = Policy(confirm=3)
    state = advance(state, "down", "tcp_refused", T0, policy).state
    state = advance(state, "down", "tcp_refused", T0 + timedelta(seconds=30), policy).state
    transition = advance(state, "down", "tcp_refused", T0 + timedelta(seconds=60), policy)
    assert transition.events == (Event.OPENED,)
    assert transition.state.failing_since == T0
    assert transition.state.since == T0, "status 'down' since the first failed check"


def test_flapping_is_one_incident_marked_flapping_not_twenty():
    policy = Policy(confirm=1, recover=1)
    statuses = [DOWN_503, UP] * 20 + [UP] * 5
    state, events = play(statuses, policy)
    flat = [e for step in events for e in step]
    assert flat.count("opened") == 1
    assert flat.count("reopened") <= 1, "failing again soon after resolving reopens the same incident"
    assert flat.count("flapping") <= 1
    assert flat[-1] == "resolved", "it resolves once the monitor has calmed down"
    assert flat.count("resolved") <= 2
    assert not state.incident_open


def test_failing_long_after_a_resolution_is_a_new_incident():
    policy = Policy(confirm=1, flap_window=timedelta(minutes=5))
    state = advance(MonitorState(), "down", "tcp_refused", T0, policy).state
    state = advance(state, "up", None, T0 + timedelta(minutes=1), policy).state
    transition = advance(state, "down", "tcp_refused", T0 + timedelta(hours=2), policy)
    assert transition.events == (Event.OPENED,)


@pytest.mark.parametrize(
    ("failing", "policy", "rechecks"),
    [
        ([True, True, True], Policy(confirm=3), [True, True, False]),
        ([True, False], Policy(confirm=3), [True, False]),
        ([False, False], Policy(confirm=2), [False, False]),
        ([True, True, False, False], Policy(confirm=2, recover=2), [True, False, True, False]),
    ],
    ids=[
        "a first failure is re-checked at once until confirmed",
        "a blip ends the re-checks",
        "a working monitor keeps its interval",
        "a recovery is re-checked too until recover good checks",
    ],
)
def test_the_scheduler_rechecks_while_a_change_is_unconfirmed(failing, policy, rechecks):
    confirmation = Confirmation(policy)
    assert [confirmation.observe(f) for f in failing] == rechecks
