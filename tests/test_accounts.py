"""Accounts as people and scripts meet them: logging in and out through the real app,
CSRF on every form, rate-limited logins, API tokens, the TOTP second factor, `ronda user`
and the admin of the first start."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from argon2 import PasswordHasher

from ronda.config.schema import Config
from ronda.errors import ServiceError
from ronda.service.first_admin import create_first_admin
from ronda.storage.accounts import Accounts
from ronda.storage.database import Database
from ronda.storage.models import UserRow
from ronda.web.app import create_app
from ronda.web.context import WebContext
from ronda.web.ratelimit import FailureLimiter
from tests.support import die_with_parent, free_port, wait_for

TOKEN = "config-token-0123456789"
PASSWORD = "correct horse battery"


class Browser:
    """One browser: cookies kept from answer to answer, over the real app in-process."""

    def __init__(self, app: Any, address: str = "127.0.0.1", base_url: str = "http://ronda.test") -> None:
        self._loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        self.client = httpx.AsyncClient(transport=transport, base_url=base_url)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self.client.request(method, path, **kwargs))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def close(self) -> None:
        self._loop.run_until_complete(self.client.aclose())
        self._loop.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Database]:
    store = Database(f"sqlite:///{tmp_path / 'ronda.db'}")
    store.accounts.add_user("alice", PASSWORD)
    yield store
    store.close()


@pytest.fixture
def browser(store: Database) -> Iterator[Callable[..., Browser]]:
    """browser(address=..., base_url=..., config=...): a new browser on one app per config."""
    opened: list[Browser] = []
    apps: dict[int, Any] = {}

    def open_browser(address: str = "127.0.0.1", base_url: str = "http://ronda.test", config: Config | None = None):
        key = id(config)
        if key not in apps:
            apps[key] = create_app(WebContext(store, TOKEN, config=config or Config()))
        opened.append(Browser(apps[key], address, base_url))
        return opened[-1]

    yield open_browser
    for each in opened:
        each.close()


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def log_in(browser: Browser, username: str = "alice", password: str = PASSWORD, next: str = "/") -> httpx.Response:
    csrf = csrf_of(browser.get("/login"))
    return browser.post("/login", data={"username": username, "password": password, "csrf_token": csrf, "next": next})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- logging in and out ------------------------------------------------------------------


def test_a_user_logs_in_reads_the_account_page_and_logs_out(browser):
    alice = browser()
    assert alice.get("/account").headers["location"] == "/login?next=/account"

    answer = log_in(alice, next="/account")
    assert answer.status_code == 303 and answer.headers["location"] == "/account"
    cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith("ronda_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie and "Secure" not in cookie

    page = alice.get("/account")
    assert page.status_code == 200 and "Signed in as <strong>alice</strong>" in page.text
    assert alice.get("/api/v1/me").json()["name"] == "alice"

    assert alice.post("/logout", data={"csrf_token": csrf_of(page)}).headers["location"] == "/login"
    assert alice.get("/account").status_code == 303
    assert alice.get("/api/v1/me").status_code == 401


@pytest.mark.parametrize(
    ("base_url", "public_url", "secure"),
    [
        ("https://ronda.test", None, True),
        ("http://ronda.test", "https://status.example/", True),
        ("http://ronda.test", "http://status.example/", False),
    ],
    ids=["reached over https", "behind https named by server.public_url", "plain http"],
)
def test_the_cookies_are_secure_whenever_ronda_is_reached_over_https(browser, base_url, public_url, secure):
    config = Config.model_validate({"server": {"public_url": public_url}} if public_url else {})
    visitor = browser(base_url=base_url, config=config)
    assert ("Secure" in visitor.get("/login").headers["set-cookie"]) is secure
    if base_url.startswith("https"):
        assert "Secure" in log_in(visitor).headers["set-cookie"]


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong password"), ("nobody", PASSWORD)],
    ids=["a wrong password", "an unknown user"],
)
def test_a_failed_login_says_the_same_whatever_was_wrong_and_opens_nothing(browser, username, password):
    alice = browser()
    answer = log_in(alice, username, password)
    assert answer.status_code == 401
    assert "Wrong user name or password." in answer.text
    assert "ronda_session" not in answer.headers.get("set-cookie", "")
    assert alice.get("/account").status_code == 303


@pytest.mark.parametrize(
    ("attempts", "last"),
    [
        ([("10.0.0.1", "alice")] * 5, ("10.0.0.1", "alice")),
        ([("10.0.0.1", f"user{i}") for i in range(20)], ("10.0.0.1", "alice")),
    ],
    ids=["five failures for a user from one address block it there", "twenty failures from one address block it"],
)
def test_failed_logins_in_five_minutes_are_answered_429_with_retry_after(browser, attempts, last):
    for address, username in attempts:
        assert log_in(browser(address=address), username, "wrong password").status_code == 401
    blocked = log_in(browser(address=last[0]), last[1], PASSWORD)  # even the right password
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["retry-after"]) <= 300
    assert "Too many failed attempts" in blocked.text


def test_failures_from_strangers_never_lock_the_owner_out_of_their_own_address(browser):
    for i in range(1, 11):
        assert log_in(browser(address=f"10.0.0.{i}"), "alice", "guess").status_code == 401
    assert log_in(browser(address="192.0.2.7"), "alice", PASSWORD).status_code == 303


def test_another_address_and_user_may_still_log_in_while_one_is_blocked(browser):
    for _ in range(5):
        log_in(browser(address="10.0.0.9"), "mallory", "guess")
    assert log_in(browser(address="10.0.0.10"), "alice", PASSWORD).status_code == 303
    assert log_in(browser(address="10.0.0.9"), "alice", PASSWORD).status_code == 303  # another user, same address


@pytest.mark.parametrize(
    ("window_passed", "blocked"),
    [(299.0, True), (300.0, False)],
    ids=["within the window the key stays blocked", "once the oldest failure leaves the window it may try again"],
)
def test_the_limiter_counts_failures_in_a_sliding_window(window_passed, blocked):
    now = [1000.0]
    limiter = FailureLimiter(limit=5, window=300.0, clock=lambda: now[0])
    for _ in range(5):
        limiter.failed("addr:10.0.0.1")
    now[0] += window_passed
    assert bool(limiter.retry_after("addr:10.0.0.1")) is blocked


@pytest.mark.parametrize(
    ("next_url", "location"),
    [
        ("/monitors/shop?x=1", "/monitors/shop?x=1"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/\r\nSet-Cookie: x=1", "/"),
    ],
    ids=[
        "a local path is followed",
        "another site's URL is refused",
        "a scheme-relative URL is refused",
        "a backslash trick is refused",
        "a javascript URL is refused",
        "a header injection is refused",
    ],
)
def test_after_login_only_a_local_path_is_followed(browser, next_url, location):
    assert log_in(browser(), next=next_url).headers["location"] == location


# -- CSRF ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cookie", "field"),
    [(False, False), (False, True), (True, False)],
    ids=["neither cookie nor field", "a field without the browser's cookie", "the cookie without the field"],
)
def test_a_login_form_without_its_csrf_token_is_refused_as_expired(browser, cookie, field):
    token = csrf_of(browser().get("/login"))  # someone's valid token, e.g. an attacker's own
    victim = browser()
    if cookie:
        victim.get("/login")
    data = {"username": "alice", "password": PASSWORD} | ({"csrf_token": token} if field else {})
    answer = victim.post("/login", data=data, headers={"Accept": "text/html"})
    assert answer.status_code == 403
    assert "This form has expired" in answer.text and "reload the page" in answer.text
    assert victim.get("/account").status_code == 303


def test_a_second_step_without_its_pending_login_is_refused_as_expired(browser):
    answer = browser().post("/login/totp", data={"code": "123456", "csrf_token": "x"}, headers={"Accept": "text/html"})
    assert answer.status_code == 403 and "This form has expired" in answer.text


def test_a_dashboard_form_without_the_sessions_csrf_token_is_refused(browser):
    alice = browser()
    log_in(alice)
    for data in ({"name": "job"}, {"name": "job", "csrf_token": "forged"}):
        answer = alice.post("/account/tokens", data=data, headers={"Accept": "text/html"})
        assert answer.status_code == 403 and "This form has expired" in answer.text
    assert "No tokens yet." in alice.get("/account").text


def test_a_sessions_unsafe_api_call_needs_the_csrf_header(browser):
    alice = browser()
    log_in(alice)
    refused = alice.post("/api/v1/tokens", json={"name": "job"})
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]

    csrf = csrf_of(alice.get("/account"))
    created = alice.post("/api/v1/tokens", json={"name": "job"}, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201 and created.json()["user"] == "alice"
    assert alice.get("/api/v1/tokens").status_code == 200  # reading needs no CSRF token


# -- API tokens ----------------------------------------------------------------------------


def test_an_api_token_is_shown_once_opens_the_api_and_is_refused_once_revoked(browser):
    script = browser()
    created = script.post("/api/v1/tokens", json={"name": "backup job"}, headers=bearer(TOKEN))
    assert created.status_code == 201
    secret, token_id = created.json()["token"], created.json()["id"]
    assert secret.startswith(created.json()["prefix"])

    assert script.get("/api/v1/monitors", headers=bearer(secret)).status_code == 200
    listed = script.get("/api/v1/tokens", headers=bearer(secret)).json()
    assert [t["name"] for t in listed] == ["backup job"] and "token" not in listed[0]
    assert listed[0]["last_used_at"] is not None

    assert script.request("DELETE", f"/api/v1/tokens/{token_id}", headers=bearer(TOKEN)).status_code == 204
    refused = script.get("/api/v1/monitors", headers=bearer(secret))
    assert refused.status_code == 401
    assert script.get("/api/v1/tokens", headers=bearer(TOKEN)).json()[0]["revoked_at"] is not None


def test_a_user_creates_and_revokes_a_token_on_the_account_page(browser):
    alice = browser()
    log_in(alice)
    page = alice.post("/account/tokens", data={"name": "laptop", "csrf_token": csrf_of(alice.get("/account"))})
    secret = re.search(r"<code class=\"secret\">(ronda_[^<]+)</code>", page.text).group(1)
    assert "it is shown this once" in page.text
    assert alice.get("/api/v1/me", headers=bearer(secret)).json() == {
        "name": "alice", "via": "api_token", "role": "viewer", "admin": False, "user_id": 1, "totp": False,
    }  # fmt: skip

    again = alice.get("/account").text
    assert secret not in again and secret[:12] in again
    token_id = re.search(r'action="/account/tokens/(\d+)/revoke"', again).group(1)
    done = alice.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf_of(alice.get("/account"))})
    assert done.headers["location"] == "/account?done=revoked"
    assert alice.get("/api/v1/me", headers=bearer(secret)).status_code == 401


def test_a_user_cannot_revoke_someone_elses_token(store, browser):
    store.accounts.add_user("bob", PASSWORD)
    secret, token = store.accounts.create_token("bob's job", 2)
    alice = browser()
    log_in(alice)
    answer = alice.request(
        "DELETE", f"/api/v1/tokens/{token.id}", headers={"X-CSRF-Token": csrf_of(alice.get("/account"))}
    )
    assert answer.status_code == 404
    assert alice.get("/api/v1/me", headers=bearer(secret)).json()["name"] == "bob"


# -- TOTP ----------------------------------------------------------------------------------


def enrol_totp(alice: Browser) -> pyotp.TOTP:
    started = alice.post("/account/totp/start", data={"csrf_token": csrf_of(alice.get("/account"))})
    secret = re.search(r'name="secret" value="([A-Z2-7]+)"', started.text).group(1)
    assert "otpauth://totp/ronda:alice?secret=" + secret in started.text
    totp = pyotp.TOTP(secret)
    wrong = alice.post(
        "/account/totp/confirm", data={"csrf_token": csrf_of(started), "secret": secret, "code": "000000"}
    )
    assert wrong.status_code == 400 and "does not match" in wrong.text
    done = alice.post(
        "/account/totp/confirm", data={"csrf_token": csrf_of(started), "secret": secret, "code": totp.now()}
    )
    assert done.headers["location"] == "/account?done=totp-on"
    return totp


def test_with_totp_a_login_needs_a_code_and_a_used_code_is_refused(browser):
    alice = browser()
    log_in(alice)
    totp = enrol_totp(alice)
    alice.post("/logout", data={"csrf_token": csrf_of(alice.get("/account"))})

    step = log_in(alice, next="/account")
    assert step.status_code == 200 and "Code from your authenticator app" in step.text
    assert alice.get("/account").status_code == 303  # the password alone opens nothing
    assert alice.get("/api/v1/me").status_code == 401

    code = totp.at(time.time() + 30)  # the next step's code: the current one was spent on enrolling
    form = {"csrf_token": csrf_of(step), "next": "/account"}
    assert alice.post("/login/totp", data=form | {"code": "000000"}).status_code == 401
    assert alice.post("/login/totp", data=form | {"code": code}).headers["location"] == "/account"
    assert alice.get("/api/v1/me").json()["totp"] is True

    other = browser(address="127.0.0.2")
    replay = other.post("/login/totp", data={"csrf_token": csrf_of(log_in(other)), "code": code})
    assert replay.status_code == 401 and "used already" in replay.text


def test_turning_totp_off_needs_a_current_code(browser):
    alice = browser()
    log_in(alice)
    totp = enrol_totp(alice)
    refused = alice.post("/account/totp/disable", data={"csrf_token": csrf_of(alice.get("/account")), "code": "1"})
    assert refused.status_code == 400
    code = totp.at(time.time() + 30)
    done = alice.post("/account/totp/disable", data={"csrf_token": csrf_of(alice.get("/account")), "code": code})
    assert done.headers["location"] == "/account?done=totp-off"
    assert "Off: a password alone logs in." in alice.get("/account").text


# -- passwords -----------------------------------------------------------------------------


def test_a_hash_made_with_older_parameters_is_replaced_at_the_next_login(store):
    weak = PasswordHasher(time_cost=1, memory_cost=8192)
    Accounts(store.accounts._sessions, hasher=weak).add_user("old", PASSWORD)  # hashed by an older ronda
    accounts = store.accounts
    assert accounts.authenticate("old", PASSWORD) is not None
    with store.engine.connect() as connection:
        stored = connection.execute(UserRow.__table__.select().where(UserRow.username == "old")).one().password_hash
    assert not accounts.hasher.check_needs_rehash(stored) and stored.startswith("$argon2id$")


# -- ronda user and the first start -------------------------------------------------------


def ronda(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ronda", *args], input=stdin, capture_output=True, text=True, env=env, timeout=60
    )


def test_ronda_user_add_then_the_user_logs_in(tmp_path, browser):
    config = tmp_path / "ronda.yaml"
    config.write_text(f"storage: sqlite:///{tmp_path / 'ronda.db'}\n")
    added = ronda("user", "add", "carol", "--admin", "--password-stdin", "--config", str(config), stdin="s3cret-pass\n")
    assert added.returncode == 0, added.stderr + added.stdout
    assert "added the admin carol" in added.stdout
    assert ronda("user", "add", "carol", "--config", str(config), stdin="other-pass\n").returncode == 3

    listing = ronda("user", "list", "--config", str(config)).stdout
    assert re.search(r"^alice\tviewer\t-\t", listing, re.M) and re.search(r"^carol\tadmin\t-\t", listing, re.M)

    answer = log_in(browser(), "carol", "s3cret-pass")
    assert answer.status_code == 303
    changed = ronda("user", "passwd", "carol", "--config", str(config), stdin="n3w-password\n")
    assert changed.returncode == 0 and "their sessions have ended" in changed.stdout
    assert log_in(browser(address="10.1.0.1"), "carol", "s3cret-pass").status_code == 401
    assert log_in(browser(address="10.1.0.2"), "carol", "n3w-password").status_code == 303


def test_a_first_start_that_cannot_hand_the_password_over_makes_no_admin(tmp_path):
    """A folder ronda may not write (the config's, under systemd's ProtectSystem=strict) and no
    terminal: a clear error, and no admin whose password nobody could ever read."""
    store = Database(f"sqlite:///{tmp_path / 'first.db'}")
    missing = tmp_path / "not-there"  # as unwritable as a read-only folder, for root too
    try:
        with pytest.raises(ServiceError, match=r"cannot write it to .*not-there/ronda-admin-password"):
            create_first_admin(store, env={}, folder=missing, terminal=None)
        assert not store.accounts.has_users()
        assert create_first_admin(store, env={"RONDA_ADMIN_PASSWORD": "a long passphrase"}, folder=missing)
    finally:
        store.close()


def test_ronda_user_add_refuses_a_short_password(tmp_path):
    short = ronda("user", "add", "dan", "--storage", f"sqlite:///{tmp_path / 'r.db'}", stdin="short\n")
    assert short.returncode == 3 and "at least 8 characters" in short.stdout


@pytest.mark.parametrize("on_a_terminal", [False, True], ids=["no terminal: a 0600 file", "on a terminal"])
def test_the_first_start_creates_admin_with_a_random_password_handed_over_never_logged(tmp_path, caplog, on_a_terminal):
    store = Database(f"sqlite:///{tmp_path / 'first.db'}")
    leader, follower = os.openpty()
    terminal = os.fdopen(follower, "w") if on_a_terminal else None
    try:
        with caplog.at_level(logging.INFO, logger="ronda"):
            assert create_first_admin(store, env={}, folder=tmp_path, terminal=terminal) is True
            assert create_first_admin(store, env={}, folder=tmp_path, terminal=terminal) is False  # users exist
        file = tmp_path / "ronda-admin-password"
        if on_a_terminal:
            shown = os.read(leader, 4096).decode()
            assert not file.exists()
            password = shown.strip().rsplit(" ", 1)[1]
        else:
            assert file.stat().st_mode & 0o777 == 0o600
            password = file.read_text().strip()
        assert store.accounts.authenticate("admin", password) is not None
        logged = " ".join(record.getMessage() for record in caplog.records)
        assert "created the user admin with a random password" in logged
        assert password not in logged
    finally:
        store.close()
        if terminal is not None:
            terminal.close()
        else:
            os.close(follower)
        os.close(leader)


def test_ronda_run_creates_admin_from_the_environment_and_it_logs_in(tmp_path):
    port = free_port()
    config = tmp_path / "ronda.yaml"
    config.write_text(
        f"server:\n  listen: 127.0.0.1:{port}\n  token: {TOKEN}\n"
        f"storage: sqlite:///{tmp_path / 'run.db'}\ncanaries: []\nmonitors: []\n"
    )
    env = {**os.environ, "RONDA_ADMIN_PASSWORD": "first-start-password"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ronda", "run", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, preexec_fn=die_with_parent,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/healthz").status_code == 200
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                return False

        wait_for("ronda run", healthy)
        with httpx.Client(base_url=base) as client:
            csrf = csrf_of(client.get("/login"))
            form = {"username": "admin", "password": "first-start-password", "csrf_token": csrf}
            assert client.post("/login", data=form).status_code == 303
            assert client.get("/api/v1/me").json()["admin"] is True
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "created the user admin with the password from RONDA_ADMIN_PASSWORD" in " ".join(out.split())
    assert "first-start-password" not in out


# -- the API's description -----------------------------------------------------------------


def test_the_account_api_is_described_with_examples(browser):
    """tests/test_openapi.py holds every route to a summary and examples; here, that the
    token routes are there and the example of a new token shows its secret."""
    schema = browser().get("/api/openapi.json").json()
    assert {"get", "post"} <= schema["paths"]["/api/v1/tokens"].keys()
    assert "delete" in schema["paths"]["/api/v1/tokens/{token_id}"]
    assert "get" in schema["paths"]["/api/v1/me"]
    assert schema["components"]["schemas"]["TokenCreated"]["examples"][0]["token"].startswith("ronda_")
