"""Roles as people meet them: every route of the app walked with no credentials and with a
viewer's, an editor's and an admin's, against a table of the least role each needs; a
route added without a line in the table fails here. Then what roles change: push secrets
hidden from viewers, tokens capped at their user's role, the admin's user management
through the API, the dashboard and `ronda user role`, and the migration that gave the
accounts of an older ronda their roles."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from ronda.config.schema import Config, parse_monitor
from ronda.storage.accounts import ROLES, Role
from ronda.storage.database import Database
from ronda.storage.db import migrate
from ronda.web.app import create_app
from ronda.web.context import WebContext
from tests.asgi import AppClient, http_scope
from tests.recorded import recorded_store
from tests.test_openapi import Operation, anonymous_request, filled_path, operations

TOKEN = "roles-config-token-0123"
PASSWORD = "correct horse battery"
PUBLIC = None
AGENT_ONLY = "agent"  # a probe agent's own routes: its token only, every person refused (401)

# The least role of each route: None for anyone (the public pages, the login, push URLs,
# users' reports). Keep it in step with the routers: a route missing here fails the walk.
MINIMUM: dict[tuple[str, str], Role | str | None] = {
    # public
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/api/openapi.json"): PUBLIC,
    ("GET", "/api/docs"): PUBLIC,
    ("GET", "/api/docs/assets"): PUBLIC,  # Swagger UI's own files
    ("GET", "/static"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/login/totp"): PUBLIC,
    ("POST", "/api/v1/reports"): PUBLIC,
    ("GET", "/status"): PUBLIC,
    ("GET", "/status/feed.atom"): PUBLIC,
    ("GET", "/status/summary.json"): PUBLIC,
    ("GET", "/status/badge.svg"): PUBLIC,
    ("GET", "/status/{slug}"): PUBLIC,
    ("GET", "/status/{slug}/feed.atom"): PUBLIC,
    ("GET", "/status/{slug}/summary.json"): PUBLIC,
    ("GET", "/status/{slug}/logo"): PUBLIC,
    ("GET", "/status/{slug}/badge.svg"): PUBLIC,
    # a failing browser check's screenshot, as the monitor's page and the API show it
    ("GET", "/monitors/{name}/screenshots/{shot_id}"): "viewer",
    ("GET", "/api/v1/monitors/{name}/screenshot"): "viewer",
    # a status page's subscriptions: the form, and the links in each subscriber's messages
    ("POST", "/status/{slug}/subscribe"): PUBLIC,
    ("GET", "/status/{slug}/subscription/{token}"): PUBLIC,
    ("POST", "/status/{slug}/subscription/{token}"): PUBLIC,
    ("POST", "/status/{slug}/subscription/{token}/unsubscribe"): PUBLIC,
    ("GET", "/badge/{monitor}/status.svg"): PUBLIC,
    ("GET", "/badge/{monitor}/uptime.svg"): PUBLIC,
    **{(method, f"/push/{{token}}{tail}"): PUBLIC for method in ("GET", "POST") for tail in ("", "/fail", "/start")},
    ("GET", "/push/{token}/{exit_status}"): PUBLIC,
    ("POST", "/push/{token}/{exit_status}"): PUBLIC,
    # a viewer reads
    ("GET", "/api/v1/monitors"): "viewer",
    ("GET", "/api/v1/monitors/{name}"): "viewer",
    ("GET", "/api/v1/monitors/{name}/results"): "viewer",
    ("GET", "/api/v1/monitors/{name}/uptime"): "viewer",
    ("GET", "/api/v1/monitors/{name}/vantages"): "viewer",
    ("GET", "/api/v1/incidents"): "viewer",
    ("GET", "/api/v1/certificates"): "viewer",
    ("GET", "/api/v1/notifications"): "viewer",
    ("GET", "/api/v1/status"): "viewer",
    ("GET", "/api/v1/reports"): "viewer",
    ("GET", "/api/v1/surges"): "viewer",
    ("GET", "/api/v1/services/{name}/reports"): "viewer",
    ("GET", "/metrics"): "viewer",
    ("GET", "/"): "viewer",
    ("GET", "/fragments/board"): "viewer",
    ("GET", "/monitors/{name}"): "viewer",
    ("GET", "/fragments/monitors/{name}"): "viewer",
    ("GET", "/fragments/incidents"): "viewer",
    ("GET", "/certificates"): "viewer",
    ("GET", "/incidents"): "viewer",
    ("GET", "/live"): "viewer",
    # ... and keeps their own account: second factor, their own tokens (at most their role)
    ("POST", "/logout"): "viewer",
    ("GET", "/account"): "viewer",
    ("POST", "/account/tokens"): "viewer",
    ("POST", "/account/tokens/{token_id}/revoke"): "viewer",
    ("POST", "/account/totp/start"): "viewer",
    ("POST", "/account/totp/confirm"): "viewer",
    ("POST", "/account/totp/disable"): "viewer",
    ("GET", "/api/v1/me"): "viewer",
    ("GET", "/api/v1/tokens"): "viewer",
    ("POST", "/api/v1/tokens"): "viewer",
    ("PATCH", "/api/v1/tokens/{token_id}"): "viewer",
    ("DELETE", "/api/v1/tokens/{token_id}"): "viewer",
    # an editor changes monitors and incidents
    ("POST", "/api/v1/monitors"): "editor",
    ("PUT", "/api/v1/monitors/{name}"): "editor",
    ("DELETE", "/api/v1/monitors/{name}"): "editor",
    ("POST", "/api/v1/incidents/{incident_id}/updates"): "editor",
    ("GET", "/new-monitor"): "editor",
    ("POST", "/new-monitor"): "editor",
    ("POST", "/monitors/{name}/delete"): "editor",
    ("GET", "/monitors/{name}/edit"): "editor",
    ("POST", "/monitors/{name}/edit"): "editor",
    ("POST", "/incidents/{incident_id}/updates"): "editor",
    ("POST", "/api/v1/incidents/{incident_id}/confirm"): "editor",
    ("POST", "/incidents/{incident_id}/confirm"): "editor",
    # an admin manages users and settings
    ("POST", "/api/v1/reload"): "admin",
    ("GET", "/api/v1/users"): "admin",
    ("POST", "/api/v1/users"): "admin",
    ("PATCH", "/api/v1/users/{name}"): "admin",
    ("GET", "/users"): "admin",
    ("POST", "/users"): "admin",
    ("POST", "/users/{name}/role"): "admin",
    ("GET", "/api/v1/agents"): "viewer",
    ("GET", "/agents"): "viewer",
    ("POST", "/agents"): "admin",
    ("POST", "/agents/{name}/revoke"): "admin",
    ("POST", "/api/v1/agents"): "admin",
    ("DELETE", "/api/v1/agents/{name}"): "admin",
    # public posts awaiting approval: a viewer looks, an editor decides; subscribers are an admin's
    ("GET", "/announcements"): "viewer",
    ("GET", "/api/v1/announcements"): "viewer",
    ("POST", "/announcements/{post_id}/approve"): "editor",
    ("POST", "/announcements/{post_id}/discard"): "editor",
    ("POST", "/api/v1/announcements/{post_id}/approve"): "editor",
    ("POST", "/api/v1/announcements/{post_id}/discard"): "editor",
    ("GET", "/api/v1/subscribers"): "admin",
    ("DELETE", "/api/v1/subscribers"): "admin",
    ("DELETE", "/api/v1/subscribers/{subscriber_id}"): "admin",
    # probe agents, with their own tokens
    ("GET", "/api/v1/agent/assignment"): AGENT_ONLY,
    ("POST", "/api/v1/agent/verdicts"): AGENT_ONLY,
}


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app answers, included routers and mounts too."""
    served = set()
    for route in iter_route_contexts(app.routes):
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path or "")
        for method in route.methods or {"GET"}:  # a mount (static files) has none: it is read
            if method != "HEAD":
                served.add((method, path))
    return served


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    store = recorded_store(tmp_path_factory.mktemp("roles"))
    store.monitors.sync(
        {name: f"https://{name}.test/" for name in ("shop", "api", "images", "fresh")} | {"nightly": "push: daily"}
    )
    store.push.ensure_tokens({"nightly": None})
    for role in ROLES:
        store.accounts.add_user(role, PASSWORD, role)
    yield store
    store.close()


@pytest.fixture(scope="module")
def app(store: Database) -> FastAPI:
    nightly = parse_monitor({"name": "nightly", "kind": "push", "cron": "0 3 * * *", "grace": "1h"})
    return create_app(WebContext(store, TOKEN, config=Config(monitors=[nightly])))


def bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


@pytest.fixture(scope="module")
def tokens(store: Database) -> dict[str, str]:
    """A token of each role's user, with that role. Token 1 is a spare of the admin's, for
    the routes that revoke or change token 1."""
    users = {entry.user.username: entry.user.id for entry in store.accounts.users()}
    store.accounts.create_token("spare", users["admin"], "admin")
    return {role: store.accounts.create_token(f"{role}'s", users[role], role)[0] for role in ROLES}


def refused(response: httpx.Response) -> bool:
    """401, a page's redirect to the login, or a 403 for the caller's role (not one for what
    was asked, such as a token above the caller's role, or a login form without its CSRF token)."""
    to_login = response.is_redirect and response.headers.get("location", "").startswith("/login?next=")
    for_role = response.status_code == 403 and re.match(r"this needs the \w+ role", response.json()["detail"])
    return response.status_code == 401 or to_login or bool(for_role)


def test_every_route_of_the_app_has_a_least_role(app):
    served = served_routes(app)
    assert len(served) > 60
    assert served - MINIMUM.keys() == set(), "routes without a decision: add them to MINIMUM"
    assert MINIMUM.keys() - served == set(), "MINIMUM names routes the app does not have"


def test_each_role_and_no_one_get_exactly_what_the_table_allows(app, tokens):
    schema = app.openapi()
    ops = {(op.method, op.path): op for op in operations(schema)}
    callers: dict[str | None, dict[str, str]] = {None: {}} | {role: bearer(tokens[role]) for role in ROLES}
    wrong = []
    for (method, path), minimum in sorted(MINIMUM.items()):
        op = ops.get((method, path), Operation(method, path, {}))
        for caller, headers in callers.items():
            if path == "/live":
                response = open_stream(app, headers)  # an endless stream: only the start of its answer
            else:
                response = anonymous_request(AppClient(app, headers), schema, op)
            if minimum == AGENT_ONLY:
                if response.status_code != 401:
                    wrong.append(f"{method} {path} as {caller or 'no one'}: {response.status_code}, not 401")
                continue
            allowed = minimum is None or (caller is not None and ROLES.index(caller) >= ROLES.index(minimum))
            if allowed == refused(response):
                wrong.append(f"{method} {filled_path(op)} as {caller or 'no one'}: {response.status_code}")
            if not allowed and caller is not None and response.status_code != 403:
                wrong.append(f"{method} {path} as {caller}: {response.status_code}, not 403")
    assert not wrong, "\n".join(wrong)


def open_stream(app: FastAPI, headers: dict[str, str]) -> httpx.Response:
    """GET /live's status and headers: the app driven by hand as a client that hangs up
    once the answer has started, since the stream itself never ends."""
    import asyncio

    started: dict[str, Any] = {}
    pairs = [(k.lower().encode(), v.encode()) for k, v in ({"host": "ronda.test"} | headers).items()]
    scope = http_scope("GET", "/live", pairs)

    async def drive() -> None:
        answered = asyncio.Event()
        requested = False

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await answered.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                started.update(message)
                answered.set()

        await app(scope, receive, send)

    asyncio.run(drive())
    raw = [(k.decode(), v.decode()) for k, v in started.get("headers", [])]
    return httpx.Response(started["status"], headers=raw)


def test_the_config_token_is_an_admin(app):
    me = AppClient(app, bearer(TOKEN)).get("/api/v1/me").json()
    assert (me["role"], me["admin"]) == ("admin", True)


# -- push secrets ---------------------------------------------------------------------------


def test_push_urls_are_shown_to_editors_and_admins_only(app, tokens, store):
    secret = store.push.tokens({"nightly"})["nightly"]
    for role in ROLES:
        client = AppClient(app, bearer(tokens[role]))
        listed = {m["name"]: m for m in client.get("/api/v1/monitors").json()}["nightly"]
        one = client.get("/api/v1/monitors/nightly").json()
        page = client.get("/monitors/nightly").text
        shown = role != "viewer"
        assert ("push_url" in listed, "push_url" in one) == (shown, shown), role
        assert (secret in page) == shown, role
        assert "nightly" in page and "Run time" in page


# -- tokens ---------------------------------------------------------------------------------


def test_a_token_acts_with_its_role_never_above_its_users(app, store, tokens):
    editor = AppClient(app, bearer(tokens["editor"]))
    made = editor.request("POST", "/api/v1/tokens", json={"name": "reader", "role": "viewer"})
    assert made.status_code == 201, made.text
    assert made.json()["role"] == "viewer"
    reader = AppClient(app, bearer(made.json()["token"]))
    assert reader.get("/api/v1/me").json()["role"] == "viewer"
    update = {"status": "identified", "message": "x"}
    assert reader.request("POST", "/api/v1/incidents/1/updates", json=update).status_code == 403

    higher = editor.request("POST", "/api/v1/tokens", json={"name": "more", "role": "admin"})
    assert higher.status_code == 403
    assert higher.json()["detail"] == "editor is editor and cannot hand out the admin role"
    # A viewer's token of the admin cannot make itself, or another token, more than a viewer.
    admin_id = next(e.user.id for e in store.accounts.users() if e.user.username == "admin")
    low_secret, low = store.accounts.create_token("low", admin_id, "viewer")
    low_client = AppClient(app, bearer(low_secret))
    assert low_client.request("PATCH", f"/api/v1/tokens/{low.id}", json={"role": "admin"}).status_code == 403
    assert low_client.request("POST", "/api/v1/tokens", json={"name": "up", "role": "editor"}).status_code == 403
    assert low_client.request("POST", "/api/v1/tokens", json={"name": "same"}).json()["role"] == "viewer"

    raised = editor.request("PATCH", f"/api/v1/tokens/{made.json()['id']}", json={"role": "editor"})
    assert raised.status_code == 200 and raised.json()["role"] == "editor"
    assert reader.get("/api/v1/me").json()["role"] == "editor"


def test_demoting_a_user_demotes_their_tokens_at_once(tmp_path):
    store = Database(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        store.accounts.add_user("root", PASSWORD, "admin")
        dana = store.accounts.add_user("dana", PASSWORD, "editor")
        secret, _ = store.accounts.create_token("deploy", dana.id, "editor")
        client = AppClient(create_app(WebContext(store, TOKEN)), bearer(secret))
        assert client.get("/api/v1/me").json()["role"] == "editor"
        store.accounts.set_role("dana", "viewer")
        assert client.get("/api/v1/me").json()["role"] == "viewer"
        assert (
            client.request("POST", "/api/v1/monitors", json={"name": "x", "url": "https://x.test/"}).status_code == 403
        )
        listed = client.get("/api/v1/tokens").json()
        assert [(t["name"], t["role"]) for t in listed] == [("deploy", "viewer")]
    finally:
        store.close()


# -- users ----------------------------------------------------------------------------------


def test_an_admin_adds_users_and_sets_their_roles_through_the_api(tmp_path):
    store = Database(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        store.accounts.add_user("root", PASSWORD, "admin")
        admin = AppClient(create_app(WebContext(store, TOKEN)), bearer(TOKEN))
        added = admin.request("POST", "/api/v1/users", json={"name": "erin", "password": PASSWORD})
        assert added.status_code == 201, added.text
        assert (added.json()["name"], added.json()["role"]) == ("erin", "viewer")  # new users read
        changed = admin.request("PATCH", "/api/v1/users/erin", json={"role": "editor"})
        assert changed.json()["role"] == "editor"
        assert [(u["name"], u["role"]) for u in admin.get("/api/v1/users").json()] == [
            ("erin", "editor"),
            ("root", "admin"),
        ]
        last = admin.request("PATCH", "/api/v1/users/root", json={"role": "viewer"})
        assert last.status_code == 409
        assert last.json()["detail"] == "'root' is the only admin: make another user admin first"
        assert admin.request("PATCH", "/api/v1/users/nobody", json={"role": "viewer"}).status_code == 404
        bad = admin.request("PATCH", "/api/v1/users/erin", json={"role": "owner"})
        assert bad.status_code == 422
    finally:
        store.close()


def log_in(client: httpx.Client, name: str) -> str:
    """Log in through the form; the session's CSRF token, from the next page's forms."""
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    answer = client.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": csrf[1]})
    assert answer.status_code == 303, answer.text
    account = client.get("/account").text
    found = re.search(r'name="csrf_token" value="([^"]+)"', account)
    assert found
    return found[1]


def session(app: FastAPI) -> httpx.Client:
    return httpx.Client(transport=_SyncASGI(app), base_url="http://ronda.test", follow_redirects=False)


class _SyncASGI(httpx.BaseTransport):
    """httpx's ASGI transport for a synchronous client: one event loop per request."""

    def __init__(self, app: FastAPI) -> None:
        self.transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        import asyncio

        async def send() -> httpx.Response:
            response = await self.transport.handle_async_request(request)
            body = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=body)

        return asyncio.run(send())


def test_the_dashboard_shows_each_role_only_what_it_may_do(tmp_path):
    store = recorded_store(tmp_path)
    try:
        for role in ROLES:
            store.accounts.add_user(role, PASSWORD, role)
        app = create_app(WebContext(store, TOKEN))
        pages: dict[str, dict[str, str]] = {}
        for role in ROLES:
            with session(app) as browser:
                csrf = log_in(browser, role)
                pages[role] = {path: browser.get(path).text for path in ("/", "/incidents", "/account")}
                update = {"csrf_token": csrf, "status": "identified", "message": "On it."}
                posted = browser.post("/incidents/1/updates", data=update)
                assert posted.status_code == (403 if role == "viewer" else 303), role
                users = browser.get("/users")
                assert users.status_code == (200 if role == "admin" else 403), role
                if role == "admin":
                    made = browser.post("/users", data={"csrf_token": csrf, "name": "fay", "password": PASSWORD})
                    assert made.status_code == 303
                    raised = browser.post("/users/fay/role", data={"csrf_token": csrf, "role": "editor"})
                    assert raised.status_code == 303
                    assert re.search(
                        r"<td>fay</td>.*?<option selected>editor</option>", browser.get("/users").text, re.S
                    )
        assert [("Post an update" in pages[r]["/incidents"]) for r in ROLES] == [False, True, True]
        assert [('href="/users"' in pages[r]["/"]) for r in ROLES] == [False, False, True]
        assert "Signed in as <strong>viewer</strong>, viewer." in pages["viewer"]["/account"]
        options = re.findall(r"<option[^>]*>(\w+)</option>", pages["editor"]["/account"])
        assert options == ["viewer", "editor"]  # an editor's tokens: at most an editor's
        signed = store.incidents.get(1).updates[-1]
        assert (signed.author, signed.message) == ("admin", "On it.")
    finally:
        store.close()


def test_a_users_incident_update_carries_their_own_name(app, tokens):
    editor = AppClient(app, bearer(tokens["editor"]))
    forged = {"status": "monitoring", "message": "x", "author": "admin"}
    refused = editor.request("POST", "/api/v1/incidents/1/updates", json=forged)
    assert refused.status_code == 422
    assert refused.json()["detail"] == "an update by 'editor' carries their own name, not 'admin'"
    posted = editor.request("POST", "/api/v1/incidents/1/updates", json={"status": "monitoring", "message": "y"})
    assert posted.status_code == 201
    assert [u["author"] for u in posted.json()["updates"] if u["kind"] == "human"][-1] == "editor"


def ronda(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ronda", *args], input=stdin, capture_output=True, text=True, timeout=60
    )


def test_ronda_user_sets_roles_and_lists_them(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    assert ronda("user", "add", "gus", "--password-stdin", "--storage", url, stdin=f"{PASSWORD}\n").returncode == 0
    added = ronda("user", "add", "hal", "--role", "editor", "--password-stdin", "--storage", url, stdin=f"{PASSWORD}\n")
    assert added.stdout.strip() == "added the editor hal"
    assert ronda("user", "role", "gus", "admin", "--storage", url).stdout.strip() == "gus is now an admin"
    listing = ronda("user", "list", "--storage", url).stdout
    assert re.findall(r"^(\w+)\t(\w+)\t", listing, re.M) == [("gus", "admin"), ("hal", "editor")]
    wrong = ronda("user", "role", "hal", "owner", "--storage", url)
    assert wrong.returncode == 3 and "invalid choice: 'owner'" in wrong.stdout + wrong.stderr
    last = ronda("user", "role", "gus", "viewer", "--storage", url)
    assert last.returncode == 3 and "'gus' is the only admin" in last.stdout


def test_the_clis_role_names_are_the_stores():
    from ronda.cli import ROLE_NAMES

    assert ROLE_NAMES == ROLES


# -- the migration --------------------------------------------------------------------------


def test_accounts_of_an_older_ronda_keep_what_they_could_do(empty_store_url):
    """0007: an admin stays admin, every other user becomes an editor (before roles, anyone
    could change monitors); tokens take their user's role, the config token's ones admin."""
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import inspect, text

    from ronda.storage.db import MIGRATIONS, make_engine

    engine = make_engine(empty_store_url)
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")
        at = {"at": "2026-12-01 00:00:00"}
        for user in ("'ann', 'x', TRUE", "'ben', 'x', FALSE"):
            connection.execute(
                text(f"INSERT INTO users (username, password_hash, is_admin, created_at) VALUES ({user}, :at)"), at
            )
        for name, user in (("ann's", 1), ("ben's", 2), ("config's", None)):
            connection.execute(
                text(
                    "INSERT INTO api_tokens (name, token_hash, prefix, user_id, created_at) "
                    "VALUES (:name, :name, 'p', :user, :at)"
                ),
                {"name": name, "user": user, **at},
            )
        connection.execute(
            text(
                "INSERT INTO web_sessions (token_hash, user_id, csrf_token, verified, created_at, expires_at) "
                "VALUES ('s', 2, 'c', TRUE, :at, :at)"
            ),
            at,
        )
    migrate(engine)
    store = Database(empty_store_url)
    try:
        assert [(e.user.username, e.user.role) for e in store.accounts.users()] == [("ann", "admin"), ("ben", "editor")]
        tokens = {t.name: t.role for t in store.accounts.tokens()}
        assert tokens == {"ann's": "admin", "ben's": "editor", "config's": "admin"}
    finally:
        store.close()
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM web_sessions")) == 1, "no session lost on the way"
        columns = [column["name"] for column in inspect(connection).get_columns("users")]
    engine.dispose()
    assert "is_admin" not in columns and "role" in columns
