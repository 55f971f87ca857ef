"""Users' reports that cannot be forged into an outage: X-Forwarded-For from an unlisted
proxy names nobody, an incident from reports alone needs enough reporters over enough time,
and with `reports.confirm_before_notify` nobody hears of one until a person confirms it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from ronda.config.schema import Config
from ronda.rules.incidents import Event
from tests.status_support import Browser
from tests.test_report_surges import TARGETS, World

FORGED = [f"203.0.113.{i}" for i in range(1, 41)]


@pytest.fixture
def world(tmp_path):
    world = World(f"sqlite:///{tmp_path}/ronda.db")
    yield world
    world.close()


def settle(world: World, reports: dict[str, object], trusted: list[str] | None = None) -> None:
    """The world's config with these `reports:` settings (and trusted proxies), in effect."""
    world.config = Config.model_validate(
        {
            "server": {"trusted_proxies": trusted or []},
            "monitors": [{"name": name, "url": url} for name, url in TARGETS.items()],
            "status_pages": [{"slug": "public", "title": "Example", "monitors": list(TARGETS)}],
            "reports": {"global_per_minute": 1000, **reports},
        }
    )
    world.browser = Browser(world.db, world.config, clock=world.clock)


def burst(world: World, forwarded: list[str], times: int = 2) -> list[int]:
    """Each forged address `times`, at once, over connections from 127.0.0.1."""
    world.browser.address = "127.0.0.1"
    codes = []
    for _ in range(times):
        for value in forwarded:
            answer = world.browser.post(
                "/api/v1/reports",
                json={"service": "app", "region": "IT", "problem": "app_error"},
                headers={"X-Forwarded-For": value},
            )
            codes.append(answer.status_code)
    return codes


def quarter_hour(world: World) -> None:
    for _ in range(15):
        world.clock.at += timedelta(minutes=1)
        world.assess()


def test_80_reports_from_40_forged_addresses_through_an_unlisted_proxy_open_nothing(world):
    codes = burst(world, FORGED)
    assert codes.count(202) == 10 and codes.count(429) == 70  # one address: reports.per_source
    quarter_hour(world)
    assert world.incidents("app") == [] and world.notices == []


def test_reports_from_many_real_addresses_in_bursts_too_close_together_open_nothing(world):
    """Forty addresses (a trusted proxy names them) in two bursts four minutes apart: both
    halves of the window are unusual, a likely surge, but the reports span less than
    `reports.min_spread` (5 min), so they alone open no incident."""
    settle(world, {}, trusted=["127.0.0.1"])
    assert set(burst(world, FORGED[:20], times=1)) == {202}
    world.clock.at += timedelta(minutes=4)
    assert set(burst(world, FORGED[20:], times=1)) == {202}
    for _ in range(2):
        world.clock.at += timedelta(seconds=30)
        world.assess()
    assert world.watch.latest["app"].level.word == "likely"
    quarter_hour(world)
    assert world.incidents("app") == [] and world.notices == []


def test_too_few_reporters_open_nothing_however_unusual(world):
    settle(world, {"min_sources": 40})
    world.minutes(10, 3)  # 30 reporters in ten minutes where 2 are usual
    assert world.watch.latest["app"].level.word == "likely"
    assert world.incidents("app") == [] and world.notices == []


def test_with_confirm_before_notify_a_reports_incident_tells_nobody_until_a_person_confirms_it(world):
    settle(world, {"confirm_before_notify": True})
    world.minutes(10, 3)
    [incident] = world.incidents("app")
    assert (incident.cause, incident.signal, incident.status) == ("user_reported", "reports", "open")
    assert [u.kind for u in incident.updates][-1] == "unconfirmed"
    assert world.notices == []

    token = {"Authorization": "Bearer a-token-long-enough-123"}  # tests/status_support.py's
    assert world.browser.post(f"/api/v1/incidents/{incident.id}/confirm").status_code == 401
    confirmed = world.browser.post(f"/api/v1/incidents/{incident.id}/confirm", headers=token)
    assert confirmed.status_code == 200
    assert confirmed.json()["updates"][-1]["kind"] == "confirmed"
    again = world.browser.post(f"/api/v1/incidents/{incident.id}/confirm", headers=token)
    assert again.status_code == 409 and "waits for no confirmation" in again.json()["detail"]
    assert world.browser.post("/api/v1/incidents/999/confirm", headers=token).status_code == 404

    world.minutes(20, 0)  # the reports end; now that people know, they hear it end too
    assert [n.event for n in world.notices] == [Event.RESOLVED]


def test_an_unconfirmed_incident_that_ends_by_itself_was_never_told_and_says_so_to_nobody(world):
    settle(world, {"confirm_before_notify": True})
    world.minutes(10, 3)
    world.minutes(20, 0)
    [incident] = world.incidents("app")
    assert incident.status == "resolved"
    assert world.notices == []


def test_the_incidents_page_offers_to_confirm_an_unconfirmed_incident_and_confirming_notifies(world):
    settle(world, {"confirm_before_notify": True})
    world.db.accounts.add_user("ops", "a long enough password", role="editor")
    world.minutes(10, 3)
    [incident] = world.incidents("app")
    login = world.browser.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert csrf is not None
    form = {"username": "ops", "password": "a long enough password", "csrf_token": csrf.group(1)}
    assert world.browser.post("/login", data=form).status_code == 303

    page = world.browser.get("/incidents")
    assert "Opened from users' reports alone: nobody has been told." in page.text
    session_csrf = re.search(
        rf'action="/incidents/{incident.id}/confirm".*?name="csrf_token" value="([^"]+)"', page.text, re.S
    )
    assert session_csrf is not None
    done = world.browser.post(f"/incidents/{incident.id}/confirm", data={"csrf_token": session_csrf.group(1)})
    assert done.status_code == 303
    [confirmed] = world.incidents("app")
    assert (confirmed.updates[-1].kind, confirmed.updates[-1].author) == ("confirmed", "ops")
    assert "Confirm and notify" not in world.browser.get("/incidents").text
