"""`ronda run` as a user runs it: a real process, a real config file, real servers that
break and heal, the API read over HTTP, notifications caught by a real webhook receiver."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ronda.verdict import parse_iso
from ronda.world.web import Reply, WebServer
from tests.receivers import WebhookReceiver
from tests.support import TOKEN, RondaProcess, config_text, free_port, wait_for


@pytest.fixture
def write_config(tmp_path: Path, ca_file: str) -> Callable[..., Path]:
    def write(monitors: str, notify: str = "[]", canaries: str = "[]", storage: str = "sqlite:///ronda.db") -> Path:
        path = tmp_path / "ronda.yaml"
        path.write_text(config_text(free_port(), ca_file, monitors, notify, canaries, storage))
        return path

    return write


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()
    yield hook
    hook.close()


@pytest.fixture
def shop(web: Callable[..., WebServer], pki: Any) -> WebServer:
    return web(tls=pki.server_context("shop.test"))


def shop_monitor(server: WebServer) -> str:
    return (
        f"  - name: shop\n    url: https://shop.test:{server.port}/\n"
        f'    resolve: {{"shop.test:{server.port}": ["127.0.0.1"]}}\n'
        f"    expect: {{status: 200, text: Welcome}}\n"
    )


def test_an_outage_opens_one_incident_that_resolves_with_its_duration(shop, write_config, receiver, store_url):
    """On each store ronda supports: `storage: sqlite:///...` and `storage: postgresql://...`."""
    ronda = RondaProcess(write_config(shop_monitor(shop), notify=f"[{receiver.url}]", storage=store_url)).start()
    try:
        wait_for("shop up", lambda: ronda.api("/api/v1/monitors")[0]["status"] == "up")
        shop.default = Reply(status=503, body=b"busy")
        incident = wait_for("an open incident", lambda: ronda.api("/api/v1/incidents?open=true"))[0]
        assert incident["monitor"] == "shop"
        assert incident["cause"] == "http_server_error"
        assert incident["status"] == "open"
        assert [u["kind"] for u in incident["updates"]] == ["detected", "confirmed"]
        shop.default = Reply()
        resolved = wait_for(
            "resolution", lambda: [i for i in ronda.api("/api/v1/incidents") if i["status"] == "resolved"]
        )[0]
        assert resolved["id"] == incident["id"]
        assert resolved["duration_s"] > 0
        assert resolved["updates"][-1]["kind"] == "resolved"
        assert ronda.api("/api/v1/incidents?open=true") == []
        assert len(ronda.api("/api/v1/incidents")) == 1, "one outage, one incident"
        titles = wait_for(
            "two notifications",
            lambda: [m["title"] for m in receiver.messages] if len(receiver.messages) >= 2 else None,
        )
        assert titles[0] == "[ronda] shop is failing: http_server_error"
        assert titles[1] == "[ronda] shop resolved: http_server_error"
        assert "works again after" in receiver.messages[1]["message"]
    finally:
        code, output = ronda.stop()
    assert code == 0, output
    assert "Traceback" not in output


def test_the_api_reads_monitors_results_and_certificates(shop, write_config):
    ronda = RondaProcess(write_config(shop_monitor(shop))).start()
    try:
        wait_for("three results", lambda: len(ronda.api("/api/v1/monitors/shop/results?limit=3")) == 3)
        [monitor] = ronda.api("/api/v1/monitors")
        assert {"name", "target", "status", "cause", "since", "last_check"} <= monitor.keys()
        assert monitor["last_check"]["status"] == "up"
        results = ronda.api("/api/v1/monitors/shop/results?limit=3")
        times = [r["checked_at"] for r in results]
        assert times == sorted(times, reverse=True), "newest first"
        [cert] = ronda.api("/api/v1/certificates")
        assert cert["host"] == "shop.test" and cert["monitor"] == "shop" and cert["days_left"] > 80
        assert ronda.get("/api/v1/monitors/nope/results").status_code == 404
        assert ronda.api("/api/v1/monitors/shop/uptime")["windows"]["24h"]["checks"] >= 3
        metrics = ronda.get("/metrics").text
        assert 'ronda_monitor_up{monitor="shop"} 1.0' in metrics
        assert (
            f'ronda_certificate_expiry_timestamp_seconds{{address="127.0.0.1",fingerprint_sha256="{cert["fingerprint_sha256"]}"'
            in metrics
        )
        assert "ronda_checks_total " in metrics
        assert ronda.get("/metrics", token=None).status_code == 401
    finally:
        ronda.stop()


@pytest.mark.parametrize("token", [None, "wrong-token", TOKEN + "x"], ids=["missing", "wrong", "longer"])
def test_the_api_refuses_a_missing_or_wrong_token(shop, write_config, token):
    ronda = RondaProcess(write_config(shop_monitor(shop))).start()
    try:
        response = ronda.get("/api/v1/monitors", token=token)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert ronda.get("/healthz", token=None).status_code == 200
    finally:
        ronda.stop()


def test_nothing_stored_is_lost_after_kill_9(shop, write_config):
    config = write_config(shop_monitor(shop))
    ronda = RondaProcess(config).start()
    shop.default = Reply(status=503)
    wait_for("an open incident", lambda: ronda.api("/api/v1/incidents?open=true"))
    before = ronda.api("/api/v1/monitors/shop/results?limit=1000")
    ronda.stop(signal.SIGKILL)
    ronda = RondaProcess(config).start()
    try:
        after = ronda.api("/api/v1/monitors/shop/results?limit=1000")
        assert {r["checked_at"] for r in before} <= {r["checked_at"] for r in after}
        assert len(after) >= len(before)
        [incident] = ronda.api("/api/v1/incidents?open=true")
        assert incident["cause"] == "http_server_error"
        shop.default = Reply()
        wait_for("the same incident resolved", lambda: ronda.api("/api/v1/incidents")[0]["status"] == "resolved")
        assert len(ronda.api("/api/v1/incidents")) == 1
    finally:
        ronda.stop()


def test_a_broken_config_names_file_line_and_field_and_exits_3(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "defaults:\n  interval: soon\nmonitors:\n  - name: shop\n    url: https://shop.test/\n"
        "    confirm: 0\n  - name: db\n    url: tcp://db.test\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "ronda", "run", "--config", str(path)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 3
    assert f"{path}:2: defaults.interval: expected a duration such as 500ms, 30s, 5m or 1h, got 'soon'" in result.stderr
    assert f"{path}:6: monitors[0].confirm: expected at least 1, got 0" in result.stderr
    assert f"{path}:8: monitors[1].url: 'tcp://db.test': tcp:// targets need a port" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_missing_environment_variable_is_an_error_not_an_empty_string(tmp_path):
    path = tmp_path / "env.yaml"
    path.write_text("server:\n  token: ${RONDA_TEST_UNSET_VARIABLE}\n")
    env = {k: v for k, v in os.environ.items() if k != "RONDA_TEST_UNSET_VARIABLE"}
    result = subprocess.run(
        [sys.executable, "-m", "ronda", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert result.returncode == 3
    assert f"{path}:2: server.token: environment variable RONDA_TEST_UNSET_VARIABLE is not set" in result.stderr


def test_a_taken_listen_address_is_a_clear_error(shop, write_config):
    config = write_config(shop_monitor(shop))
    ronda = RondaProcess(config).start()
    try:
        second = subprocess.run(
            [sys.executable, "-m", "ronda", "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "RONDA_TOKEN": TOKEN},
        )
    finally:
        ronda.stop()
    assert second.returncode == 1
    assert f"server.listen 127.0.0.1:{ronda.port}: cannot listen there (Address already in use)" in second.stderr
    assert "Traceback" not in second.stderr


def test_people_post_updates_on_an_incident_timeline_and_can_resolve_it(shop, write_config, receiver):
    ronda = RondaProcess(write_config(shop_monitor(shop), notify=f"[{receiver.url}]")).start()
    try:
        shop.default = Reply(status=503)
        incident = wait_for("an open incident", lambda: ronda.api("/api/v1/incidents?open=true"))[0]
        url = f"http://127.0.0.1:{ronda.port}/api/v1/incidents/{incident['id']}/updates"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        posted = httpx.post(
            url, headers=auth, json={"status": "identified", "message": "The load balancer lost its pool."}
        )
        assert posted.status_code == 201, posted.text
        [human] = [u for u in posted.json()["updates"] if u["kind"] == "human"]
        assert (human["status"], human["message"], human["author"]) == (
            "identified",
            "The load balancer lost its pool.",
            "api",
        )
        assert httpx.post(url, headers=auth, json={"status": "fixed", "message": "x"}).status_code == 422
        assert httpx.post(url, json={"status": "identified", "message": "x"}).status_code == 401
        missing = f"http://127.0.0.1:{ronda.port}/api/v1/incidents/9999/updates"
        assert httpx.post(missing, headers=auth, json={"status": "monitoring", "message": "x"}).status_code == 404
        closed = httpx.post(url, headers=auth, json={"status": "resolved", "message": "Pool restored by hand."}).json()
        assert closed["status"] == "resolved" and closed["duration_s"] > 0
        assert closed["updates"][-1]["message"] == "Pool restored by hand."

        # People who were told of the incident are told of the posts too.
        def posts() -> list[str]:
            said = ("The load balancer lost its pool.", "Pool restored by hand.")
            return [m["title"] for m in receiver.messages if m["message"].startswith(said)]

        titles = wait_for("the posts notified", lambda: posts() if len(posts()) == 2 else None)
        assert titles == ["[ronda] shop update: http_server_error", "[ronda] shop resolved: http_server_error"]
    finally:
        ronda.stop()


def test_while_ronda_is_cut_off_no_incident_opens(shop, write_config):
    # The canary is a port where nothing listens: to ronda, its own network looks down.
    canary_port = free_port()
    ronda = RondaProcess(write_config(shop_monitor(shop), canaries=f"['tcp://127.0.0.1:{canary_port}']")).start()
    try:
        status = ronda.api("/api/v1/status")
        assert status["online"] is False
        assert status["canaries"][0]["cause"] == "tcp_refused"
        assert ronda.get("/healthz", token=None).json()["online"] is False
        shop.default = Reply(status=503)
        wait_for("failed checks stored", lambda: len(ronda.api("/api/v1/monitors/shop/results?limit=20")) >= 6)
        assert ronda.api("/api/v1/monitors")[0]["status"] == "down", "checks go on and are stored"
        assert ronda.api("/api/v1/incidents") == [], "but a failure seen while cut off proves nothing"
        with socket.socket() as canary:
            canary.bind(("127.0.0.1", canary_port))
            canary.listen(8)
            wait_for("back online", lambda: ronda.api("/api/v1/status")["online"])
            incident = wait_for("an incident, now", lambda: ronda.api("/api/v1/incidents?open=true"))[0]
            assert incident["cause"] == "http_server_error"
            history = ronda.api("/api/v1/status")["history"]
            assert [h["online"] for h in history][:2] == [True, False], "the time offline is on record"
            assert "no canary answers" in history[1]["detail"]
    finally:
        ronda.stop()


def test_confirmation_takes_seconds_of_rechecks_not_whole_intervals(shop, tmp_path, write_config):
    shop.default = Reply(status=503)
    config = write_config(
        shop_monitor(shop).replace("    expect:", "    interval: 30s\n    confirm: 3\n    recheck: 200ms\n    expect:")
    )
    ronda = RondaProcess(config).start()
    try:
        incident = wait_for("an open incident", lambda: ronda.api("/api/v1/incidents?open=true"))[0]
        results = ronda.api("/api/v1/monitors/shop/results?limit=10")
        assert [r["status"] for r in results[-3:]] == ["down", "down", "down"]
        first, third = parse_iso(results[-1]["checked_at"]), parse_iso(results[-3]["checked_at"])
        assert (third - first).total_seconds() < 30, "three failures within one interval, thanks to re-checks"
        assert [u["kind"] for u in incident["updates"]][:2] == ["detected", "confirmed"]
    finally:
        ronda.stop()


@pytest.mark.parametrize(
    ("storage", "expected"),
    [
        (
            "postgresql://ronda:s3cret@127.0.0.1:{port}/ronda",
            "storage postgresql+psycopg://ronda:***@127.0.0.1:{port}/ronda: cannot be used",
        ),
        (
            "sqlite:////nonexistent-dir/ronda.db",
            "storage sqlite:////nonexistent-dir/ronda.db: cannot be used (unable to open database file)",
        ),
    ],
    ids=["a PostgreSQL server that does not answer", "an SQLite file in a folder that does not exist"],
)
def test_a_database_that_cannot_be_used_is_a_clear_error_with_the_password_masked(tmp_path, storage, expected):
    port = free_port()
    path = tmp_path / "ronda.yaml"
    path.write_text(
        f"server:\n  listen: 127.0.0.1:{free_port()}\nstorage: {storage.format(port=port)}\n"
        "canaries: []\nmonitors: []\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "ronda", "run", "--config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert expected.format(port=port) in result.stderr
    assert "s3cret" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
