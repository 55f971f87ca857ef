"""Vantage points and scope: verdicts from several vantage points decide whether a failure
is an outage (the quorum) and how far it reaches (global, regional, local)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ronda.notify.messages import message_for
from ronda.rules.incidents import Policy
from ronda.rules.scope import Reading, assess_scope
from ronda.storage.database import Database
from ronda.verdict import Finding, Verdict

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
PARIS, MILAN, NYC = "eu-west/paris", "eu-west/milan", "us-east/nyc"


def reading(vantage: str, failing: bool) -> Reading:
    return Reading(vantage, "down" if failing else "up", "tcp_refused" if failing else None)


@pytest.mark.parametrize(
    ("failing", "quorum", "expected"),
    [
        ({PARIS}, 1, (True, "local", ("eu-west",))),
        ({PARIS}, 2, (False, "local", ("eu-west",))),
        ({PARIS, MILAN}, 2, (True, "regional", ("eu-west",))),
        ({PARIS, NYC}, 0.5, (True, "regional", ("eu-west", "us-east"))),
        ({PARIS}, 0.5, (False, "local", ("eu-west",))),
        ({PARIS, MILAN, NYC}, 3, (True, "global", ("eu-west", "us-east"))),
        (set(), 1, (False, "none", ())),
    ],
    ids=[
        "one vantage point of three failing is local",
        "and below a quorum of two it is no outage",
        "two in one region are regional, naming it",
        "a 50% quorum of three needs two",
        "one of three is under 50%",
        "all three failing is global",
        "nobody failing is no outage",
    ],
)
def test_scope_and_quorum(failing, quorum, expected):
    scope = assess_scope([reading(v, v in failing) for v in (PARIS, MILAN, NYC)], quorum)
    assert (scope.failing, scope.scope, scope.regions) == expected


@pytest.mark.parametrize(
    ("failing", "expected"),
    [({NYC}, ("regional", ("us-east",))), ({"local"}, ("local", ("local",))), ({MILAN}, ("local", ("eu-west",)))],
    ids=[
        "the only vantage point of its region failing is regional",
        "the hub's own vantage point alone is local",
        "one of a region's two alone is local",
    ],
)
def test_one_failing_vantage_point_is_regional_when_it_is_its_whole_region(failing, expected):
    scope = assess_scope([reading(v, v in failing) for v in ("local", PARIS, MILAN, NYC)], 1)
    assert (scope.failing, scope.scope, scope.regions) == (True, *expected)


def test_a_single_vantage_point_sees_global_outages():
    assert assess_scope([reading("local", True)], 1).scope == "global"


def verdict(vantage: str, status: str, at: datetime) -> Verdict:
    cause = None if status == "up" else "tcp_refused"
    findings = (Finding(cause, "refused", "db.test", "127.0.0.1", 5432),) if cause else ()
    return Verdict("tcp://db.test:5432", status, cause, "summary", at, 1.0, findings=findings, vantage=vantage)  # type: ignore[arg-type]


ALL_UP = {PARIS: "up", MILAN: "up", NYC: "up"}


def feed(store: Database, policy: Policy, rounds: list[dict[str, str]]) -> list[list[str]]:
    """Each round: every vantage point reports once; returns the notices' events per round.
    A first round where all are up makes every vantage point known."""
    out = []
    for i, statuses in enumerate([ALL_UP, *rounds]):
        at = T0 + timedelta(seconds=30 * i)
        events = []
        for j, (vantage, status) in enumerate(statuses.items()):
            events += [
                n.event.value
                for n in store.monitors.record("db", verdict(vantage, status, at + timedelta(seconds=j)), policy)
            ]
        out.append(events)
    return out[1:]


@pytest.fixture
def store(store_url: str) -> Database:
    store = Database(store_url)
    store.monitors.sync({"db": "tcp://db.test:5432"})
    return store


def test_a_failure_spreading_from_one_vantage_point_to_all_is_one_incident_rescoped(store):
    policy = Policy(confirm=1)
    events = feed(
        store,
        policy,
        [
            {PARIS: "down", MILAN: "up", NYC: "up"},
            {PARIS: "down", MILAN: "down", NYC: "up"},
            {PARIS: "down", MILAN: "down", NYC: "down"},
            {PARIS: "up", MILAN: "up", NYC: "up"},
        ],
    )
    # Local: recorded, not announced; wider, announced as scope changes; once announced,
    # people hear it to the end, even as it narrows back to one vantage point.
    assert events == [[], ["scope_changed"], ["scope_changed"], ["scope_changed", "scope_changed", "resolved"]]
    [incident] = store.incidents.recent()
    assert incident.status == "resolved"
    scopes = [u.message.split(", was")[0] for u in incident.updates if u.kind == "scope_changed"]
    assert scopes == [
        "scope is regional (eu-west)",
        "scope is global",
        "scope is regional (eu-west, us-east)",
        "scope is regional (us-east)",  # nyc is all of us-east
    ]


def test_below_the_quorum_nothing_opens(store):
    events = feed(store, Policy(confirm=1, quorum=2), [{PARIS: "down", MILAN: "up", NYC: "up"}] * 3)
    assert events == [[], [], []]
    assert store.incidents.recent() == []


def test_a_regional_outage_names_its_regions(store):
    feed(store, Policy(confirm=1, quorum=2), [{PARIS: "down", MILAN: "down", NYC: "up"}])
    [incident] = store.incidents.recent(open_only=True)
    assert (incident.scope, incident.regions) == ("regional", ("eu-west",))


def test_local_failures_are_announced_when_asked(store):
    events = feed(store, Policy(confirm=1, alert_local=True), [{PARIS: "down", MILAN: "up", NYC: "up"}])
    assert events == [["opened"]]


MILAN_AGENT, VIRGINIA_AGENT = "eu-south/milan-1", "us-east/virginia-1"


def alternate(store: Database, offline: bool) -> list[str]:
    """Milan's agent sees the target down (cut off or not), Virginia's sees it up, three
    rounds after one where both see it up; the events of the notices."""
    for vantage in (MILAN_AGENT, VIRGINIA_AGENT):
        store.monitors.record("db", verdict(vantage, "up", T0 - timedelta(seconds=30)), Policy(confirm=1))
    events = []
    for i in range(3):
        at = T0 + timedelta(seconds=30 * i)
        down = verdict(MILAN_AGENT, "down", at)
        events += [n.event.value for n in store.monitors.record("db", down, Policy(confirm=1), offline=offline)]
        up = verdict(VIRGINIA_AGENT, "up", at + timedelta(seconds=1))
        events += [n.event.value for n in store.monitors.record("db", up, Policy(confirm=1))]
    return events


def test_a_region_whose_agent_fails_alone_opens_a_regional_incident(store):
    assert alternate(store, offline=False) == ["opened"]
    [incident] = store.incidents.recent(open_only=True)
    assert (incident.scope, incident.regions, incident.working_regions) == ("regional", ("eu-south",), ("us-east",))


def test_the_notice_says_where_it_fails_and_where_it_works(store):
    notices = []
    for i in range(2):
        at = T0 + timedelta(seconds=30 * i)
        for vantage, status in ((VIRGINIA_AGENT, "up"), (MILAN_AGENT, "down"), ("local", "down")):
            notices += store.monitors.record("db", verdict(vantage, status, at), Policy(confirm=1))
    bodies = [message_for(n).body.splitlines() for n in notices]
    assert [n.event.value for n in notices] == ["opened", "scope_changed"]
    assert "Down from eu-south, up from us-east." in bodies[0]
    assert "Down from eu-south and local, up from us-east." in bodies[1]


def test_what_a_cut_off_agent_sees_counts_for_nothing(store):
    """Its failures are kept, but neither its own verdicts nor the others' readings open an
    incident from them: its own network failed, not the target."""
    assert alternate(store, offline=True) == []
    assert store.incidents.recent() == []
    kept = store.monitors.results("db", limit=10)
    assert [r["vantage"] for r in kept if r["status"] == "down"] == [MILAN_AGENT] * 3
