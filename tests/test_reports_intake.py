"""POST /api/v1/reports through the real app and a real store: the status page's form with
its double-submit token, JSON from scripts, validation naming the field, and reporters kept
only as a daily-salted hash."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from ronda.storage.public import PublicRecords
from ronda.storage.store import Store
from ronda.web.reports import DailySalt, ReportIn, ReportIntake
from tests.status_support import VISITOR, Browser, config, fill

FORM = {"service": "shop", "problem": "cannot_connect", "region": "Milano", "comment": "the checkout hangs"}


@pytest.fixture
def db(tmp_path):
    return tmp_path / "r.db"


@pytest.fixture
def store(db):
    store = Store(f"sqlite:///{db}")
    fill(store, datetime.now(UTC))
    yield store
    store.close()


@pytest.fixture
def browser(store):
    return Browser(store, config())


def reports(store: Store) -> list[dict]:
    return PublicRecords(store.engine).reports()


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
    assert (report["service"], report["problem"], report["region"], report["comment"]) == (
        "shop",
        "cannot_connect",
        "Milano",
        "the checkout hangs",
    )
    assert re.fullmatch(r"[0-9a-f]{64}", report["reporter_hash"])
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
    assert (report["region"], report["comment"]) == ("", None)


def test_a_json_report_is_accepted_202_without_a_token(browser, store):
    response = browser.post("/api/v1/reports", json={"service": "api", "region": "Roma", "problem": "slow"})
    assert response.status_code == 202 and response.json() == {"accepted": True}
    assert [(r["service"], r["region"], r["problem"], r["comment"]) for r in reports(store)] == [
        ("api", "Roma", "slow", None)
    ]


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


def test_the_reporter_hash_is_stable_within_a_day_and_changes_the_next():
    salt = DailySalt()
    day = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    first = salt.hash("198.51.100.7", day)
    assert salt.hash("198.51.100.7", day + timedelta(hours=10)) == first, "one person, one day: one reporter"
    assert salt.hash("198.51.100.8", day) != first
    assert salt.hash("198.51.100.7", day + timedelta(days=1)) != first, "and not followed into the next day"


def test_a_gate_can_refuse_a_report_before_it_is_stored(store):
    """The seam rate limits and surge detection will use."""
    seen: list[tuple[str, str]] = []

    def gate(report: ReportIn, reporter: str, now: datetime) -> str | None:
        seen.append((report.service, reporter))
        return "too many reports" if len(seen) > 1 else None

    intake = ReportIntake(PublicRecords(store.engine), gate=gate)
    report = ReportIn(service="shop", problem="slow")
    now = datetime.now(UTC)
    assert intake.receive(report, "198.51.100.7", now) is None
    assert intake.receive(report, "198.51.100.7", now) == "too many reports"
    assert len(reports(store)) == 1 and seen[0][1] == seen[1][1]
