"""Monitors managed both ways: the config file's are read-only through the API, the API's
are stored and survive restarts. A real `ronda run` process, real loopback targets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ronda.storage.database import Database
from ronda.web.app import create_app
from ronda.web.context import WebContext
from ronda.world.web import Reply, WebServer
from tests.asgi import AppClient
from tests.support import TOKEN, RondaProcess, config_text, free_port, wait_for


def home_monitor(server: WebServer) -> str:
    return f"  - name: home\n    url: {server.url()}\n    tags: [edge]\n"


@pytest.fixture
def config_file(tmp_path: Path, ca_file: str, web: Callable[..., WebServer]) -> Path:
    path = tmp_path / "ronda.yaml"
    path.write_text(config_text(free_port(), ca_file, home_monitor(web())))
    return path


@pytest.fixture
def ronda(config_file: Path) -> Iterator[RondaProcess]:
    process = RondaProcess(config_file).start()
    yield process
    code, output = process.stop()
    assert code == 0, output
    assert "Traceback" not in output


def results(ronda: RondaProcess, name: str) -> list[dict[str, Any]]:
    return list(ronda.api(f"/api/v1/monitors/{name}/results?limit=1000"))


def by_name(ronda: RondaProcess) -> dict[str, dict[str, Any]]:
    return {monitor["name"]: monitor for monitor in ronda.api("/api/v1/monitors")}


def test_a_posted_monitor_is_checked_and_still_there_after_a_restart(config_file, web):
    site = web()
    ronda = RondaProcess(config_file).start()
    try:
        posted = ronda.send("POST", "/api/v1/monitors", {"name": "site", "url": site.url(), "interval": "200ms"})
        assert posted.status_code == 201, posted.text
        body = posted.json()
        assert (body["name"], body["target"], body["source"], body["editable"]) == ("site", site.url(), "api", True)
        assert body["spec"] == {"name": "site", "url": site.url(), "interval": 0.2}
        wait_for("the new monitor checked", lambda: results(ronda, "site"))
        monitors = by_name(ronda)
        assert (monitors["home"]["source"], monitors["home"]["editable"]) == ("config", False)
        assert monitors["site"]["status"] == "up"
    finally:
        ronda.stop()
    ronda = RondaProcess(config_file).start()
    try:
        before = len(results(ronda, "site"))
        assert by_name(ronda)["site"]["source"] == "api"
        wait_for("checked again after the restart", lambda: len(results(ronda, "site")) > before)
    finally:
        ronda.stop()


def test_put_changes_what_an_api_monitor_checks_and_keeps_its_history(ronda, web):
    first, second = web(), web()
    assert ronda.send("POST", "/api/v1/monitors", {"name": "site", "url": first.url()}).status_code == 201
    wait_for("checked at its first target", lambda: results(ronda, "site"))
    moved = {"name": "site", "url": second.url("/health"), "interval": "200ms", "expect": {"text": "Welcome"}}
    put = ronda.send("PUT", "/api/v1/monitors/site", moved)
    assert put.status_code == 200, put.text
    assert put.json()["target"] == second.url("/health")
    assert put.json()["spec"]["expect"] == {"text": "Welcome"}
    latest = wait_for(
        "checked at the new target",
        lambda: (r := results(ronda, "site")) and r[0]["target"] == second.url("/health") and r,
    )
    assert latest[-1]["target"] == first.url(), "the verdicts before the change are kept"
    assert second.requests >= 1


def test_a_monitors_secrets_are_sent_to_its_target_and_shown_to_nobody(ronda):
    """Credentials given through the API reach the target at each check; the API's answers
    (the monitor, the list) show them as ***, and a person reading them learns nothing."""
    from tests.api_world import Answer, ApiServer

    api = ApiServer()
    try:
        api.route("/health", Answer(200, {"ok": True}))
        request = {
            "auth": {"basic": {"username": "probe", "password": "s3cret-pass"}},
            "headers": {"X-Api-Key": "k3y-value", "Accept": "application/json"},
        }
        body = {"name": "private-api", "url": api.url("/health"), "request": request}
        posted = ronda.send("POST", "/api/v1/monitors", body)
        assert posted.status_code == 201, posted.text
        wait_for("the API checked", lambda: any(seen.path == "/health" for seen in api.seen))
        sent = next(seen for seen in api.seen if seen.path == "/health")
        assert (
            sent.headers["authorization"] == "Basic cHJvYmU6czNjcmV0LXBhc3M="
            and sent.headers["x-api-key"] == "k3y-value"
        )
        shown = [posted.text, ronda.send("GET", "/api/v1/monitors/private-api").text, str(by_name(ronda))]
        assert not any("s3cret-pass" in text or "k3y-value" in text for text in shown)
        spec = by_name(ronda)["private-api"]["spec"]["request"]
        assert spec["auth"]["basic"] == {"username": "probe", "password": "***"}
        assert spec["headers"] == {"X-Api-Key": "***", "Accept": "application/json"}
    finally:
        api.close()


def test_deleting_a_failing_monitor_ends_its_incident_as_removed(ronda, free_port):
    body = {"name": "gone", "url": f"tcp://127.0.0.1:{free_port}", "interval": "1s", "confirm": 1}
    assert ronda.send("POST", "/api/v1/monitors", body).status_code == 201
    [opened] = wait_for("its incident", lambda: [i for i in ronda.api("/api/v1/incidents?open=true")])
    assert ronda.send("DELETE", "/api/v1/monitors/gone").status_code == 204
    assert ronda.api("/api/v1/incidents?open=true") == [], "nothing would ever resolve it"
    [ended] = [i for i in ronda.api("/api/v1/incidents") if i["id"] == opened["id"]]
    assert ended["status"] == "resolved" and ended["updates"][-1]["kind"] == "removed"
    assert "no longer watched" in ended["updates"][-1]["message"]


def test_delete_stops_an_api_monitor_and_keeps_its_history(ronda, web):
    site = web()
    assert ronda.send("POST", "/api/v1/monitors", {"name": "site", "url": site.url()}).status_code == 201
    wait_for("checked", lambda: results(ronda, "site"))
    deleted = ronda.send("DELETE", "/api/v1/monitors/site")
    assert deleted.status_code == 204, deleted.text
    assert "site" not in by_name(ronda)
    stopped_at = site.requests
    home = len(results(ronda, "home"))
    wait_for("five more checks of the config's monitor", lambda: len(results(ronda, "home")) >= home + 5)
    assert site.requests == stopped_at, "a deleted monitor is checked no more"
    assert results(ronda, "site"), "its verdicts stay on record"
    assert ronda.send("DELETE", "/api/v1/monitors/site").status_code == 404
    again = ronda.send("POST", "/api/v1/monitors", {"name": "site", "url": site.url()})
    assert again.status_code == 201, "the name is free again"
    wait_for("checked again", lambda: site.requests > stopped_at)


@pytest.mark.parametrize(
    ("method", "body"),
    [("PUT", {"name": "home", "url": "http://127.0.0.1:1/"}), ("DELETE", None)],
    ids=["replacing a config monitor", "deleting a config monitor"],
)
def test_a_monitor_of_the_config_file_cannot_be_changed_through_the_api(ronda, config_file, method, body):
    answer = ronda.send(method, "/api/v1/monitors/home", body)
    assert answer.status_code == 409
    assert answer.json()["detail"] == f"monitor 'home' is defined in the config file {config_file}: change it there"
    assert by_name(ronda)["home"]["target"] != "http://127.0.0.1:1/"


def test_posting_a_name_that_exists_is_a_conflict(ronda, web):
    site = web()
    assert ronda.send("POST", "/api/v1/monitors", {"name": "site", "url": site.url()}).status_code == 201
    again = ronda.send("POST", "/api/v1/monitors", {"name": "site", "url": site.url("/other")})
    assert again.status_code == 409
    assert again.json()["detail"] == "a monitor named 'site' exists"
    config = ronda.send("POST", "/api/v1/monitors", {"name": "home", "url": site.url()})
    assert config.status_code == 409
    assert "defined in the config file" in config.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"name": "bad name!", "url": "http://127.0.0.1/"}, "name", "String should match pattern"),
        ({"name": "db", "url": "tcp://db.test"}, "url", "'tcp://db.test': tcp:// targets need a port"),
        ({"name": "x", "url": "http://127.0.0.1/", "interval": "soon"}, "interval", "expected a duration"),
        ({"name": "x", "url": "http://127.0.0.1/", "confirm": 0}, "confirm", "greater than or equal to 1"),
        ({"name": "x", "url": "http://127.0.0.1/", "intreval": "1m"}, "intreval", "Extra inputs are not permitted"),
        ({"name": "x"}, "url", "Field required"),
        ({"name": "x", "url": "http://127.0.0.1/", "depends_on": ["nope"]}, "depends_on", "no monitor named 'nope'"),
        (
            {"name": "x", "url": "http://127.0.0.1/", "depends_on": ["tag:nope"]},
            "depends_on",
            "no monitor has the tag 'nope'",
        ),
        (
            {"name": "x", "url": "http://127.0.0.1/", "ca_file": "missing.pem"},
            "ca_file",
            "monitors added through the API may use no files (server.file_roots is empty)",
        ),
    ],
    ids=[
        "a name with a space and a bang",
        "a TCP target without a port",
        "an interval that is no duration",
        "a confirm of zero",
        "a misspelt key",
        "no url",
        "a dependency on no monitor",
        "a dependency on a tag no monitor has",
        "a CA file, while server.file_roots names no folder",
    ],
)
def test_a_bad_monitor_is_refused_naming_the_field(ronda, body, field, words):
    answer = ronda.send("POST", "/api/v1/monitors", body)
    assert answer.status_code == 422, answer.text
    [problem] = [p for p in answer.json()["detail"] if p["loc"][-1] == field]
    assert problem["loc"] == ["body", field]
    assert words in problem["msg"]
    assert set(by_name(ronda)) == {"home"}, "nothing was added"


def test_dependencies_reach_across_the_file_and_the_api(ronda, web):
    app = web()  # "home", in the file, has the tag edge
    child = {"name": "app", "url": app.url(), "interval": "200ms", "depends_on": ["tag:edge", "home"]}
    assert ronda.send("POST", "/api/v1/monitors", child).status_code == 201
    grandchild = {"name": "report", "url": app.url("/report"), "depends_on": ["app"]}
    assert ronda.send("POST", "/api/v1/monitors", grandchild).status_code == 201
    loop = {"name": "app", "url": app.url(), "depends_on": ["report"]}
    cycle = ronda.send("PUT", "/api/v1/monitors/app", loop)
    assert cycle.status_code == 422
    assert cycle.json()["detail"][0]["msg"] == "'app' depends on itself through app -> report -> app"
    in_use = ronda.send("DELETE", "/api/v1/monitors/app")
    assert in_use.status_code == 409 and "'report'" in in_use.json()["detail"]


def parent_then_child_fail(
    ronda: RondaProcess, parent: WebServer, child: WebServer
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parent's server fails, then the child's: the parent's incident, once open, and
    the update that says the child joined it."""
    parent.default = Reply(status=503)
    [incident] = wait_for("the parent's incident", lambda: ronda.api("/api/v1/incidents?open=true"))
    child.default = Reply(status=503)

    def joined() -> list[dict[str, Any]]:
        [current] = ronda.api("/api/v1/incidents?open=true")
        return [u for u in current["updates"] if u["kind"] == "joined"]

    [update] = wait_for("the child joins the parent's incident", joined)
    return incident, update


def test_a_failing_parent_in_the_file_takes_in_its_api_child(tmp_path, ca_file, web):
    gateway, app = web(), web()
    path = tmp_path / "ronda.yaml"
    path.write_text(config_text(free_port(), ca_file, f"  - name: gateway\n    url: {gateway.url()}\n"))
    ronda = RondaProcess(path).start()
    try:
        child = {"name": "app", "url": app.url(), "depends_on": ["gateway"]}
        assert ronda.send("POST", "/api/v1/monitors", child).status_code == 201
        wait_for("app checked", lambda: results(ronda, "app"))
        incident, update = parent_then_child_fail(ronda, gateway, app)
        assert "app, which depends on it, fails too" in update["message"]
        assert [i["monitor"] for i in ronda.api("/api/v1/incidents")] == ["gateway"], "one incident, not two"
        assert incident["monitor"] == "gateway"
    finally:
        ronda.stop()


def test_a_monitor_added_with_a_tag_becomes_a_parent_of_those_depending_on_the_tag(tmp_path, ca_file, web):
    """An API change hands on only the monitors it touches, and those that depend on any:
    a running child takes a parent that arrived after it."""
    gateway, cdn, app = web(), web(), web()
    path = tmp_path / "ronda.yaml"
    path.write_text(config_text(free_port(), ca_file, f"  - {{name: gateway, url: '{gateway.url()}', tags: [edge]}}\n"))
    ronda = RondaProcess(path).start()
    try:
        child = {"name": "app", "url": app.url(), "depends_on": ["tag:edge"]}
        assert ronda.send("POST", "/api/v1/monitors", child).status_code == 201
        wait_for("app checked", lambda: results(ronda, "app"))
        assert (
            ronda.send("POST", "/api/v1/monitors", {"name": "cdn", "url": cdn.url(), "tags": ["edge"]}).status_code
            == 201
        )
        wait_for("cdn checked", lambda: results(ronda, "cdn"))
        incident, _ = parent_then_child_fail(ronda, cdn, app)
        assert [i["monitor"] for i in ronda.api("/api/v1/incidents")] == ["cdn"] == [incident["monitor"]]
    finally:
        ronda.stop()


def test_without_a_running_service_the_routes_say_so_and_every_route_is_documented(tmp_path):
    store = Database(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        app = create_app(WebContext(store, TOKEN))
        client = AppClient(app, {"Authorization": f"Bearer {TOKEN}"})
        answer = client.request("POST", "/api/v1/monitors", json={"name": "x", "url": "http://127.0.0.1/"})
        assert answer.status_code == 503
        assert answer.json()["detail"].startswith("not available here")
        assert client.request("POST", "/api/v1/reload").status_code == 503
        assert AppClient(app).request("DELETE", "/api/v1/monitors/x").status_code == 401
        paths = client.get("/api/openapi.json").json()["paths"]
    finally:
        store.close()
    routes = [
        ("post", "/api/v1/monitors"),
        ("put", "/api/v1/monitors/{name}"),
        ("delete", "/api/v1/monitors/{name}"),
        ("post", "/api/v1/reload"),
    ]
    for method, path in routes:
        operation = paths[path][method]
        assert operation["summary"], (method, path)
        answers = operation["responses"]
        assert any("example" in (a.get("content") or {}).get("application/json", {}) for a in answers.values())
    body = paths["/api/v1/monitors"]["post"]["requestBody"]["content"]["application/json"]
    assert body["examples"]["an HTTPS page"]["value"]["name"] == "shop"


def test_a_stored_monitor_that_is_no_longer_valid_is_listed_unchecked_and_fixed_by_put(config_file, web):
    site = web()
    store = Database(f"sqlite:///{config_file.parent / 'ronda.db'}")  # as an older ronda left it
    try:
        store.specs.save("old", site.url(), {"name": "old", "url": site.url(), "frequency": "1m"})
    finally:
        store.close()
    ronda = RondaProcess(config_file).start()
    try:
        assert by_name(ronda)["old"]["source"] == "api"
        fixed = ronda.send("PUT", "/api/v1/monitors/old", {"name": "old", "url": site.url()})
        assert fixed.status_code == 200, fixed.text
        wait_for("checked once fixed", lambda: results(ronda, "old"))
    finally:
        code, output = ronda.stop()
    assert code == 0, output
    said = " ".join(output.split())
    assert "the stored monitor old is not valid now, so it is not checked (fix it with PUT)" in said
