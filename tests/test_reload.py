"""The config file re-read while ronda runs (SIGHUP, POST /api/v1/reload): monitors come,
go and change, and nothing stored is lost; a file with an error changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ronda.world.web import Reply, WebServer
from tests.receivers import WebhookReceiver
from tests.support import TOKEN, RondaProcess, config_text, free_port, wait_for


def monitor(name: str, server: WebServer, extra: str = "") -> str:
    return f"  - name: {name}\n    url: {server.url()}\n{extra}"


class ConfigFile:
    """The config file of one ronda, rewritten in place (same address, same database)."""

    def __init__(self, path: Path, ca_file: str) -> None:
        self.path = path
        self.ca_file = ca_file
        self.port = free_port()

    def write(self, monitors: str, notify: str = "[]") -> Path:
        self.path.write_text(config_text(self.port, self.ca_file, monitors, notify))
        return self.path


@pytest.fixture
def config(tmp_path: Path, ca_file: str) -> ConfigFile:
    return ConfigFile(tmp_path / "ronda.yaml", ca_file)


def names(ronda: RondaProcess) -> set[str]:
    return {m["name"] for m in ronda.api("/api/v1/monitors")}


def count(ronda: RondaProcess, name: str) -> int:
    return len(ronda.api(f"/api/v1/monitors/{name}/results?limit=1000"))


def start_error(path: Path) -> str:
    """What `ronda run` says of this config file when it refuses to start."""
    env = {**os.environ, "RONDA_TOKEN": TOKEN}
    run = [sys.executable, "-m", "ronda", "run", "--config", str(path)]
    result = subprocess.run(run, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 3, result.stderr
    return result.stderr.strip().removeprefix("ronda: config error: ")


def reload(ronda: RondaProcess) -> Any:
    return ronda.send("POST", "/api/v1/reload")


def test_sighup_adds_and_removes_monitors_and_an_open_incident_survives(config, web):
    broken, old, new, api = web(), web(), web(), web()
    broken.default = Reply(status=503)
    ronda = RondaProcess(config.write(monitor("shop", broken) + monitor("old", old))).start()
    try:
        assert ronda.send("POST", "/api/v1/monitors", {"name": "api-site", "url": api.url()}).status_code == 201
        [incident] = wait_for("shop's incident", lambda: ronda.api("/api/v1/incidents?open=true"))
        shop_results = count(ronda, "shop")
        config.write(monitor("shop", broken) + monitor("new", new))
        ronda.hangup()
        wait_for("the file's monitors now", lambda: names(ronda) == {"shop", "new", "api-site"})
        wait_for("the new monitor checked", lambda: count(ronda, "new") >= 1)
        [still_open] = ronda.api("/api/v1/incidents?open=true")
        assert still_open["id"] == incident["id"] and still_open["monitor"] == "shop"
        assert count(ronda, "shop") >= shop_results, "every verdict stays"
        stopped_at = old.requests
        api_checks = count(ronda, "api-site")
        wait_for("the API's monitor checked on", lambda: count(ronda, "api-site") >= api_checks + 3)
        assert old.requests == stopped_at, "the removed monitor is checked no more"
        assert count(ronda, "old") >= 1, "its history is kept"
        broken.default = Reply()
        wait_for("the same incident resolved", lambda: ronda.api("/api/v1/incidents")[0]["status"] == "resolved")
        assert [i["id"] for i in ronda.api("/api/v1/incidents")] == [incident["id"]]
    finally:
        code, output = ronda.stop()
    assert code == 0 and "Traceback" not in output, output
    assert "config reloaded" in output and "added new; removed old" in output, output


def test_post_reload_restarts_a_changed_monitor_with_its_new_settings(config, web):
    server = web()
    server.default = Reply(status=503, body=b"maintenance page")
    ronda = RondaProcess(config.write(monitor("shop", server))).start()
    try:
        [incident] = wait_for("an open incident", lambda: ronda.api("/api/v1/incidents?open=true"))
        config.write(monitor("shop", server, "    expect: {status: 503, text: maintenance}\n"))
        answer = reload(ronda)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "reloaded": True,
            "changes": {"added": [], "removed": [], "restarted": ["shop"], "updated": []},
        }
        wait_for("judged by the new expectation", lambda: ronda.api("/api/v1/monitors")[0]["status"] == "up")
        [resolved] = ronda.api("/api/v1/incidents")
        assert resolved["id"] == incident["id"] and resolved["status"] == "resolved"
        unchanged = reload(ronda).json()
        assert unchanged["changes"] == {"added": [], "removed": [], "restarted": [], "updated": []}
    finally:
        ronda.stop()


@pytest.mark.parametrize("how", ["api", "sighup"], ids=["through the API", "on SIGHUP"])
def test_a_broken_config_is_refused_and_the_old_one_runs_on(config, web, how):
    server = web()
    path = config.write(monitor("shop", server))
    ronda = RondaProcess(path).start()
    try:
        wait_for("checked", lambda: count(ronda, "shop") >= 1)
        good = path.read_text()
        path.write_text(good + "  - name: db\n    url: tcp://db.test\n")
        if how == "api":
            answer = reload(ronda)
            assert answer.status_code == 422
            assert answer.json()["detail"] == start_error(path), "the words `ronda run` would say at start"
            assert answer.json()["detail"].startswith(f"{path}:16: monitors[1].url: 'tcp://db.test': ")
        else:
            ronda.hangup()
        before = count(ronda, "shop")
        wait_for("the old monitor checked on", lambda: count(ronda, "shop") >= before + 3)
        assert names(ronda) == {"shop"}
    finally:
        code, output = ronda.stop()
    assert code == 0, output
    said = " ".join(output.split())  # the log's lines, unwrapped
    assert "config not reloaded, still running on the previous one" in said
    assert "monitors[1].url: 'tcp://db.test': tcp:// targets need a port" in said


def test_notification_channels_are_replaced_on_reload(config, web):
    server = web()
    hook = WebhookReceiver()
    ronda = RondaProcess(config.write(monitor("shop", server))).start()
    try:
        wait_for("checked", lambda: count(ronda, "shop") >= 1)
        config.write(monitor("shop", server), notify=f"[{hook.url}]")
        assert reload(ronda).json()["changes"]["restarted"] == []
        server.default = Reply(status=503)
        wait_for("the new channel told", lambda: hook.messages)
        assert hook.messages[0]["title"] == "[ronda] shop is failing: http_server_error"
    finally:
        ronda.stop()
        hook.close()


def test_a_monitor_the_file_now_names_is_the_file_s(config, web: Callable[..., WebServer]):
    server = web()
    ronda = RondaProcess(config.write(monitor("shop", server))).start()
    try:
        assert ronda.send("POST", "/api/v1/monitors", {"name": "blog", "url": server.url("/blog")}).status_code == 201
        wait_for("blog checked", lambda: count(ronda, "blog") >= 1)
        config.write(monitor("shop", server) + f"  - name: blog\n    url: {server.url('/news')}\n")
        assert reload(ronda).json()["changes"]["restarted"] == ["blog"]
        [blog] = [m for m in ronda.api("/api/v1/monitors") if m["name"] == "blog"]
        assert (blog["source"], blog["editable"], blog["target"]) == ("config", False, server.url("/news"))
        assert ronda.send("DELETE", "/api/v1/monitors/blog").status_code == 409
    finally:
        ronda.stop()
    ronda.start()  # and it stays the file's after a restart
    try:
        assert [m["source"] for m in ronda.api("/api/v1/monitors") if m["name"] == "blog"] == ["config"]
    finally:
        ronda.stop()
