"""`ronda discover` on a network of its own: two network namespaces joined by a veth pair
(tests/netns.py), a camera in one (ronda.world.onvif with its WS-Discovery responder), ronda
in the other. The probe really goes out as multicast to 239.255.255.250:3702 and the answer
comes back by unicast; nothing can leave the two namespaces.

The wire's addresses are from 198.18.0.0/15, the range RFC 2544 sets aside for test networks."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from ronda.config.load import load_config
from ronda.discover.add import Known, base_name, plan, unique_name
from ronda.discover.probe import Found
from tests.netns import IP, Namespace, veth_pair

CAMERA, RONDA = "198.18.0.1", "198.18.0.2"
PORT = 8000


@dataclass
class Lab:
    camera: Namespace
    ronda: Namespace

    def discover(self, *options: str) -> tuple[int, str, str]:
        command = [sys.executable, "-m", "ronda", "discover", "--timeout", "1.5s", *options]
        done = self.ronda.run(command, env={"COLUMNS": "160"})  # a wide terminal: the table's rows unwrapped
        return done.returncode, done.stdout, done.stderr

    def devices(self, *options: str) -> list[dict]:
        code, out, err = self.discover("--json", *options)
        assert code == 0, err or out
        return json.loads(out)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    camera, ronda = Namespace(), Namespace()
    device = None
    try:
        veth_pair(camera, ronda, CAMERA, RONDA)
        # ronda's side sends multicast out of the wire without being told which interface.
        assert ronda.run([IP, "route", "add", "224.0.0.0/4", "dev", "veth-b"]).returncode == 0
        where = ["--host", CAMERA, "--port", str(PORT), "--discoverable"]
        what = ["--name", "Garage Cam #2", "--model", "RC-200", "--user", "admin:secret"]
        device = camera.popen([sys.executable, "-m", "ronda.world.onvif", *where, *what])
        assert device.stdout is not None
        line = device.stdout.readline()
        assert line.startswith("ready"), line + device.stdout.read()
        yield Lab(camera, ronda)
    finally:
        if device is not None:
            device.terminate()
            device.communicate(timeout=10)  # its output read to the end, the pipe closed
        camera.close()
        ronda.close()


def test_discover_lists_the_camera_with_its_address_and_scopes(lab):
    [found] = lab.devices()
    assert found["name"] == "Garage Cam #2"
    assert found["hardware"] == "RC-200" and found["location"] == "lab"
    assert found["xaddrs"] == [f"http://{CAMERA}:{PORT}/onvif/device_service"]
    assert "onvif://www.onvif.org/name/Garage%20Cam%20%232" in found["scopes"]
    assert "onvif://www.onvif.org/hardware/RC-200" in found["scopes"]
    assert set(found["types"]) == {"dn:NetworkVideoTransmitter", "tds:Device"}
    assert found["endpoint"].startswith("urn:uuid:")
    assert found["answered_from"] == CAMERA
    assert found["monitor_url"] == f"onvif://{CAMERA}:{PORT}"
    assert (found["monitor"], found["added"]) == (None, False)


def test_discover_prints_a_table_of_what_answered(lab):
    code, out, _ = lab.discover("--interface", RONDA)
    assert code == 0
    [row] = [line for line in out.splitlines() if line.startswith("Garage Cam #2 ")]
    assert f"http://{CAMERA}:{PORT}/onvif/device_service" in row and "RC-200" in row and "lab" in row
    assert "hardware/RC-200" in out and "location/lab" in out
    assert "1 device answered" in out


CONFIG = """\
# the lab's monitors
storage: sqlite:///ronda.db
monitors:
  - name: router      # the way out
    url: tcp://198.18.0.254:22
# cameras come below
status_pages: []
"""


def test_add_writes_a_monitor_into_the_config_file_that_then_loads(lab, tmp_path):
    config = tmp_path / "ronda.yaml"
    config.write_text(CONFIG)
    code, out, err = lab.discover("--add", "--config", str(config), "--interface", RONDA)
    assert code == 0, err or out
    assert "added 1 monitor" in out and "garage-cam-2" in out
    text = config.read_text()
    assert text.startswith(CONFIG.split("# cameras come below")[0]), "the file as it was, the monitor appended"
    assert "  - name: garage-cam-2\n    url: onvif://198.18.0.1:8000\n# cameras come below\n" in text
    loaded = load_config(str(config), {})
    assert [(m.name, m.url) for m in loaded.monitors] == [
        ("router", "tcp://198.18.0.254:22"),
        ("garage-cam-2", f"onvif://{CAMERA}:{PORT}"),
    ]

    again = lab.devices("--add", "--config", str(config))
    assert (again[0]["monitor"], again[0]["added"]) == ("garage-cam-2", False), "watched already: not added twice"
    assert config.read_text() == text


def test_the_added_monitor_watches_the_camera(lab):
    """What --add wrote, with the credentials a person adds, is a working check from ronda's side."""
    done = lab.ronda.run([sys.executable, "-m", "ronda", "check", f"onvif://admin:secret@{CAMERA}:{PORT}", "--json"])
    verdict = json.loads(done.stdout)
    assert (done.returncode, verdict["status"]) == (0, "up"), verdict["summary"]
    assert verdict["onvif"]["device"]["model"] == "RC-200"


def test_add_with_storage_stores_the_monitor_as_the_api_does(lab, tmp_path):
    database = tmp_path / "ronda.db"
    [found] = lab.devices("--add", "--storage", f"sqlite:///{database}")
    assert (found["monitor"], found["added"]) == ("garage-cam-2", True)
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT name, target, source, active, spec FROM monitors").fetchall()
    [(name, target, source, active, spec)] = rows
    assert (name, target, source, active) == ("garage-cam-2", f"onvif://{CAMERA}:{PORT}", "api", 1)
    assert json.loads(spec) == {"name": "garage-cam-2", "url": f"onvif://{CAMERA}:{PORT}"}


def test_add_without_a_place_to_write_is_bad_input(lab):
    code, out, _ = lab.discover("--add")
    assert code == 3 and "--add needs --config FILE or --storage URL" in out


def test_an_interface_that_is_not_this_machines_is_named(lab):
    code, out, _ = lab.discover("--interface", "198.18.9.9")
    assert code == 3 and "--interface 198.18.9.9" in out


def test_without_a_multicast_route_the_error_says_to_name_the_interface(lab):
    """The camera's side has no route for multicast (only its wire's own network)."""
    done = lab.camera.run([sys.executable, "-m", "ronda", "discover", "--timeout", "1s"])
    assert done.returncode == 3
    assert "no route for multicast" in done.stdout and "--interface ADDR" in done.stdout


# --- names for new monitors -------------------------------------------------------------------


def found(name: str | None, xaddr: str = f"http://{CAMERA}/onvif/device_service", hardware: str = "X1") -> Found:
    scopes = [f"onvif://www.onvif.org/hardware/{hardware}"]
    if name is not None:
        scopes.append(f"onvif://www.onvif.org/name/{name}")
    return Found(f"urn:uuid:{name}-{xaddr}", ("tds:Device",), tuple(scopes), (xaddr,), CAMERA)


@pytest.mark.parametrize(
    ("announced", "expected"),
    [
        ("Garage%20Cam%20%232", "garage-cam-2"),
        ("..Front_door..", "front_door"),
        ("Caf%C3%A9%20%E2%98%95", "caf"),
        ("%E2%98%95", "x1"),  # nothing usable in the name: the hardware's
        ("a" * 80, "a" * 64),
    ],
)
def test_monitor_names_come_from_the_announced_name_in_the_letters_a_name_allows(announced, expected):
    assert base_name(found(announced), CAMERA) == expected


def test_a_device_without_name_or_hardware_is_named_after_its_address():
    assert base_name(found(None, hardware="%E2%98%95"), CAMERA) == "onvif-198.18.0.1"


def test_names_are_made_unique():
    assert unique_name("cam", {"cam", "cam-2"}) == "cam-3"
    assert len(unique_name("c" * 64, {"c" * 64})) == 64


def test_a_device_already_watched_is_not_planned_again_and_two_alike_get_two_names():
    known = [Known("porch", f"onvifs://admin:***@{CAMERA}:443"), Known("cam", "tcp://198.18.0.3:22")]
    devices = [
        found("cam", f"https://{CAMERA}/onvif/device_service"),
        found("cam", "http://198.18.0.3:8080/onvif/device_service"),
        found("cam", "http://198.18.0.4/custom/path"),
    ]
    planned = plan(devices, known)
    assert [(p.name, p.url, p.new) for p in planned] == [
        ("porch", f"onvifs://{CAMERA}", False),
        ("cam-2", "onvif://198.18.0.3:8080", True),
        ("cam-3", "onvif://198.18.0.4/custom/path", True),
    ]


def test_a_device_without_an_http_address_is_listed_but_not_planned():
    [planned] = plan([found("cam", "urn:not-http")], [])
    assert (planned.name, planned.url, planned.new) == (None, None, False)


def test_the_config_loader_refuses_nothing_add_writes(tmp_path):
    """`monitors: []` (flow style) becomes a block list that loads."""
    from ronda.discover.add import ConfigFile

    config = tmp_path / "ronda.yaml"
    config.write_text("storage: sqlite:///ronda.db\nmonitors: []\n")
    ConfigFile(str(config)).add(plan([found("Porch"), found("Porch", "http://198.18.0.5/onvif/device_service")], []))
    assert [m.name for m in load_config(str(config), {}).monitors] == ["porch", "porch-2"]
    assert "monitors:\n- name: porch\n" in config.read_text() or "monitors:\n  - name: porch\n" in config.read_text()
