"""POST /api/v1/reports through the real app and a real store: the status page's form with
its double-submit token, JSON from scripts, validation naming the field, regions and
comments made plain, one report per reporter per service per window, rate limits per source
and for everyone, retention, and reporters kept only as a daily-salted hash."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ronda.records import Report, StoredReport
from ronda.storage.database import Database
from ronda.web.reports import DailySalt
from ronda.web.templating import make_templates
from tests.status_support import VISITOR, Browser, config, fill

FORM = {"service": "shop", "problem": "cannot_connect", "region": "Milano", "comment": "the checkout hangs"}


@pytest.fixture
def db(tmp_path):
    return tmp_path / "r.db"


def _filled(url: str) -> Iterator[Database]:
    store = Database(url)
    fill(store, datetime.now(UTC))
    yield store
    store.close()


@pytest.fixture
def store(db):
    yield from _filled(f"sqlite:///{db}")


@pytest.fixture
def store_on_each_store(store_url):
    """A store on SQLite and on PostgreSQL, for the tests of what the intake reads back."""
    yield from _filled(store_url)


@pytest.fixture
def browser(store):
    return Browser(store, config())


class Clock:
    """The intake's wall clock, moved by the test."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def clocked(store: Database, **reports_settings: object) -> tuple[Browser, Clock]:
    clock = Clock(START)
    return Browser(store, config(reports=reports_settings), clock=clock), clock


def send(browser: Browser, service: str = "shop", **fields: str):
    return browser.post("/api/v1/reports", json={"service": service, "problem": "slow", **fields})


def reports(store: Database) -> list[StoredReport]:
    return store.reports.latest()


def form_token(browser: Browser) -> str:
    """Open the status page, as a visitor does, and read the form's hidden token."""
    found = re.search(r'name="form_token" value="([^"]+)"', browser.get("/status/public").text)
    assert found is not None
    return found.group(1)


def test_a_form_post_with_its_token_is_stored_with_a_hashed_reporter_and_thanked(browser, store, db):
    token = form_token(browser)
    response = browser.post("/api/v1/reports", data=FORM | {"form_token": token, "page": "public"})
    assert response.status_code == 303
    assert response.headers["location"] == "/status/public?report=thanks#report"
    [report] = reports(store)
    assert (report.service, report.problem, report.region, report.comment) == (
        "shop",
        "cannot_connect",
        "IT-MI",
        "the checkout hangs",
    )
    assert re.fullmatch(r"[0-9a-f]{64}", report.reporter_hash)
    dump = "\n".join(sqlite3.connect(db).iterdump())
    assert VISITOR not in dump, "the visitor's address is stored nowhere"
    thanks = browser.get("/status/public?report=thanks")
    assert "Thank you: your report was received." in thanks.text
    italian = browser.get("/status/public?report=thanks", headers={"Accept-Language": "it"})
    assert "Grazie: abbiamo ricevuto la tua segnalazione." in italian.text


@pytest.mark.parametrize(
    ("cookie", "field"),
    [
        ("page", None),
        (None, "page"),
        ("page", "other"),
        ("forged", "forged"),
    ],
    ids=[
        "without the hidden field",
        "without the cookie (a cross-site post)",
        "with a field that is not the cookie's value",
        "with a cookie and field made up together (not signed by ronda)",
    ],
)
def test_a_form_post_without_a_matching_token_is_refused_403_and_stores_nothing(browser, store, cookie, field):
    token = form_token(browser)
    values = {"page": token, "other": token[::-1], "forged": "abc.0123456789abcdef0123456789abcdef"}
    browser.cookies.clear()
    if cookie is not None:
        browser.cookies.set("ronda_report", values[cookie], domain="ronda.test")
    data = FORM | ({"form_token": values[field]} if field else {})
    response = browser.post("/api/v1/reports", data=data)
    assert response.status_code == 403
    assert "reload the page" in response.text
    assert reports(store) == []


def test_a_form_post_with_a_wrong_field_goes_back_saying_which(browser, store):
    token = form_token(browser)
    response = browser.post(
        "/api/v1/reports", data=FORM | {"form_token": token, "page": "public", "comment": "x" * 501}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/status/public?report=invalid&field=comment#report"
    assert "please check the field “comment”" in browser.get(response.headers["location"]).text
    assert reports(store) == []


def test_a_form_post_leaves_empty_optional_fields_out(browser, store):
    token = form_token(browser)
    browser.post("/api/v1/reports", data=FORM | {"form_token": token, "region": "", "comment": "  "})
    [report] = reports(store)
    assert (report.region, report.comment) == ("", None)


def test_a_json_report_is_accepted_202_without_a_token(browser, store):
    response = browser.post("/api/v1/reports", json={"service": "api", "region": "Roma", "problem": "slow"})
    assert response.status_code == 202 and response.json() == {"accepted": True, "counted": True}
    assert [(r.service, r.region, r.problem, r.comment) for r in reports(store)] == [("api", "IT-RM", "slow", None)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"service": "shop", "problem": "on_fire"}, "problem"),
        ({"service": "shop"}, "problem"),
        ({"service": "secret", "problem": "slow"}, "service"),
        ({"service": "nobody", "problem": "slow"}, "service"),
        ({"service": "shop", "problem": "slow", "comment": "x" * 501}, "comment"),
        ({"service": "shop", "problem": "slow", "region": "r" * 65}, "region"),
        ({"service": "shop", "problem": "slow", "email": "a@b.test"}, "email"),
    ],
    ids=[
        "a problem not in the list",
        "no problem",
        "a service on no status page",
        "a service that does not exist",
        "a comment over 500 characters",
        "a region over 64 characters",
        "a field the contract does not have",
    ],
)
def test_an_invalid_report_is_422_naming_the_field(browser, store, body, field):
    response = browser.post("/api/v1/reports", json=body)
    assert response.status_code == 422
    assert ["body", field] in [error["loc"] for error in response.json()["detail"]]
    assert reports(store) == []


def test_a_post_that_is_neither_json_nor_a_form_is_415_and_broken_json_422(browser, store):
    plain = browser.post("/api/v1/reports", content=b'{"service": "shop"}', headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415
    broken = browser.post("/api/v1/reports", content=b"{", headers={"Content-Type": "application/json"})
    assert broken.status_code == 422 and broken.json()["detail"][0]["loc"] == ["body"]
    huge = browser.post("/api/v1/reports", json={"service": "shop", "problem": "slow", "comment": "x" * 5000})
    assert huge.status_code == 413
    assert reports(store) == []


@pytest.mark.parametrize("kind", ["application/json; charset=utf-8", "Application/JSON"])
def test_json_with_a_charset_or_in_capitals_is_a_report_like_any_other(browser, store, kind):
    body = json.dumps({"service": "api", "problem": "slow"}).encode()
    response = browser.post("/api/v1/reports", content=body, headers={"Content-Type": kind})
    assert response.status_code == 202 and response.json() == {"accepted": True, "counted": True}
    assert response.headers["content-type"] == "application/json"
    assert [r.service for r in reports(store)] == ["api"]


def test_a_refused_json_report_says_why_as_the_api_does_everywhere(browser, store):
    """JSON reports are answered in front of FastAPI's router (ronda/web/report_lane.py):
    their refusals are FastAPI's own shapes, `{"detail": ...}`, and a 422 names the field."""
    huge = browser.post("/api/v1/reports", json={"service": "shop", "problem": "slow", "comment": "x" * 5000})
    assert huge.json() == {"detail": "a report is at most 4096 bytes"}
    wrong = browser.post("/api/v1/reports", json={"service": "shop", "problem": "on_fire"})
    assert wrong.status_code == 422
    [error] = wrong.json()["detail"]
    assert error["loc"] == ["body", "problem"] and error["type"] == "literal_error"
    assert error["msg"].startswith("Input should be 'cannot_connect', 'cannot_login'")
    assert reports(store) == []


def test_json_reports_and_the_forms_posts_count_against_the_same_limits(store):
    browser, _ = clocked(store, per_source=2, per_source_period="5m")
    token = form_token(browser)
    assert send(browser, "api").status_code == 202
    assert browser.post("/api/v1/reports", data=FORM | {"form_token": token, "page": "public"}).status_code == 303
    refused_json = send(browser, "slow")
    refused_form = browser.post("/api/v1/reports", data=FORM | {"form_token": token, "page": "public"})
    assert (refused_json.status_code, refused_form.status_code) == (429, 429)
    assert refused_json.headers["retry-after"] == refused_form.headers["retry-after"] == "300"
    assert sorted(r.service for r in reports(store)) == ["api", "shop"]


def test_the_reporter_hash_is_stable_within_a_day_and_changes_the_next():
    salt = DailySalt()
    day = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    first = salt.hash("198.51.100.7", day)
    assert salt.hash("198.51.100.7", day + timedelta(hours=10)) == first, "one person, one day: one reporter"
    assert salt.hash("198.51.100.8", day) != first
    assert salt.hash("198.51.100.7", day + timedelta(days=1)) != first, "and not followed into the next day"


@pytest.mark.parametrize(
    ("written", "stored"),
    [("us-ca", "US-CA"), ("Italia", "IT"), ("Georgia", "GE"), ("milano town  ", "Milano Town"), ("  ", "")],
)
def test_the_region_is_stored_as_its_iso_code_or_as_plain_text(browser, store, written, stored):
    assert send(browser, region=written).status_code == 202
    assert [r.region for r in reports(store)] == [stored]


def test_a_comment_is_stored_plain_and_html_escaped_and_shown_escaped_once(browser, store):
    written = 'Checkout <script>alert("x")</script> & co\x00\u202e\r\n\r\n\r\n\r\nstill \t  broken'
    assert send(browser, comment=written).status_code == 202
    [report] = reports(store)
    assert report.comment == ("Checkout &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co\n\nstill broken"), (
        "controls and bidi overrides gone, spaces and blank lines collapsed, HTML escaped"
    )
    shown = make_templates().env.from_string("<p>{{ comment|report_comment }}</p>").render(comment=report.comment)
    assert shown == "<p>Checkout &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co\n\nstill broken</p>"


def test_a_comment_of_only_spaces_and_controls_is_no_comment(browser, store):
    assert send(browser, comment=" \x00\x07 \u200b ").status_code == 202
    assert [r.comment for r in reports(store)] == [None]


def test_a_lone_surrogate_is_422_naming_the_field_not_a_server_error(browser, store):
    body = json.dumps({"service": "shop", "problem": "slow", "comment": "broken \ud800"})  # as JSON may write it
    response = browser.post("/api/v1/reports", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and ["body", "comment"] in [e["loc"] for e in response.json()["detail"]]
    assert reports(store) == []


def test_a_repeat_within_the_window_is_not_counted_and_after_it_is(store_on_each_store):
    store = store_on_each_store
    browser, clock = clocked(store, window="1h")
    assert send(browser).json() == {"accepted": True, "counted": True}
    clock.advance(minutes=40)
    repeat = send(browser, region="Milano", comment="still down")
    assert repeat.status_code == 202
    assert repeat.json() == {
        "accepted": True,
        "counted": False,
        "detail": "already counted: one report per service counts from each reporter in 1 h",
    }
    assert send(browser, "api").json()["counted"] is True, "another service counts on its own"
    assert [r.service for r in reports(store)] == ["api", "shop"], "the repeat was not stored"
    clock.advance(minutes=21)  # 61 minutes after the counted one
    assert send(browser).json()["counted"] is True
    assert [r.service for r in reports(store)] == ["shop", "api", "shop"]


def test_a_repeat_over_midnight_is_still_the_same_reporter(store_on_each_store):
    """The salt changes at midnight; the dedupe look-up still knows yesterday's hash."""
    store = store_on_each_store
    browser, clock = clocked(store, window="1h")
    clock.at = datetime(2026, 12, 1, 23, 50, tzinfo=UTC)
    assert send(browser).json()["counted"] is True
    clock.at = datetime(2026, 12, 2, 0, 10, tzinfo=UTC)
    assert send(browser).json()["counted"] is False
    clock.at = datetime(2026, 12, 2, 0, 51, tzinfo=UTC)
    assert send(browser).json()["counted"] is True
    [later, earlier] = reports(store)
    assert later.reporter_hash != earlier.reporter_hash, "stored, the two days are not linked"


def test_a_repeated_form_post_goes_back_saying_it_is_already_counted(store):
    browser, _ = clocked(store)
    token = form_token(browser)
    first = browser.post("/api/v1/reports", data=FORM | {"form_token": token, "page": "public"})
    assert first.headers["location"] == "/status/public?report=thanks#report"
    again = browser.post("/api/v1/reports", data=FORM | {"form_token": token, "page": "public"})
    assert again.status_code == 303
    assert again.headers["location"] == "/status/public?report=counted#report"
    page = browser.get(again.headers["location"])
    assert "Thank you: your earlier report about this service is already counted." in page.text
    italian = browser.get(again.headers["location"], headers={"Accept-Language": "it"})
    assert "Grazie: la tua segnalazione precedente per questo servizio è già conteggiata." in italian.text
    assert len(reports(store)) == 1


def test_a_flood_from_one_source_gets_429_with_retry_after_while_others_get_through(store):
    browser, clock = clocked(store, per_source=3, per_source_period="10m")
    for service in ("shop", "api", "shop"):  # a repeat is a post like any other
        assert send(browser, service).status_code == 202
        clock.advance(minutes=1)
    refused = send(browser, "slow")
    assert refused.status_code == 429
    assert refused.json() == {
        "accepted": False,
        "counted": False,
        "detail": "too many reports from your address: at most 3 in 10 min",
    }
    assert refused.headers["retry-after"] == str(7 * 60), "when the first of the three leaves the window"
    browser.address = "198.51.100.9"
    assert send(browser, "slow").json()["counted"] is True, "another source is not held back"
    browser.address = VISITOR
    clock.advance(seconds=7 * 60)
    assert send(browser, "slow").json()["counted"] is True, "after Retry-After the source is heard again"
    assert sorted(r.service for r in reports(store)) == ["api", "shop", "slow", "slow"]


def test_one_ipv6_network_is_one_source_and_one_reporter(store):
    browser, _ = clocked(store, per_source=2)
    browser.address = "2001:db8:5:6::1"
    assert send(browser).json()["counted"] is True
    browser.address = "2001:db8:5:6:aaaa:bbbb:cccc:dddd"  # the same home, another made-up address
    assert send(browser).json()["counted"] is False, "the same reporter"
    assert send(browser, "api").status_code == 429, "the same source"
    browser.address = "2001:db8:5:7::1"  # the next network
    assert send(browser, "api").json()["counted"] is True


def test_the_report_forms_post_over_the_limit_is_a_429_page_in_the_visitors_language(store):
    browser, _ = clocked(store, per_source=1, per_source_period="5m")
    token = form_token(browser)
    browser.post("/api/v1/reports", data=FORM | {"form_token": token, "page": "public"})
    refused = browser.post(
        "/api/v1/reports",
        data=FORM | {"form_token": token, "page": "public"},
        headers={"Accept-Language": "it"},
    )
    assert refused.status_code == 429 and refused.headers["retry-after"] == "300"
    assert refused.headers["content-type"].startswith("text/html")
    assert "in questo momento arrivano troppe segnalazioni. Riprova tra 5 minuti." in refused.text
    assert 'href="/status/public"' in refused.text
    english = browser.post("/api/v1/reports", data=FORM | {"form_token": token, "page": "public"})
    assert english.status_code == 429
    assert "too many reports are arriving right now. Please try again in 5 minutes." in english.text
    assert len(reports(store)) == 1


def test_the_global_cap_refuses_everyone_with_retry_after(store):
    browser, clock = clocked(store, global_per_minute=3, per_source=100)
    for i in range(3):
        browser.address = f"198.51.100.{i + 1}"
        assert send(browser).status_code == 202
        clock.advance(seconds=10)
    for address in ("198.51.100.1", "198.51.100.50", "2001:db8::1"):
        browser.address = address
        refused = send(browser, "api")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "30"
        assert refused.json()["detail"] == "too many reports right now: at most 3 a minute"
    clock.advance(seconds=30)
    assert send(browser, "api").json()["counted"] is True
    assert len(reports(store)) == 4


def test_a_post_the_global_cap_refused_does_not_count_against_its_source(store):
    browser, clock = clocked(store, global_per_minute=2, per_source=2)
    for address in ("198.51.100.1", "198.51.100.2"):
        browser.address = address
        assert send(browser).status_code == 202
    assert send(browser, "api").status_code == 429, "over the global cap: refused"
    clock.advance(seconds=60)
    assert send(browser, "api").json()["counted"] is True, "its source has one report in its window, not two"
    refused = send(browser, "slow")
    assert refused.json()["detail"] == "too many reports from your address: at most 2 in 10 min", "now it has two"


def test_the_raw_address_is_nowhere_in_the_database(store, db):
    browser, clock = clocked(store)
    addresses = [VISITOR, "198.51.100.23", "2001:db8:77:88::5"]
    for address in addresses:
        browser.address = address
        assert send(browser, region="Roma", comment="down for me").json()["counted"] is True
        clock.advance(minutes=1)
    stored = reports(store)
    assert len({r.reporter_hash for r in stored}) == 3
    store.close()
    raw = b"".join(path.read_bytes() for path in db.parent.iterdir() if path.name.startswith(db.name))
    for address in [*addresses, "2001:db8:77:88::/64", "2001:db8:77:88::"]:
        assert address.encode() not in raw, f"{address} is stored"
        assert address.encode("utf-16-le") not in raw


def test_reports_older_than_keep_are_pruned_and_younger_ones_stay(store_on_each_store):
    store = store_on_each_store
    browser, clock = clocked(store, keep="30d")

    def old(service: str, days: float) -> None:
        store.reports.save(Report(service, "", "slow", None, "f" * 64, clock.at - timedelta(days=days)))

    old("shop", 31)
    old("api", 29)
    assert send(browser, "slow").json()["counted"] is True
    assert sorted(r.service for r in reports(store)) == ["api", "slow"]
    old("partial", 45)
    clock.advance(minutes=10)
    send(browser, "db")
    assert "partial" in [r.service for r in reports(store)], "pruning runs at most once an hour"
    clock.advance(minutes=51)
    send(browser, "shop")
    assert sorted(r.service for r in reports(store)) == ["api", "db", "shop", "slow"]


@pytest.mark.parametrize(
    ("settings", "field", "message"),
    [
        ({"window": "2d"}, "window", "at most 1d"),
        ({"keep": "12h"}, "keep", "at least 1d"),
        ({"per_source": 0}, "per_source", "greater than or equal to 1"),
        ({"global_per_minute": "many"}, "global_per_minute", "valid integer"),
        ({"per_day": 3}, "per_day", "Extra inputs are not permitted"),
    ],
)
def test_bad_report_settings_are_config_errors_naming_the_key(settings, field, message):
    with pytest.raises(ValueError) as caught:
        config(reports=settings)
    [error] = caught.value.errors()  # type: ignore[attr-defined]
    assert error["loc"] == ("reports", field) and message in error["msg"]
