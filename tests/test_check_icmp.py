"""icmp:// against real pings: on the machine's loopback (every 127.0.0.0/8 address and ::1
answer), and in network namespaces the tests make (tests/netns.py) for a host that does not
answer, one that loses pings, and a machine that does not let ronda ping at all."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from ronda.errors import NotPermittedError, UsageError
from ronda.plugin import perfdata
from ronda.probes.icmp import echo_problem, timing
from ronda.target import CheckOptions
from tests.netns import CLOSED, WIDE_OPEN, ronda_check_in_netns, run_in_netns

IGNORE_PINGS = {"net.ipv4.icmp_echo_ignore_all": "1"}


@pytest.fixture
def ping(check):
    """check(url, ...) for icmp:// targets; skipped, with the reason, where this user may not ping."""

    def run(url: str, **options: object):
        try:
            return check(url, **options)
        except NotPermittedError as exc:
            pytest.skip(str(exc))

    return run


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


# --- the machine's loopback -----------------------------------------------------------------------


def test_loopback_answers_every_echo(ping):
    verdict = ping("icmp://127.0.0.1")
    assert (verdict.status, verdict.cause) == ("up", None), verdict.summary
    assert verdict.findings == ()
    icmp = verdict.icmp
    assert (icmp["sent"], icmp["received"], icmp["loss"]) == (3, 3, 0.0)
    rtt = icmp["rtt_ms"]
    assert 0 < rtt["min"] <= rtt["avg"] <= rtt["max"]
    totals = {key: icmp[key] for key in ("sent", "received", "loss", "rtt_ms")}
    assert icmp["addresses"] == [{"address": "127.0.0.1", **totals}], "one address: its figures are the totals"
    assert verdict.latency_ms == pytest.approx(rtt["avg"], abs=0.001), "latency is the round trip, not the check"
    assert "3 of 3 echoes answered" in verdict.summary
    json.dumps(verdict.to_json())  # the icmp object is plain JSON
    assert verdict.to_json()["icmp"] == icmp


def test_count_sets_how_many_echoes_go_to_each_address(ping):
    verdict = ping("icmp://127.0.0.1?count=5")
    assert (verdict.icmp["sent"], verdict.icmp["received"]) == (5, 5)


def test_every_address_behind_a_name_is_pinged_and_reported_on_its_own(ping):
    # Ping has no port: the name's --resolve entry at any port applies.
    verdict = ping("icmp://gw.test", resolve={("gw.test", 1): ("127.0.0.2", "127.0.0.3")})
    assert verdict.status == "up", verdict.summary
    assert verdict.addresses == ("127.0.0.2", "127.0.0.3")
    assert [a["address"] for a in verdict.icmp["addresses"]] == ["127.0.0.2", "127.0.0.3"]
    assert (verdict.icmp["sent"], verdict.icmp["received"]) == (6, 6), "the totals cover every address"


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
def test_the_ipv6_loopback_answers(ping):
    verdict = ping("icmp://[::1]")
    assert verdict.status == "up", verdict.summary
    assert verdict.icmp["addresses"][0]["address"] == "::1"


def test_the_plugin_line_carries_round_trip_and_loss_as_check_ping_does(ping):
    verdict = ping("icmp://127.0.0.1")
    perf = dict(item.split("=", 1) for item in perfdata(verdict, CheckOptions()).split())
    assert perf["rta"] == f"{verdict.icmp['rtt_ms']['avg']:.3f}ms;;;0"
    assert perf["pl"] == "0%;0;99;0;100"


def test_ronda_check_pings_on_uvloop_and_prints_the_round_trips():
    result = subprocess.run(
        [sys.executable, "-m", "ronda", "check", "icmp://127.0.0.1"], capture_output=True, text=True, timeout=30
    )
    if result.returncode == 3 and "net.ipv4.ping_group_range" in result.stdout:
        pytest.skip(result.stdout.strip())
    assert result.returncode == 0, result.stdout + result.stderr
    first, *detail = result.stdout.splitlines()
    assert first.startswith("RONDA OK - icmp://127.0.0.1 is up: 3 of 3 echoes answered")
    assert " rta=" in first and " pl=0%;" in first
    assert any(line.startswith("  - 127.0.0.1: 3 of 3 answered, 0% lost, round trip min/avg/max") for line in detail)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("icmp://127.0.0.1?count=0", "count='0': expected a number of echoes from 1 to 20"),
        ("icmp://127.0.0.1?count=21", "count='21': expected a number of echoes from 1 to 20"),
        ("icmp://127.0.0.1?count=many", "count='many': expected a number of echoes from 1 to 20"),
        ("icmp://127.0.0.1:7", "icmp:// targets have no port"),
    ],
    ids=["no echoes", "too many echoes", "a count that is not a number", "a port"],
)
def test_bad_icmp_targets_are_usage_errors(check, url, message):
    with pytest.raises(UsageError, match=message):
        check(url)


# --- decisions, as tables ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "received", "expected"),
    [
        (3, 3, None),
        (3, 2, ("icmp_packet_loss", "127.0.0.2 answered 2 of 3 echo requests (33% lost)")),
        (3, 0, ("icmp_no_reply", "127.0.0.2 answered none of 3 echo requests (1.5 s allowed for each)")),
        (0, 0, ("icmp_no_reply", "the kernel sent no echo request to 127.0.0.2 (no route to it)")),
    ],
    ids=[
        "every echo answered is no problem",
        "lost echoes with replies still coming only degrade",
        "no reply at all is icmp_no_reply",
        "nothing sent (no route) is icmp_no_reply too",
    ],
)
def test_what_one_address_s_echoes_mean(sent, received, expected):
    assert echo_problem("127.0.0.2", sent, received, 1.5) == expected


@pytest.mark.parametrize(
    ("remaining", "count", "expected"),
    [(10.0, 3, (0.2, 3.2)), (0.6, 3, (0.1, 0.133)), (10.0, 1, (0.2, 10.0))],
    ids=[
        "echoes 200 ms apart share the rest of the budget",
        "a short budget shrinks the spacing so half of it is spent listening",
        "one echo waits the whole budget",
    ],
)
def test_the_echoes_fit_the_budget(remaining, count, expected):
    spacing, wait = timing(remaining, count)
    assert (spacing, wait) == pytest.approx(expected, abs=0.001)
    assert (count - 1) * spacing + count * wait == pytest.approx(remaining)


# --- namespaces of the test's own -------------------------------------------------------------------


def test_a_host_that_ignores_ping_is_down_with_icmp_no_reply():
    code, verdict = ronda_check_in_netns("icmp://127.0.0.1", "--timeout", "1.5", sysctls=IGNORE_PINGS)
    assert code == 2, verdict
    assert (verdict["status"], verdict["cause"]) == ("down", "icmp_no_reply")
    assert verdict["icmp"] | {"addresses": None} == {
        "sent": 3,
        "received": 0,
        "loss": 1.0,
        "rtt_ms": None,
        "addresses": None,
    }
    [finding] = verdict["findings"]
    assert finding["address"] == "127.0.0.1" and "port" not in finding, "ping has no port"


# The kernel is told to ignore pings; a responder of the test's own answers in its place, only
# what the test says, before the check runs.
RESPOND_THEN_CHECK = """
import subprocess, sys
from tests.netns import EchoResponder
EchoResponder(lambda destination, sequence: {answer})
done = subprocess.run([sys.executable, "-m", "ronda", "check", *sys.argv[1:]], capture_output=True, text=True)
print(done.returncode)
print(done.stdout)
"""


def check_with_responder(answer: str, url: str, *options: str) -> tuple[int, dict]:
    done = run_in_netns(["-c", RESPOND_THEN_CHECK.format(answer=answer), url, "--json", *options], sysctls=IGNORE_PINGS)
    assert done.returncode == 0, done.stdout + done.stderr
    code, verdict = done.stdout.split("\n", 1)
    return int(code), json.loads(verdict)


def test_lost_pings_with_replies_still_coming_are_degraded_not_down():
    code, verdict = check_with_responder("sequence % 2 == 0", "icmp://127.0.0.1?count=4", "--timeout", "3")
    assert code == 1, verdict
    assert (verdict["status"], verdict["cause"]) == ("degraded", "icmp_packet_loss")
    assert verdict["summary"] == "127.0.0.1 answered 2 of 4 echo requests (50% lost)"
    assert (verdict["icmp"]["sent"], verdict["icmp"]["received"], verdict["icmp"]["loss"]) == (4, 2, 0.5)


def test_one_silent_address_among_answering_ones_is_degraded_and_named():
    code, verdict = check_with_responder(
        "destination == '127.0.0.2'", "icmp://gw.test", "--resolve", "gw.test:1:127.0.0.1,127.0.0.2", "--timeout", "2"
    )
    assert code == 1, verdict
    assert (verdict["status"], verdict["cause"]) == ("degraded", "icmp_no_reply")
    assert [f["address"] for f in verdict["findings"]] == ["127.0.0.1"]
    assert "(1 of 2 addresses work)" in verdict["summary"]
    assert [(a["address"], a["received"]) for a in verdict["icmp"]["addresses"]] == [("127.0.0.1", 0), ("127.0.0.2", 3)]


@pytest.mark.parametrize(
    ("unprivileged", "groups_allowed", "url"),
    [
        (True, WIDE_OPEN, "icmp://127.0.0.1"),
        (True, WIDE_OPEN, "icmp://[::1]"),
        (False, CLOSED, "icmp://127.0.0.1"),
    ],
    ids=[
        "without CAP_NET_RAW ronda pings through an echo socket where ping_group_range admits its group",
        "the same range admits IPv6 echo sockets",
        "with CAP_NET_RAW and no group admitted ronda pings through a raw socket",
    ],
)
def test_ping_works_with_either_kind_of_socket(unprivileged, groups_allowed, url):
    if ":" in url and not _has_ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback (::1)")
    sysctls = {"net.ipv4.ping_group_range": groups_allowed}
    code, verdict = ronda_check_in_netns(url, sysctls=sysctls, unprivileged=unprivileged)
    assert code == 0, verdict
    assert verdict["icmp"]["received"] == 3


def test_a_machine_that_lets_ronda_ping_with_neither_socket_is_unknown_with_the_way_to_allow_it():
    sysctls = {"net.ipv4.ping_group_range": CLOSED}
    code, output = ronda_check_in_netns("icmp://127.0.0.1", sysctls=sysctls, unprivileged=True)
    assert code == 3, output
    assert isinstance(output, str) and output.startswith("RONDA UNKNOWN - icmp://127.0.0.1: this machine does not let")
    assert "net.ipv4.ping_group_range (now '1 0'; ronda runs as group 65534)" in output
    assert 'sysctl -w net.ipv4.ping_group_range="0 2147483647"' in output
    assert "CAP_NET_RAW" in output
    assert "Traceback" not in output


# `ronda run`'s scheduler on the same machine: the icmp monitor is said to be uncheckable once,
# and the tcp monitor beside it goes on being checked.
SCHEDULER_GOES_ON = """
import asyncio, json, logging, socket
from ronda.rules.incidents import Policy
from ronda.service.scheduler import Job, Scheduler
from ronda.target import CheckOptions, parse_target

errors = []
logging.getLogger("ronda.scheduler").addHandler(logging.Handler())
logging.getLogger("ronda.scheduler").handlers[0].emit = lambda record: errors.append(
    [record.levelname, record.getMessage(), record.exc_info is not None]
)
listener = socket.create_server(("127.0.0.1", 0))
jobs = [
    Job("gateway", parse_target("icmp://127.0.0.1"), CheckOptions(timeout=1.0), 0.1, Policy(confirm=1)),
    Job("db", parse_target(f"tcp://127.0.0.1:{listener.getsockname()[1]}"), CheckOptions(timeout=1.0), 0.1),
]
seen = {"gateway": 0, "db": 0}
enough = asyncio.Event()

async def on_verdict(job, verdict):
    seen[job.name] += 1
    if seen["db"] >= 5:
        enough.set()

async def main():
    task = asyncio.create_task(Scheduler(jobs, on_verdict).run())
    await asyncio.wait_for(enough.wait(), 30)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

asyncio.run(main())
print(json.dumps({"seen": seen, "errors": errors}))
"""


def test_in_ronda_run_a_monitor_ronda_may_not_ping_is_logged_once_and_the_others_go_on():
    done = run_in_netns(["-c", SCHEDULER_GOES_ON], sysctls={"net.ipv4.ping_group_range": CLOSED}, unprivileged=True)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["seen"]["gateway"] == 0, "no verdict is made up for a check that could not be made"
    assert result["seen"]["db"] >= 5
    [(level, message, traceback)] = result["errors"]
    assert level == "ERROR" and not traceback
    assert message.startswith("gateway cannot be checked: icmp://127.0.0.1: this machine does not let ronda")
