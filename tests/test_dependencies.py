"""Dependencies: while a parent is down, its children's failures join the parent's incident,
so one DNS outage under twenty sites is one incident and one notice, not twenty."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ronda.config.load import ancestors, dependency_map, load_config
from ronda.rules.incidents import Policy
from ronda.storage.database import Database
from ronda.verdict import Finding, Verdict
from tests.support import config_error

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CHILDREN = [f"site{i}" for i in range(20)]


def verdict(status: str, at: datetime, cause: str = "dns_servfail") -> Verdict:
    findings = (Finding(cause, "broken", "x.test"),) if status != "up" else ()
    return Verdict(
        "https://x.test/",
        status,
        None if status == "up" else cause,
        "summary",
        at,
        1.0,  # type: ignore[arg-type]
        findings=findings,
    )


@pytest.fixture
def store(store_url: str) -> Database:
    store = Database(store_url)
    store.monitors.sync({"dns": "dns://x.test", **{name: f"https://{name}.test/" for name in CHILDREN}})
    return store


def record_round(store: Database, at: datetime, parent: str, children: str) -> list[str]:
    events = [n.event.value for n in store.monitors.record("dns", verdict(parent, at), Policy(confirm=1))]
    child = Policy(confirm=1, parents=("dns",))
    for i, name in enumerate(CHILDREN):
        events += [
            n.event.value for n in store.monitors.record(name, verdict(children, at + timedelta(seconds=i)), child)
        ]
    return events


def test_a_parent_outage_with_twenty_children_is_one_incident_and_one_notice(store):
    events = record_round(store, T0, "down", "down")
    events += record_round(store, T0 + timedelta(minutes=1), "down", "down")
    assert events == ["opened"]
    [incident] = store.incidents.recent()
    joined = [u for u in incident.updates if u.kind == "joined"]
    assert len(joined) == 20 and "site0, which depends on it, fails too" in joined[0].message
    events = record_round(store, T0 + timedelta(minutes=2), "up", "up")
    assert events == ["resolved"]
    assert len(store.incidents.recent()) == 1
    assert [u.kind for u in store.incidents.recent()[0].updates].count("left") == 20


def test_children_wait_while_their_parent_fails_unconfirmed(store):
    child = Policy(confirm=1, parents=("dns",))
    assert store.monitors.record("dns", verdict("down", T0), Policy(confirm=3)) == []
    assert store.monitors.record("site0", verdict("down", T0), child) == [], "the parent may be the cause: wait"
    assert store.incidents.recent() == []


def test_a_child_failing_on_its_own_opens_its_own_incident(store):
    store.monitors.record("dns", verdict("up", T0), Policy(confirm=1))
    notices = store.monitors.record(
        "site0", verdict("down", T0, "http_server_error"), Policy(confirm=1, parents=("dns",))
    )
    assert [n.event.value for n in notices] == ["opened"]
    assert store.incidents.recent()[0].monitor == "site0"


def test_a_failing_child_joins_the_incident_of_its_nearest_parent_that_has_one(store):
    store.monitors.sync(
        {"dns": "dns://x.test", "cdn": "https://cdn.test/", **{n: f"https://{n}.test/" for n in CHILDREN}}
    )
    alone = Policy(confirm=1)
    assert [n.event.value for n in store.monitors.record("cdn", verdict("down", T0), alone)] == ["opened"]
    assert [n.event.value for n in store.monitors.record("dns", verdict("down", T0), alone)] == ["opened"]
    store.monitors.record("site5", verdict("up", T0), alone)
    later = T0 + timedelta(seconds=5)
    assert store.monitors.record("site0", verdict("down", later), Policy(confirm=1, parents=("cdn", "dns"))) == []
    assert store.monitors.record("site1", verdict("down", later), Policy(confirm=1, parents=("site5", "dns"))) == []
    joined = {
        i.monitor: [u.message.split(",")[0] for u in i.updates if u.kind == "joined"] for i in store.incidents.recent()
    }
    assert joined == {"cdn": ["site0"], "dns": ["site1"]}, "the nearest with an incident; one without is passed over"


def test_ancestors_are_found_nearest_first():
    parents = {"site": ["cdn"], "cdn": ["dns"], "dns": []}
    assert ancestors("site", parents) == ("cdn", "dns")


@pytest.mark.parametrize(
    ("monitors", "message"),
    [
        ("  - {name: a, url: 'tcp://a.test:1', depends_on: [b]}\n", ":2: monitors[0].depends_on: no monitor named 'b'"),
        (
            "  - {name: a, url: 'tcp://a.test:1', depends_on: [b]}\n"
            "  - {name: b, url: 'tcp://b.test:1', depends_on: [a]}\n",
            ":2: monitors[0].depends_on: 'a' depends on itself through a -> b -> a",
        ),
    ],
    ids=["an unknown parent", "a cycle"],
)
def test_bad_dependencies_are_config_errors(tmp_path, monitors, message):
    path = tmp_path / "ronda.yaml"
    path.write_text("monitors:\n" + monitors)
    assert f"{path}{message}" in config_error(str(path))


def test_depends_on_a_tag_means_every_monitor_with_it(tmp_path):
    path = tmp_path / "ronda.yaml"
    path.write_text(
        "monitors:\n"
        "  - {name: dns-a, url: 'dns://a.test?server=127.0.0.1:53', tags: [dns]}\n"
        "  - {name: dns-b, url: 'dns://b.test?server=127.0.0.1:53', tags: [dns]}\n"
        "  - {name: shop, url: 'https://shop.test/', depends_on: ['tag:dns']}\n"
    )
    config = load_config(str(path), {})
    assert ancestors("shop", dependency_map(config.monitors)) == ("dns-a", "dns-b")


def test_an_unknown_tag_is_a_config_error(tmp_path):
    path = tmp_path / "ronda.yaml"
    path.write_text("monitors:\n  - {name: shop, url: 'https://shop.test/', depends_on: ['tag:cdn']}\n")
    assert f"{path}:2: monitors[0].depends_on: no monitor has the tag 'cdn'" in config_error(str(path))
