"""`ronda check` as a monitoring system runs it: a subprocess, its exit code, its first line and
its JSON, against real loopback servers started in this process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from ronda.world.web import Reply

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3

FIRST_LINE = re.compile(r"^RONDA (?P<state>OK|WARNING|CRITICAL|UNKNOWN) - (?P<summary>[^|]+?)(?: \| (?P<perf>.+))?$")
# Nagios plugin perfdata: label=value[UOM];[warn];[crit];[min];[max], trailing fields optional.
NUMBER = r"-?\d+(?:\.\d+)?"
RANGE = rf"@?(?:~|{NUMBER})?:?(?:{NUMBER})?"
PERF_ITEM = re.compile(rf"^(?P<label>[^=' ]+)=(?P<value>{NUMBER})(?P<uom>us|ms|s|%|B|KB|MB|TB|c)?(?:;{RANGE}){{0,4}}$")


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def first_line(self) -> str:
        return self.stdout.splitlines()[0] if self.stdout else ""

    def line(self) -> re.Match[str]:
        match = FIRST_LINE.match(self.first_line)
        assert match, f"not a plugin first line: {self.first_line!r}"
        return match

    def perfdata(self) -> dict[str, str]:
        perf = self.line()["perf"] or ""
        items = {}
        for item in perf.split():
            assert PERF_ITEM.match(item), f"not Nagios perfdata: {item!r}"
            label, _, rest = item.partition("=")
            items[label] = rest
        return items

    def json(self) -> dict:
        return json.loads(self.stdout)


@pytest.fixture
def ronda(repo_root, ca_file):
    """ronda(*args) runs `python -m ronda check *args --ca-file <test CA>` and returns a Run."""

    def run(*args: str, trust: bool = True) -> Run:
        env = {**os.environ, "PYTHONPATH": str(repo_root), "NO_COLOR": "1", "COLUMNS": "200"}
        extra = ["--ca-file", ca_file] if trust else []
        proc = subprocess.run(
            [sys.executable, "-m", "ronda", "check", *args, *extra],
            capture_output=True,
            text=True,
            cwd=repo_root,
            env=env,
            timeout=30,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    return run


def resolve(host: str, port: int, *addresses: str) -> list[str]:
    return ["--resolve", f"{host}:{port}:{','.join(addresses)}"]


# --- exit codes ------------------------------------------------------------------------------------


def test_a_healthy_site_exits_0_with_an_ok_line(web, pki, ronda):
    server = web(tls=pki.server_context("shop.test"))
    run = ronda(f"https://shop.test:{server.port}/", *resolve("shop.test", server.port, "127.0.0.1"))
    assert run.code == OK, run.stdout + run.stderr
    line = run.line()
    assert line["state"] == "OK"
    assert f"https://shop.test:{server.port}/ is up" in line["summary"]
    perf = run.perfdata()
    assert perf["time"].split(";")[0].endswith("s")
    assert perf["size"].startswith(f"{len(server.default.body)}B")
    days, warn, crit = perf["cert_days_left"].split(";")
    assert float(days) == pytest.approx(89, abs=1)
    # Nagios ranges: "21:" alerts below 21 days, "0:" below zero; a bare 21 would alert above it.
    assert (warn, crit) == ("21:", "0:")
    assert perf["addresses_failing"] == "0;0;0;0;1"


def test_a_short_lived_certificate_has_a_quarter_of_its_life_as_perfdata_threshold(web, pki, ronda):
    server = web(tls=pki.server_context("shop.test", lifetime=timedelta(days=6)))
    run = ronda(f"https://shop.test:{server.port}/", *resolve("shop.test", server.port, "127.0.0.1"))
    assert run.code == OK, run.stdout + run.stderr
    assert run.perfdata()["cert_days_left"].split(";")[1:] == ["1.5:", "0:"]


def test_a_certificate_expiring_in_5_days_of_90_exits_1(web, pki, ronda):
    now = datetime.now(UTC)
    server = web(
        tls=pki.server_context("shop.test", valid_from=now - timedelta(days=85), valid_until=now + timedelta(days=5))
    )
    run = ronda(f"https://shop.test:{server.port}/", *resolve("shop.test", server.port, "127.0.0.1"))
    assert run.code == WARNING, run.stdout + run.stderr
    line = run.line()
    assert line["state"] == "WARNING"
    assert line["summary"].startswith("cert_expiring: ")
    assert "expires in 5.0 days" in line["summary"]
    assert "cert_expiring" in run.stdout and "cert_renewal_overdue" in run.stdout  # the detail lists both


def test_a_slow_answer_with_max_latency_exits_1_degraded(web, ronda):
    server = web()
    server.default = Reply(delay=0.3)
    run = ronda(server.url(), "--max-latency", "0.1")
    assert run.code == WARNING, run.stdout + run.stderr
    line = run.line()
    assert line["state"] == "WARNING"
    assert line["summary"].startswith("slow_response: ")
    assert run.perfdata()["time"].split(";")[1] == "0.1", "the latency limit is the perfdata warning threshold"
    assert "status: degraded" in run.stdout


def test_a_closed_port_exits_2_critical(ronda, free_port):
    run = ronda(f"http://127.0.0.1:{free_port}/")
    assert run.code == CRITICAL, run.stdout + run.stderr
    line = run.line()
    assert line["state"] == "CRITICAL"
    assert line["summary"].startswith("tcp_refused: ")
    perf = run.perfdata()
    assert "time" in perf
    assert perf["addresses_failing"] == "1;0;0;0;1", "the only address failing is past the critical threshold"


def test_an_expired_certificate_exits_2_critical(web, pki, ronda):
    now = datetime.now(UTC)
    server = web(
        tls=pki.server_context("shop.test", valid_from=now - timedelta(days=92), valid_until=now - timedelta(days=2))
    )
    run = ronda(f"https://shop.test:{server.port}/", *resolve("shop.test", server.port, "127.0.0.1"))
    assert run.code == CRITICAL
    assert run.line()["summary"].startswith("cert_expired: ")
    assert float(run.perfdata()["cert_days_left"].split(";")[0]) == pytest.approx(-2, abs=0.1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["ftp://shop.test/"], "unsupported scheme ftp://", id="an unknown URL scheme exits 3"),
        pytest.param(["shop.test"], "unsupported scheme (none)", id="a target that is not a URL exits 3"),
        pytest.param(
            ["https://shop.test/", "--resolve", "shop.test:443"],
            "expected HOST:PORT:ADDR",
            id="a resolve entry without addresses exits 3",
        ),
        pytest.param(
            ["https://shop.test/", "--resolve", "shop.test:https:127.0.0.1"],
            "is not a port number",
            id="a resolve entry with a port that is not a number exits 3",
        ),
        pytest.param(
            ["https://shop.test/", "--resolve", "shop.test:443:shop.example"],
            "is not an IP address",
            id="a resolve entry with a name for an address exits 3",
        ),
        pytest.param(["tcp://127.0.0.1"], "need a port", id="a tcp target without a port exits 3"),
        pytest.param(
            ["https://shop.test/", "--nameserver", "ns.test"], "not an IP address", id="a bad nameserver exits 3"
        ),
        pytest.param(["https://shop.test/", "--timeout", "-1"], "must be positive", id="a negative timeout exits 3"),
        pytest.param(
            ["https://shop.test/", "--no-such-option"], "unrecognized arguments", id="an unknown option exits 3"
        ),
    ],
)
def test_bad_input_exits_3_unknown(ronda, args, message):
    run = ronda(*args)
    assert run.code == UNKNOWN, run.stdout + run.stderr
    assert run.line()["state"] == "UNKNOWN"
    assert message in run.first_line
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("kind", ["missing", "not PEM"])
def test_an_unreadable_ca_file_exits_3_unknown(web, pki, ronda, tmp_path, kind):
    server = web(tls=pki.server_context("shop.test"))
    path = tmp_path / "ca.pem"
    if kind == "not PEM":
        path.write_text("this is not a certificate\n")
    run = ronda(
        f"https://shop.test:{server.port}/",
        *resolve("shop.test", server.port, "127.0.0.1"),
        "--ca-file",
        str(path),
        trust=False,
    )
    assert run.code == UNKNOWN, run.stdout + run.stderr
    assert run.line()["state"] == "UNKNOWN"
    assert f"CA file {str(path)!r}: cannot be loaded" in run.first_line
    assert "Traceback" not in run.stderr


def test_an_unreadable_ca_file_exits_3_even_when_the_server_is_down(ronda, free_port, tmp_path):
    run = ronda(f"https://127.0.0.1:{free_port}/", "--ca-file", str(tmp_path / "missing.pem"), trust=False)
    assert run.code == UNKNOWN, run.stdout + run.stderr


# --- --json --------------------------------------------------------------------------------------------


def test_json_prints_one_verdict_object_with_the_contract_keys(web, pki, ronda):
    now = datetime.now(UTC)
    server = web(
        tls=pki.server_context("shop.test", valid_from=now - timedelta(days=92), valid_until=now - timedelta(days=2))
    )
    run = ronda(f"https://shop.test:{server.port}/", *resolve("shop.test", server.port, "127.0.0.1"), "--json")
    assert run.code == CRITICAL
    verdict = run.json()
    assert verdict["target"] == f"https://shop.test:{server.port}/"
    assert (verdict["status"], verdict["cause"]) == ("down", "cert_expired")
    assert "expired 2.0 days ago" in verdict["summary"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", verdict["checked_at"])
    assert isinstance(verdict["latency_ms"], float | int)
    assert verdict["http"]["status"] == 200
    [finding] = verdict["findings"]
    assert finding["code"] == "cert_expired"
    assert (finding["host"], finding["address"], finding["port"]) == ("shop.test", "127.0.0.1", server.port)
    assert verdict["warnings"] == []
    [cert] = verdict["certificates"]
    assert (cert["host"], cert["address"], cert["port"]) == ("shop.test", "127.0.0.1", server.port)
    assert cert["subject"] and cert["issuer"]
    assert re.fullmatch(r"[0-9a-f]+", cert["serial"])
    assert cert["sans"] == ["shop.test"]
    assert cert["not_before"].endswith("Z") and cert["not_after"].endswith("Z")
    assert cert["days_left"] == pytest.approx(-2, abs=0.1)
    assert cert["chain"] and {"subject", "not_after"} <= cert["chain"][0].keys()
    assert cert["problems"] == ["cert_expired"]


def test_json_for_a_warning_lists_the_warnings(web, pki, ronda):
    now = datetime.now(UTC)
    server = web(
        tls=pki.server_context("shop.test", valid_from=now - timedelta(days=85), valid_until=now + timedelta(days=5))
    )
    run = ronda(f"https://shop.test:{server.port}/", *resolve("shop.test", server.port, "127.0.0.1"), "--json")
    assert run.code == WARNING
    verdict = run.json()
    assert (verdict["status"], verdict["cause"], verdict["findings"]) == ("up", None, [])
    assert [w["code"] for w in verdict["warnings"]] == ["cert_expiring", "cert_renewal_overdue"]
    assert verdict["certificates"][0]["problems"] == ["cert_expiring", "cert_renewal_overdue"]


# --- options ---------------------------------------------------------------------------------------------


def test_resolve_with_two_addresses_checks_both(web, pki, ronda):
    first = web("127.0.0.2", tls=pki.server_context("shop.test"))
    second = web("127.0.0.3", port=first.port, tls=pki.server_context("shop.test"))
    run = ronda(
        f"https://shop.test:{first.port}/", *resolve("shop.test", first.port, "127.0.0.2", "127.0.0.3"), "--json"
    )
    assert run.code == OK, run.stdout + run.stderr
    verdict = run.json()
    assert verdict["addresses"] == ["127.0.0.2", "127.0.0.3"]
    assert sorted(c["address"] for c in verdict["certificates"]) == ["127.0.0.2", "127.0.0.3"]
    assert (first.requests, second.requests) == (1, 1)


def test_resolve_with_one_dead_address_of_two_exits_1_and_names_it(web, ronda):
    server = web("127.0.0.2")
    run = ronda(f"http://shop.test:{server.port}/", *resolve("shop.test", server.port, "127.0.0.2", "127.0.0.4"))
    assert run.code == WARNING, run.stdout + run.stderr
    assert run.line()["summary"].startswith("tcp_refused: 127.0.0.4:")
    assert "1 of 2 addresses work" in run.first_line
    assert run.perfdata()["addresses_failing"] == "1;0;1;0;2", "one of two failing: warning, not critical"


def test_expect_status_accepts_the_status_it_names(web, ronda):
    server = web()
    server.default = Reply(status=404, body=b"gone")
    assert ronda(server.url(), "--expect-status", "404").code == OK
    run = ronda(server.url(), "--expect-status", "200")
    assert run.code == CRITICAL
    assert run.line()["summary"].startswith("http_client_error: ")
    assert "answered 404 Not Found, expected 200" in run.first_line


def test_expect_text_passes_when_the_text_is_there_and_fails_when_not(web, ronda):
    server = web()
    assert ronda(server.url(), "--expect-text", "Welcome").code == OK
    run = ronda(server.url(), "--expect-text", "Goodbye")
    assert run.code == CRITICAL
    assert run.line()["summary"].startswith("content_mismatch: ")
    assert "'Goodbye' is not in the page" in run.first_line


def test_nameserver_resolves_through_the_given_server(web, dns_server, ronda):
    server = web()
    dns_server.zone.set("shop.test", "A", "127.0.0.1")
    run = ronda(f"http://shop.test:{server.port}/", "--nameserver", f"127.0.0.1:{dns_server.port}")
    assert run.code == OK, run.stdout + run.stderr
    gone = ronda(f"http://gone.test:{server.port}/", "--nameserver", f"127.0.0.1:{dns_server.port}")
    assert gone.code == CRITICAL
    assert gone.line()["summary"].startswith("dns_nxdomain: ")


def test_a_dns_target_prints_its_answers(dns_server, ronda):
    dns_server.zone.set("shop.test", "A", "127.0.0.1")
    run = ronda(f"dns://shop.test?type=A&server=127.0.0.1:{dns_server.port}")
    assert run.code == OK, run.stdout + run.stderr
    assert f"dns: shop.test A via 127.0.0.1:{dns_server.port}: 127.0.0.1" in run.stdout


def test_a_summary_never_breaks_the_perfdata_separator(web, ronda):
    server = web()
    run = ronda(server.url(), "--expect-text", "a|b")
    assert run.code == CRITICAL
    assert run.first_line.count("|") == 1
    assert run.perfdata()


def test_an_unreadable_client_certificate_exits_3(ronda, free_port, tmp_path):
    bogus = tmp_path / "client.pem"
    bogus.write_text("not a certificate\n")
    run = ronda(f"https://127.0.0.1:{free_port}/", "--cert", str(bogus))
    assert run.code == UNKNOWN, run.stdout + run.stderr
    assert f"client certificate {bogus}: cannot be loaded" in run.stdout
