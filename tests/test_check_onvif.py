"""onvif:// against a real ONVIF device service on loopback (ronda.world.onvif): its time read
without credentials and compared with ours, its make and model read with a WS-Security
UsernameToken, refused credentials, devices that lock even their time, things that are not
ONVIF at all, and the device's facts kept with the monitor by `ronda run`."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from rich.console import Console

from ronda import soap
from ronda.details import print_detail
from ronda.errors import UsageError
from ronda.plugin import exit_code, first_line
from ronda.probes.onvif import DEVICE_SERVICE, TDS
from ronda.storage.database import Database
from ronda.target import CheckOptions
from ronda.web.app import create_app
from ronda.web.context import WebContext
from ronda.world.onvif import DeviceInfo, OnvifDevice
from ronda.world.web import Reply
from tests.support import RondaProcess, config_text, free_port, wait_for

USERS = {"admin": "s3cret:pass"}  # a colon in the password: it must survive the URL


@pytest.fixture
def device(serve: Callable[[OnvifDevice], OnvifDevice]) -> Callable[..., OnvifDevice]:
    """device(skew=.., lock_time=.., ...): a started device with the user admin; all stop at the end."""

    def start(**options: Any) -> OnvifDevice:
        return serve(OnvifDevice(**{"users": USERS, **options}))

    return start


def admin(server: OnvifDevice, password: str = USERS["admin"]) -> str:
    return server.url("admin", password)


# --- the time, without credentials -----------------------------------------------------------


def test_the_time_is_read_without_credentials_and_agrees_with_ours(device, check):
    server = device()
    verdict = check(server.url())
    assert (verdict.status, verdict.cause, verdict.warnings) == ("up", None, ()), verdict.summary
    onvif = verdict.onvif
    assert onvif["auth"] == "none" and onvif["device"] is None
    assert abs(onvif["skew_s"]) <= 1, "the device's clock is ours (it gives whole seconds)"
    assert onvif["device_time"].endswith("Z")
    assert server.calls == [("GetSystemDateAndTime", None)], "one call, unsigned"
    assert exit_code(verdict) == 0
    assert verdict.to_json()["onvif"] == onvif


def test_a_clock_far_off_ours_is_the_warning_clock_skew_while_the_device_stays_up(device, check):
    server = device(skew=-42)
    verdict = check(server.url())
    assert (verdict.status, verdict.cause) == ("up", None), verdict.summary
    [warning] = verdict.warnings
    assert warning.code == "clock_skew" and warning.address == "127.0.0.1"
    assert re.search(r"the device's clock is 4[1-3] s behind ronda's, more than the 5 s allowed", warning.detail)
    assert "ONVIF token authentication fails beyond about 5 s" in warning.detail
    assert -43 <= verdict.onvif["skew_s"] <= -41
    assert exit_code(verdict) == 1
    line = first_line(verdict, CheckOptions())
    assert line.startswith("RONDA WARNING - clock_skew: ")
    assert re.search(r" clock_skew=4[1-3]\.\ds;5;;0", line), "perfdata: the offset, warned past 5 s"


def test_max_skew_in_the_url_sets_the_threshold(device, check):
    server = device(skew=8)
    assert [w.code for w in check(server.url()).warnings] == ["clock_skew"], "past the default 5 s"
    relaxed = check(server.url() + "?max_skew=10s")
    assert relaxed.warnings == () and relaxed.onvif["max_skew_s"] == 10
    assert [w.code for w in check(server.url() + "?max_skew=2").warnings] == ["clock_skew"]


def test_a_max_skew_that_is_not_a_duration_is_bad_input_naming_the_url(device, check):
    server = device()
    with pytest.raises(UsageError, match=r"max_skew='soon'.*duration"):
        check(server.url() + "?max_skew=soon")


# --- credentials ------------------------------------------------------------------------------


def test_with_credentials_the_device_says_what_it_is(device, check):
    info = DeviceInfo(manufacturer="Acme", model="Cam 3000", firmware="5.1.0", serial="SN-77", hardware_id="hw-9")
    server = device(info=info)
    verdict = check(admin(server))
    assert (verdict.status, verdict.cause) == ("up", None), verdict.summary
    assert verdict.onvif["auth"] == "username_token"
    assert verdict.onvif["device"] == {
        "manufacturer": "Acme",
        "model": "Cam 3000",
        "firmware": "5.1.0",
        "serial": "SN-77",
        "hardware_id": "hw-9",
    }
    assert "Acme Cam 3000, firmware 5.1.0" in verdict.summary
    assert server.calls == [("GetSystemDateAndTime", None), ("GetDeviceInformation", "admin")]


def test_the_plugins_detail_lists_the_devices_time_and_facts(device, check):
    verdict = check(admin(device()))
    console = Console(file=io.StringIO(), width=200)
    print_detail(verdict, console)
    detail = console.file.getvalue()  # type: ignore[attr-defined]
    assert re.search(r"onvif: device time \S+Z \(\d\.\d s (ahead|behind)\); authentication username_token", detail)
    assert "device: manufacturer Ronda Optics, model RC-100, firmware 1.4.2, serial RC100-000042" in detail


def test_the_token_is_dated_by_the_devices_clock_so_a_skewed_device_still_logs_in(device, check):
    """The device refuses tokens created more than 5 s from its own clock, as devices do: the
    login works only because the token's Created is the device's time, not ours."""
    server = device(skew=90)
    verdict = check(admin(server))
    assert verdict.status == "up" and verdict.findings == (), verdict.summary
    assert verdict.onvif["device"]["model"] == "RC-100"
    assert [w.code for w in verdict.warnings] == ["clock_skew"]


def test_the_password_is_never_shown(device, check):
    server = device()
    verdict = check(admin(server, "wrong-and-secret"))
    shown = json.dumps(verdict.to_json())
    assert verdict.target == f"onvif://admin:***@127.0.0.1:{server.port}"
    assert "wrong-and-secret" not in shown and "wrong-and-secret" not in first_line(verdict, CheckOptions())


def test_a_wrong_password_is_auth_failed(device, check):
    server = device()
    verdict = check(admin(server, "guess"))
    assert (verdict.status, verdict.cause) == ("down", "auth_failed"), verdict.summary
    assert "refused user 'admin'" in verdict.summary and "NotAuthorized" in verdict.summary
    assert verdict.onvif["auth"] == "required" and verdict.onvif["device"] is None
    assert verdict.onvif["skew_s"] is not None, "the time was still read"
    assert exit_code(verdict) == 2


def test_an_unknown_user_is_auth_failed(device, check):
    server = device()
    verdict = check(server.url("operator", USERS["admin"]))
    assert verdict.cause == "auth_failed" and "'operator'" in verdict.summary


def test_the_device_refuses_a_replayed_call(device):
    """The world's device is as strict as a real one: the same signed call sent twice is
    refused the second time (its nonce was seen)."""
    server = device()
    header = soap.username_token("admin", USERS["admin"], server.now(), nonce=b"0123456789abcdef")
    call = soap.envelope("<tds:GetDeviceInformation/>", header, {"tds": TDS})
    url = f"http://127.0.0.1:{server.port}{DEVICE_SERVICE}"
    first = httpx.post(url, content=call, headers={"Content-Type": soap.CONTENT_TYPE})
    again = httpx.post(url, content=call, headers={"Content-Type": soap.CONTENT_TYPE})
    assert first.status_code == 200 and b"GetDeviceInformationResponse" in first.content
    assert again.status_code == 400 and b"NotAuthorized" in again.content


# --- devices that lock even their time ----------------------------------------------------------


def test_a_device_that_locks_its_time_is_alive_but_locked_without_credentials(device, check):
    server = device(lock_time=True)
    verdict = check(server.url())
    assert (verdict.status, verdict.cause, verdict.findings) == ("up", None, ()), "it answered: not down"
    assert verdict.onvif == {"device_time": None, "skew_s": None, "max_skew_s": 5.0, "auth": "required", "device": None}
    assert "asks for credentials even for its time" in verdict.summary
    assert exit_code(verdict) == 0


def test_a_device_that_locks_its_time_answers_with_credentials(device, check):
    server = device(lock_time=True, skew=30)
    verdict = check(admin(server))
    assert verdict.status == "up" and verdict.findings == (), verdict.summary
    assert verdict.onvif["auth"] == "username_token"
    assert 28.5 <= verdict.onvif["skew_s"] <= 31, "its time, read with the token"
    assert verdict.onvif["device"]["manufacturer"] == "Ronda Optics"
    assert server.calls == [("GetSystemDateAndTime", "admin"), ("GetDeviceInformation", "admin")]


def test_a_device_that_locks_its_time_and_refuses_the_password_is_auth_failed(device, check):
    server = device(lock_time=True)
    verdict = check(admin(server, "guess"))
    assert (verdict.status, verdict.cause) == ("down", "auth_failed"), verdict.summary
    assert "even for its time" in verdict.summary


def test_a_device_that_refuses_with_http_401_is_handled_the_same_way(device, check):
    server = device(lock_time=True, refuse_with="http401")
    locked = check(server.url())
    assert (locked.status, locked.onvif["auth"]) == ("up", "required"), locked.summary
    refused = check(admin(server, "guess"))
    assert refused.cause == "auth_failed"
    assert "401" in refused.summary and "HTTP Digest" in refused.summary
    assert check(admin(server)).onvif["device"]["model"] == "RC-100"


# --- not ONVIF ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("html", "an HTML page, not SOAP"),
        ("xml", "not a SOAP envelope (its root element is <rss>)"),
        ("garbage", "not valid HTTP"),
    ],
)
def test_what_is_not_onvif_is_protocol_error(device, check, mode, words):
    server = device(mode=mode)
    verdict = check(admin(server))
    assert (verdict.status, verdict.cause) == ("down", "protocol_error"), verdict.summary
    assert words in verdict.summary
    assert verdict.onvif is None


def test_a_device_whose_web_server_fails_is_http_server_error_not_protocol_error(web, check):
    """An overloaded recorder answering 503 is a device failing, not something that is not ONVIF."""
    server = web()
    server.default = Reply(status=503, body=b"<html><body>busy</body></html>")
    verdict = check(f"onvif://127.0.0.1:{server.port}")
    assert (verdict.status, verdict.cause) == ("down", "http_server_error"), verdict.summary
    assert verdict.summary.endswith("GetSystemDateAndTime was answered with HTTP 503 Service Unavailable")


def test_a_web_server_without_the_device_service_is_protocol_error(web, check):
    server = web()
    server.default = Reply(status=404, body=b"<html><body>no</body></html>")
    verdict = check(f"onvif://127.0.0.1:{server.port}")
    assert verdict.cause == "protocol_error"
    assert "HTTP 404" in verdict.summary


def test_an_endless_answer_costs_one_bounded_read(web, check):
    server = web()
    server.default = Reply(mode="endless")
    verdict = check(f"onvif://127.0.0.1:{server.port}", timeout=5)
    assert verdict.cause == "protocol_error"
    assert "more than 256 KiB" in verdict.summary


def test_a_device_that_drips_its_answer_fails_within_the_checks_budget(web, check):
    server = web()
    server.default = Reply(mode="drip")
    verdict = check(f"onvif://127.0.0.1:{server.port}", timeout=1)
    assert (verdict.status, verdict.cause) == ("down", "http_timeout"), verdict.summary


def test_nothing_listening_is_tcp_refused(check):
    verdict = check(f"onvif://127.0.0.1:{free_port()}")
    assert verdict.cause == "tcp_refused"


def test_onvifs_speaks_to_the_device_over_tls_and_analyses_its_certificate(device, pki, check):
    server = device(tls=pki.server_context("cam.test"))
    url = server.url("admin", USERS["admin"], host="cam.test")
    verdict = check(url, resolve={("cam.test", server.port): ("127.0.0.1",)})
    assert (verdict.status, verdict.findings) == ("up", ()), verdict.summary
    assert verdict.onvif["device"]["model"] == "RC-100"
    [certificate] = verdict.certificates
    assert certificate.sans == ("cam.test",), "read once, though the device was called twice"


def test_onvifs_with_a_certificate_for_another_name_is_down(device, pki, check):
    server = device(tls=pki.server_context("other.test"))
    verdict = check(server.url(host="cam.test"), resolve={("cam.test", server.port): ("127.0.0.1",)})
    assert verdict.cause == "cert_hostname_mismatch"


# --- ronda run: the device's facts kept with the monitor ---------------------------------------


def test_the_device_facts_appear_in_the_monitors_json(device, ca_file, tmp_path):
    camera = device(info=DeviceInfo(manufacturer="Acme", model="Cam 3000", firmware="5.1.0"))
    locked = device(lock_time=True)
    monitors = f"  - name: garage-camera\n    url: {admin(camera)}\n  - name: locked-camera\n    url: {locked.url()}\n"
    config = tmp_path / "ronda.yaml"
    config.write_text(config_text(free_port(), ca_file, monitors))
    ronda = RondaProcess(config).start()
    try:

        def monitors_now() -> dict[str, dict] | None:
            listed = {m["name"]: m for m in ronda.api("/api/v1/monitors")}
            checked = all(m["last_check"] for m in listed.values())
            return listed if checked and listed["garage-camera"]["device"] else None

        listed = wait_for("both cameras checked", monitors_now)
    finally:
        ronda.stop()
    garage = listed["garage-camera"]
    assert garage["device"]["manufacturer"] == "Acme" and garage["device"]["model"] == "Cam 3000"
    assert garage["device"]["firmware"] == "5.1.0"
    assert garage["target"] == f"onvif://admin:***@127.0.0.1:{camera.port}"
    assert garage["last_check"]["onvif"]["auth"] == "username_token"
    assert listed["locked-camera"]["device"] is None
    assert listed["locked-camera"]["status"] == "up"


def test_the_store_keeps_what_the_device_said_and_its_page_shows_it(device, check, world_loop, tmp_path):
    server = device(skew=-42)
    store = Database(f"sqlite:///{tmp_path / 'ronda.db'}")
    try:
        store.monitors.sync({"garage-camera": admin(server)})
        store.monitors.record("garage-camera", check(admin(server)), 2)
        page = dashboard_page(store, "/monitors/garage-camera")
        assert "Ronda Optics RC-100, firmware 1.4.2" in page and "RC100-000042" in page and "rc100-hw2" in page
        assert re.search(r"clock 4[1-3] s behind", page)

        world_loop.run(server.stop())
        unreachable = check(admin(server))
        assert unreachable.cause == "tcp_refused"
        store.monitors.record("garage-camera", unreachable, 2)
        assert store.monitors.get("garage-camera").device["model"] == "RC-100", "kept while the device is away"
    finally:
        store.close()


def dashboard_page(store: Database, path: str) -> str:
    token = "onvif-dashboard-token-0123"
    app = create_app(WebContext(store, token))

    async def fetch() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ronda") as client:
            return await client.get(path, headers={"Authorization": f"Bearer {token}"})

    response = asyncio.run(fetch())
    assert response.status_code == 200, response.text
    return response.text
