"""The store: migrations that match the models, and verdicts that survive reopening."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ronda.rules.incidents import Policy
from ronda.storage import partitions
from ronda.storage.arrivals import Arrival
from ronda.storage.database import Database
from ronda.storage.models import Base
from ronda.storage.monitors import Selection
from ronda.verdict import Finding, Verdict, iso

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def verdict(status: str, at: datetime, cause: str | None = None) -> Verdict:
    findings = (Finding(cause, "it broke", "shop.test", "127.0.0.1", 443),) if cause else ()
    return Verdict("https://shop.test/", status, cause, "summary", at, 12.5, ("127.0.0.1",), findings=findings)  # type: ignore[arg-type]


def test_the_migrations_build_exactly_the_models_schema(empty_store_url):
    store = Database(empty_store_url)
    with store.engine.connect() as connection:
        # PostgreSQL's day tables of verdicts are partitions of `results`, made as days come
        # (ronda/storage/partitions.py): no model describes them.
        context = MigrationContext.configure(connection, opts={"include_name": not_a_partition})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def not_a_partition(name: str | None, kind: str, _parent: object) -> bool:
    return not (kind == "table" and name is not None and name.startswith(("results_p", partitions.DEFAULT)))


def test_verdicts_state_and_incidents_survive_reopening(store_url):
    url = store_url
    store = Database(url)
    store.monitors.sync({"shop": "https://shop.test/"})
    notices = []
    for i, status in enumerate(["up", "down", "down"]):
        notices += store.monitors.record(
            "shop", verdict(status, T0 + timedelta(seconds=i), "tcp_refused" if status == "down" else None), 2
        )
    assert [n.event.value for n in notices] == ["opened"]
    store.close()

    reopened = Database(url)
    [monitor] = reopened.monitors.active()
    assert (monitor.status, monitor.cause) == ("down", "tcp_refused")
    assert iso(monitor.since) == "2026-11-25T12:00:01Z"
    assert len(reopened.monitors.results("shop", 10)) == 3
    notices = reopened.monitors.record("shop", verdict("up", T0 + timedelta(seconds=63)), 2)
    assert [n.event.value for n in notices] == ["resolved"]
    assert notices[0].duration_s == 62.0
    [incident] = reopened.incidents.recent()
    assert iso(incident.opened_at) == "2026-11-25T12:00:01Z"
    assert iso(incident.resolved_at) == "2026-11-25T12:01:03Z"
    assert [u.kind for u in incident.updates] == ["detected", "confirmed", "resolved"]
    assert incident.updates[-1].message == "resolved after 1 min 2 s"


def test_questions_about_more_monitors_than_a_statement_takes_parameters_are_answered(store_url):
    """PostgreSQL binds at most 65,535 parameters in a statement: 100,000 monitors (the whole
    API list, a status page of every monitor, a config cut down) go past it, and the whole
    list of 100,000 answered 500 on PostgreSQL. 70,000 names are asked about here."""
    store = Database(store_url)
    many = {f"m{i:05d}": "tcp://m.test:1" for i in range(70_000)}
    store.monitors.sync(many)
    store.monitors.record("m00001", verdict("down", T0, "tcp_refused"), 1)
    names = list(many)
    assert store.monitors.first_checks(names) == {"m00001": T0}
    assert [i.monitors for i in store.incidents.public(names, T0 - timedelta(days=1))] == [("m00001",)]
    assert "m00001" in store.monitors.daily_many(names, T0, days=1)
    assert len(store.monitors.active(Selection(names=frozenset(names)))) == 70_000
    store.monitors.sync({"m00001": "tcp://m.test:1"})  # 69,999 leave at once
    assert [m.name for m in store.monitors.active()] == ["m00001"]


def test_a_monitor_removed_from_the_config_keeps_its_history_but_leaves_the_list(store_url):
    store = Database(store_url)
    store.monitors.sync({"shop": "https://shop.test/", "old": "tcp://old.test:22"})
    store.monitors.record("old", verdict("up", T0), 2)
    store.monitors.sync({"shop": "https://shop.test/"})
    assert [m.name for m in store.monitors.active()] == ["shop"]
    assert len(store.monitors.results("old", 10)) == 1


def test_an_incident_inside_maintenance_is_marked_planned_and_sends_nothing(store_url):
    store = Database(store_url)
    store.monitors.sync({"shop": "https://shop.test/"})
    notices = []
    for i in range(3):
        notices += store.monitors.record(
            "shop", verdict("down", T0 + timedelta(seconds=i), "tcp_refused"), 2, planned=True
        )
    notices += store.monitors.record("shop", verdict("up", T0 + timedelta(seconds=9)), 2, planned=True)
    assert notices == []
    [incident] = store.incidents.recent()
    assert incident.planned is True and incident.status == "resolved"
    assert "inside a maintenance window" in [u.message for u in incident.updates][2]
    assert len(store.monitors.results("shop", 10)) == 4, "checks go on and are stored"


def test_a_degraded_incident_that_turns_down_is_announced_once_as_escalated(store_url):
    store = Database(store_url)
    store.monitors.sync({"shop": "https://shop.test/"})
    events = []
    for i, status in enumerate(["degraded", "degraded", "down", "down"]):
        cause = "slow_response" if status == "degraded" else "http_server_error"
        events += [
            n.event.value for n in store.monitors.record("shop", verdict(status, T0 + timedelta(seconds=i), cause), 2)
        ]
    assert events == ["opened", "cause_changed", "escalated"]
    [incident] = store.incidents.recent()
    assert incident.severity == "down"
    assert "escalated" in [u.kind for u in incident.updates]


def test_verdicts_recorded_in_one_batch_judge_as_one_by_one_and_a_bad_one_costs_only_itself(store_url, tmp_path):
    policy = Policy(confirm=2)
    down = "tcp_refused"
    good = [
        Arrival("shop", verdict("down", T0, down), policy),
        Arrival("api", verdict("up", T0), policy),
        Arrival("shop", verdict("down", T0 + timedelta(seconds=1), down), policy),
        Arrival("api", verdict("down", T0 + timedelta(seconds=1), down), policy),
        Arrival("shop", verdict("up", T0 + timedelta(seconds=2)), policy),
    ]
    bad = Arrival("gone", verdict("up", T0), policy)  # no such monitor: a defect upstream
    # The batch on each store (a bad arrival rolls back to its savepoint), one by one on SQLite.
    stores = {"batch": Database(store_url), "one by one": Database(f"sqlite:///{tmp_path / 'alone.db'}")}
    for store in stores.values():
        store.monitors.sync({"shop": "https://shop.test/", "api": "https://api.test/"})
    outcomes = stores["batch"].monitors.record_many([*good[:3], bad, *good[3:]])
    assert [type(o).__name__ for o in outcomes] == ["list", "list", "list", "UnknownMonitor", "list", "list"]
    batched = [n.event.value for o in outcomes if isinstance(o, list) for n in o]
    alone = [n.event.value for a in good for n in stores["one by one"].monitors.record(a.name, a.verdict, policy)]
    assert batched == alone and "opened" in batched
    seen = {
        way: (
            {m.name: (m.status, m.cause, m.open_incident) for m in store.monitors.active()},
            [len(store.monitors.results(name, 10)) for name in ("shop", "api")],
        )
        for way, store in stores.items()
    }
    assert seen["batch"] == seen["one by one"]
    assert seen["batch"][1] == [3, 2]
    for store in stores.values():
        store.close()


def test_hubs_starting_together_on_an_empty_postgresql_both_come_up(empty_postgres_url):
    """Two hubs sharing a new store migrate it one after the other, not both at once (which
    failed on the second CREATE TABLE)."""
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(2)

    def start() -> list[str]:
        barrier.wait()
        store = Database(empty_postgres_url)
        try:
            return [m.name for m in store.monitors.active()]
        finally:
            store.close()

    with ThreadPoolExecutor(2) as pool:
        assert [future.result(60) for future in [pool.submit(start), pool.submit(start)]] == [[], []]
