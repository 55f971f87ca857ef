"""Users' reports as a signal, end to end through the real API and storage: weeks of usual
reports in the database, then reports posted to POST /api/v1/reports at chosen clock times
from many addresses, assessed by the real watch (ronda/service/report_watch.py), which joins
or opens incidents that the API shows and notices that say which signal fired."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from ronda.config.schema import Config
from ronda.notify.messages import message_for
from ronda.records import IncidentRecord
from ronda.rules.incidents import Event
from ronda.service.report_watch import ReportWatch, watch_settings
from ronda.storage.database import Database
from ronda.storage.incidents import IncidentNotice
from ronda.storage.models import ReportRow
from ronda.verdict import Finding, Verdict
from tests.status_support import Browser

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # a Wednesday afternoon
USUAL_PER_HOUR = 12
TARGETS = {"app": "https://app.example.test/", "api": "https://api.example.test/"}
SPREAD = ("US-CA", "US-TX", "IT", "FR", "DE")


class Clock:
    def __init__(self) -> None:
        self.at = NOW

    def __call__(self) -> datetime:
        return self.at


def verdict(name: str, status: str, at: datetime) -> Verdict:
    cause = None if status == "up" else "http_server_error"
    findings = (Finding(cause, "503", "example.test", "127.0.0.1", 443),) if cause else ()
    summary = "HTTP 200" if cause is None else f"HTTP 503 at {TARGETS[name]}"
    return Verdict(TARGETS[name], status, cause, summary, at, 10.0, ("127.0.0.1",), findings=findings)  # type: ignore[arg-type]


def backfill(store: Database, weeks: int = 4) -> None:
    """`weeks` of the usual reports for both services, spread over five regions."""
    rows = []
    for hour in range(weeks * 168, 0, -1):
        start = NOW - timedelta(hours=hour)
        for k in range(USUAL_PER_HOUR):
            at = start + timedelta(minutes=k * 60 / USUAL_PER_HOUR)
            for service in TARGETS:
                region = SPREAD[k % len(SPREAD)]
                rows.append(
                    ReportRow(
                        service=service, region=region, problem="other", reporter_hash=f"{hour}-{k}", received_at=at
                    )
                )
    with Session(store.engine) as session, session.begin():
        session.add_all(rows)


class World:
    """A store with weeks of history, the real app, and the real watch, on one clock."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.db.monitors.sync(TARGETS)
        for name in TARGETS:
            self.db.monitors.record(name, verdict(name, "up", NOW - timedelta(weeks=5)), 2)
            self.db.monitors.record(name, verdict(name, "up", NOW - timedelta(minutes=30)), 2)
        backfill(self.db)
        self.config = Config.model_validate(
            {
                "monitors": [{"name": name, "url": url} for name, url in TARGETS.items()],
                "status_pages": [
                    {"slug": "public", "title": "Example", "monitors": list(TARGETS), "show_report_counts": True}
                ],
                "reports": {"global_per_minute": 1000},
            }
        )
        self.clock = Clock()
        self.browser = Browser(self.db, self.config, clock=self.clock)
        self.notices: list[IncidentNotice] = []
        self.writer = ThreadPoolExecutor(max_workers=1)
        self.watch = ReportWatch(
            self.db.reports.counts,
            self.db.reports.surges,
            self.writer,
            services=lambda: list(TARGETS),
            planned=lambda name, at: False,
            announce=self.notices.append,
            settings=lambda: watch_settings(self.config.reports),
            clock=self.clock,
        )
        self.sent = 0

    def report(
        self, service: str, region: str = "US-CA", problem: str = "app_error", address: str | None = None
    ) -> int:
        self.sent += 1
        self.browser.address = address or f"198.51.{self.sent // 250}.{self.sent % 250 + 1}"
        response = self.browser.post("/api/v1/reports", json={"service": service, "region": region, "problem": problem})
        return response.status_code

    def minutes(self, count: int, per_minute: int, service: str = "app", regions: tuple[str, ...] = SPREAD) -> None:
        """`count` minutes of `per_minute` reports each, the clock moving on and the watch
        assessing once a minute, as ronda does every 30 s."""
        for _ in range(count):
            for k in range(per_minute):
                assert self.report(service, regions[k % len(regions)]) == 202
            self.clock.at += timedelta(minutes=1)
            self.assess()

    def assess(self) -> None:
        asyncio.run(self.watch.round(self.clock.at))

    def incidents(self, service: str) -> list[IncidentRecord]:
        return [i for i in self.db.incidents.recent() if i.monitor == service]

    def close(self) -> None:
        self.writer.shutdown()
        self.db.close()


@pytest.fixture
def world(tmp_path):
    world = World(f"sqlite:///{tmp_path}/ronda.db")
    yield world
    world.close()


@pytest.fixture
def world_on_each_store(store_url):
    """The world on SQLite and on PostgreSQL, for the tests that read what the stores count
    differently (seconds since the epoch: ronda/storage/report_counts.py)."""
    world = World(store_url)
    yield world
    world.close()


def test_the_usual_number_of_reports_raises_nothing(world):
    # 12 an hour is one every five minutes: send that, for twenty minutes.
    for _ in range(4):
        world.minutes(1, 1)
        world.minutes(4, 0)
    assert world.watch.latest["app"].level.word == "normal"
    assert world.notices == [] and world.incidents("app") == []


def test_a_surge_while_the_probes_pass_opens_a_user_reported_incident_and_says_so(world_on_each_store):
    world = world_on_each_store
    world.minutes(10, 3)  # 30 in ten minutes where 2 are usual
    opened = [n for n in world.notices if n.event is Event.OPENED]
    assert len(opened) == 1 and opened[0].signal == "reports"
    incident = world.incidents("app")[0]
    assert (incident.cause, incident.signal, incident.status) == ("user_reported", "reports", "open")
    assert "ronda's own checks of app see no failure" in incident.summary
    assert incident.updates[0].kind == "reports"
    message = message_for(opened[0])
    assert message.title == "[ronda] app users report problems: user_reported"
    assert "Signal: users' reports (ronda's own checks see no failure)." in message.body
    assert world.incidents("api") == [], "the other service's reports are its own"


def test_when_the_probes_fail_too_they_join_the_incident_and_resolve_it(world):
    world.minutes(10, 3)
    incident_id = world.incidents("app")[0].id
    for minutes in (1, 2):
        world.db.monitors.record("app", verdict("app", "down", world.clock.at + timedelta(seconds=minutes)), 2)
    incident = world.db.incidents.get(incident_id)
    assert (incident.signal, incident.cause) == ("both", "http_server_error")
    assert any(u.kind == "confirmed" and "ronda's checks fail too" in u.message for u in incident.updates)
    assert [i.id for i in world.incidents("app")] == [incident_id], "one outage, one incident"
    resolved = world.db.monitors.record("app", verdict("app", "up", world.clock.at + timedelta(seconds=5)), 2)
    assert [n.event for n in resolved] == [Event.RESOLVED]
    assert world.db.incidents.get(incident_id).status == "resolved"


def test_a_surge_joins_the_incident_the_probes_opened_and_says_users_report_it_too(world):
    for seconds in (1, 2):
        world.db.monitors.record("api", verdict("api", "down", NOW + timedelta(seconds=seconds)), 2)
    probe_incident = world.incidents("api")[0]
    world.minutes(10, 3, service="api")
    joined = [n for n in world.notices if n.event is Event.SIGNAL_JOINED]
    assert len(joined) == 1 and joined[0].signal == "reports" and joined[0].incident_id == probe_incident.id
    assert message_for(joined[0]).title == "[ronda] api users report problems too: http_server_error"
    incident = world.db.incidents.get(probe_incident.id)
    assert incident.signal == "both"
    assert any(u.kind == "reports" and "users report problems with api" in u.message for u in incident.updates)
    assert len(world.incidents("api")) == 1, "no second incident"
    world.minutes(20, 0, service="api")
    incident = world.db.incidents.get(probe_incident.id)
    assert incident.status == "open", "the probes' incident is theirs to resolve"
    assert incident.updates[-1].message == "users' reports are back to normal"


def test_a_user_reported_incident_resolves_when_reports_are_back_to_normal(world):
    world.minutes(10, 3)
    world.minutes(25, 0)
    incident = world.incidents("app")[0]
    assert incident.status == "resolved"
    assert incident.updates[-1].message == "users' reports are back to normal"
    assert incident.duration_s > 10 * 60
    assert [n.event for n in world.notices] == [Event.OPENED, Event.RESOLVED]


def test_a_surge_from_several_us_states_is_regional_and_names_them(world):
    states = ("US-CA", "US-TX", "US-NY", "US-FL")
    world.minutes(10, 4, regions=states)
    incident = world.incidents("app")[0]
    assert incident.scope == "regional"
    assert set(incident.regions) >= {"US-NY", "US-FL"}, "states never heard from before stand out"
    assert "IT" not in incident.regions


def test_a_flood_from_one_source_is_counted_once_and_raises_no_surge(world):
    for _ in range(10):
        for _ in range(10):
            world.report("app", address="203.0.113.66")
        world.clock.at += timedelta(minutes=1)
        world.assess()
    assert world.watch.latest["app"].level.word == "normal"
    assert world.incidents("app") == []


def test_surges_survive_a_restart_of_the_watch(world):
    world.minutes(10, 3)
    fresh = ReportWatch(
        world.db.reports.counts,
        world.db.reports.surges,
        world.writer,
        services=lambda: list(TARGETS),
        planned=lambda name, at: False,
        announce=world.notices.append,
        settings=lambda: watch_settings(world.config.reports),
    )
    world.watch = fresh
    world.minutes(3, 3)
    assert len(world.incidents("app")) == 1, "the surge under way is resumed, not opened again"


def test_an_incident_the_reports_opened_follows_the_surge_to_more_regions(world):
    world.minutes(8, 3, regions=("US-CA",))
    assert world.incidents("app")[0].regions == ("US-CA",)
    world.minutes(6, 6, regions=(*SPREAD, "US-NY", "US-FL"))
    incident = world.incidents("app")[0]
    assert incident.scope == "global"
    assert any(u.kind == "scope_changed" for u in incident.updates)


def test_the_status_page_charts_the_day_of_reports_against_the_band_with_the_top_problems_and_places(world):
    world.minutes(10, 3, regions=("US-CA", "IT"))
    page = world.browser.get("/status/public").text
    app = page.split('data-service="app"')[1].split("</li>")[0]
    assert app.startswith(' data-level="likely"') and "Likely outage" in app
    assert "<svg" in app and 'class="band"' in app and 'class="expected"' in app
    assert "The app shows an error (30)" in app
    assert "California, United States" in app and "Italy" in app
    other = page.split('data-service="api"')[1].split("</li>")[0]
    assert "No problems reported" in other
    italian = world.browser.get("/status/public?lang=it").text
    assert "Probabile disservizio" in italian and "Cosa segnalano gli utenti" in italian
    assert "Stati Uniti" in italian


def test_the_api_lists_reports_surges_and_a_services_day_behind_the_token(world_on_each_store):
    world = world_on_each_store
    world.minutes(10, 3)
    assert world.browser.get("/api/v1/surges").status_code == 401
    headers = {"Authorization": "Bearer a-token-long-enough-123"}
    surges = world.browser.get("/api/v1/surges", headers=headers).json()
    assert [(s["service"], s["level"], s["ended_at"]) for s in surges] == [("app", "likely", None)]
    assert surges[0]["incident"] == world.incidents("app")[0].id
    reports = world.browser.get("/api/v1/reports?limit=5", headers=headers).json()
    assert len(reports) == 5 and reports[0]["problem"] == "app_error" and reports[0]["received_at"].endswith("Z")
    chart = world.browser.get("/api/v1/services/app/reports", headers=headers).json()
    assert chart["level"] == "likely" and len(chart["bars"]) == 96
    assert {"problem": "app_error", "reports": 30} in chart["problems"]
    assert sum(bar["count"] for bar in chart["bars"]) == chart["total"] > 24 * USUAL_PER_HOUR


def test_the_dashboard_shows_the_surge_on_the_tile_and_the_reports_with_comments_on_the_monitors_page(world):
    world.minutes(10, 3)
    world.browser.address = "192.0.2.200"
    comment = {"service": "app", "problem": "cannot_login", "comment": "login says <b>error 503</b>"}
    assert world.browser.post("/api/v1/reports", json=comment).status_code == 202
    headers = {"Authorization": "Bearer a-token-long-enough-123"}
    board = world.browser.get("/", headers=headers).text
    tile = board.split('id="tile-app"')[1].split("</article>")[0]
    assert "users report: likely outage" in tile
    assert "users report" not in board.split('id="tile-api"')[1].split("</article>")[0]
    page = world.browser.get("/monitors/app", headers=headers).text
    assert "What users report" in page and "Likely outage" in page and "<svg" in page
    assert "login says &lt;b&gt;error 503&lt;/b&gt;" in page, "escaped exactly once"


def test_ronda_run_watches_the_reports_of_every_monitor_a_status_page_offers_push_monitors_too(tmp_path):
    from ronda.node.runner import Service

    config = Config.model_validate(
        {
            "storage": f"sqlite:///{tmp_path}/run.db",
            "canaries": [],
            "monitors": [
                {"name": "app", "url": "https://app.example.test/", "tags": ["public"]},
                {"name": "backup", "kind": "push", "period": "1d", "tags": ["public"]},
                {"name": "internal", "url": "https://internal.example.test/"},
            ],
            "status_pages": [{"slug": "public", "title": "Example", "tags": ["public"]}],
        }
    )
    service = Service(config)
    try:
        asyncio.run(service.monitors.start())
        assert sorted(service.reports.services()) == ["app", "backup"]
    finally:
        service.close()


def test_a_report_in_the_last_second_of_a_quarter_hour_is_charted_in_that_quarter(store_url):
    """Each store counts a report in the bar its time falls in, to the microsecond: the bars
    group by whole seconds since the epoch, truncated, never rounded up into the next bar."""
    store = Database(store_url)
    try:
        store.monitors.sync(TARGETS)
        config = Config.model_validate({"monitors": [{"name": name, "url": url} for name, url in TARGETS.items()]})
        clock = Clock()
        browser = Browser(store, config, clock=clock)
        for address, at in (
            ("198.51.100.1", NOW - timedelta(minutes=30, microseconds=400_000)),  # 14:29:59.6
            ("198.51.100.2", NOW - timedelta(minutes=30)),  # 14:30:00.0
        ):
            clock.at, browser.address = at, address
            assert browser.post("/api/v1/reports", json={"service": "app", "problem": "app_error"}).status_code == 202
        clock.at = NOW - timedelta(minutes=20)
        headers = {"Authorization": "Bearer a-token-long-enough-123"}
        chart = browser.get("/api/v1/services/app/reports", headers=headers).json()
        counted = [(bar["start"], bar["count"]) for bar in chart["bars"] if bar["count"]]
        assert counted == [("2026-12-02T14:15:00Z", 1), ("2026-12-02T14:30:00Z", 1)]
    finally:
        store.close()
