"""ronda's own connectivity: canaries, and the share of monitors failing at once."""

from __future__ import annotations

import asyncio
import json

import pytest

from ronda.config.load import load_config
from ronda.node.runner import CANARY_NAME, canary_urls
from ronda.service.connectivity import Connectivity, gateway_from_routes, many_failing
from ronda.target import CheckOptions, parse_target
from tests.netns import CLOSED, run_in_netns
from tests.support import config_error


@pytest.mark.parametrize(
    ("failing", "total", "expected"),
    [(1, 4, False), (2, 4, True), (3, 3, False), (10, 20, True), (9, 20, False)],
    ids=[
        "one of four is a target's own problem",
        "half of four may be ronda's network",
        "three monitors are too few to tell",
        "half of twenty",
        "under half of twenty",
    ],
)
def test_many_failing_at_once(failing, total, expected):
    assert many_failing(failing, total) is expected


def test_a_spike_of_failures_asks_the_canaries_at_once(free_port):
    connectivity = Connectivity([parse_target(f"tcp://127.0.0.1:{free_port}")], CheckOptions(timeout=1.0))

    async def scenario() -> tuple[bool, bool]:
        await connectivity.recheck_if_many_fail(1, 4)
        before = connectivity.online  # one failing monitor of four: no reason to ask
        await connectivity.recheck_if_many_fail(3, 4)
        return before, connectivity.online

    assert asyncio.run(scenario()) == (True, False)
    assert connectivity.status()["canaries"][0]["cause"] == "tcp_refused"


def test_without_canaries_ronda_never_calls_itself_offline():
    connectivity = Connectivity([], CheckOptions())
    asyncio.run(connectivity.recheck_if_many_fail(20, 20))
    assert connectivity.online is True


def test_a_dns_canary_counts_any_answer_as_reachable_and_silence_as_cut(dns_server):
    async def online_after(canary: str) -> bool:
        connectivity = Connectivity([parse_target(canary)], CheckOptions(timeout=0.5))
        await connectivity.check_once()
        return connectivity.online

    canary = f"dns://{CANARY_NAME}?server=127.0.0.1:{dns_server.port}"
    assert asyncio.run(online_after(canary)) is True, "NXDOMAIN is an answer"
    dns_server.zone.silent.add(CANARY_NAME + ".")
    assert asyncio.run(online_after(canary)) is False, "silence is not"


# --- the gateway as a default canary ---------------------------------------------------------------

# /proc/net/route as the kernel writes it (addresses in hex, in the machine's byte order:
# 010200C0 is 192.0.2.1 on a little-endian machine). Tests read these texts, never the real
# table: a canary read from it would ping the machine's real gateway.
HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
DEFAULT_VIA_192_0_2_1 = "eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
LOCAL_NET = "eth0\t000200C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n"
WIFI_DEFAULT_VIA_198_51_100_1 = "wlan0\t00000000\t016433C6\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
VPN_DEFAULT_WITHOUT_GATEWAY = "tun0\t00000000\t00000000\t0001\t0\t0\t50\t00000000\t0\t0\t0\n"
DOWN_DEFAULT = "eth1\t00000000\t0A0200C0\t0002\t0\t0\t1\t00000000\t0\t0\t0\n"


@pytest.mark.parametrize(
    ("table", "byteorder", "expected"),
    [
        (HEADER + LOCAL_NET + DEFAULT_VIA_192_0_2_1, "little", "192.0.2.1"),
        (HEADER + WIFI_DEFAULT_VIA_198_51_100_1 + DEFAULT_VIA_192_0_2_1, "little", "192.0.2.1"),
        (HEADER + LOCAL_NET, "little", None),
        (HEADER + VPN_DEFAULT_WITHOUT_GATEWAY, "little", None),
        (HEADER + DOWN_DEFAULT, "little", None),
        (HEADER + "eth0\t00000000\tC0000201\t0003\t0\t0\t0\t00000000\t0\t0\t0\n", "big", "192.0.2.1"),
        (
            HEADER + "garbage\n" + "eth0\t00000000\tnot-hex\t0003\t0\t0\t0\t00000000\n" + DEFAULT_VIA_192_0_2_1,
            "little",
            "192.0.2.1",
        ),
        ("", "little", None),
    ],
    ids=[
        "the default route's gateway, past the local network's route",
        "of two default routes, the one with the lowest metric",
        "no default route: no gateway",
        "a default route without a gateway (a VPN's tunnel): none",
        "a default route that is not up: none",
        "a big-endian machine writes the bytes the other way round",
        "lines that cannot be read are passed over",
        "an empty table",
    ],
)
def test_the_gateway_is_read_from_the_route_table(table, byteorder, expected):
    assert gateway_from_routes(table, byteorder) == expected


@pytest.mark.parametrize(
    ("yaml", "routes", "expected"),
    [
        (
            "defaults: {nameserver: '127.0.0.1:5353'}\n",
            DEFAULT_VIA_192_0_2_1,
            [f"dns://{CANARY_NAME}?server=127.0.0.1:5353", "icmp://192.0.2.1"],
        ),
        ("{}\n", DEFAULT_VIA_192_0_2_1, ["icmp://192.0.2.1"]),
        ("{}\n", LOCAL_NET, []),
        ("defaults: {nameserver: '127.0.0.1:5353'}\n", LOCAL_NET, [f"dns://{CANARY_NAME}?server=127.0.0.1:5353"]),
        ("gateway: none\n", DEFAULT_VIA_192_0_2_1, []),
        ("gateway: 127.0.0.1\n", LOCAL_NET, ["icmp://127.0.0.1"]),
        ("gateway: '::1'\n", LOCAL_NET, ["icmp://[::1]"]),
        ("canaries: []\n", DEFAULT_VIA_192_0_2_1, []),
        ("canaries: ['tcp://127.0.0.1:22']\ngateway: 127.0.0.1\n", DEFAULT_VIA_192_0_2_1, ["tcp://127.0.0.1:22"]),
    ],
    ids=[
        "by default the resolver and the default route's gateway",
        "without a resolver, the gateway alone",
        "without a resolver or a default route, no canary",
        "without a default route, the resolver alone",
        "gateway: none leaves it out",
        "a gateway named by address is pinged, whatever the routes",
        "an IPv6 gateway is written in brackets",
        "an empty list still turns the check off",
        "named canaries replace the defaults, gateway included",
    ],
)
def test_which_canaries_a_config_gets(tmp_path, yaml, routes, expected):
    path, route_table = tmp_path / "ronda.yaml", tmp_path / "route"
    path.write_text(yaml)
    route_table.write_text(HEADER + routes)
    assert canary_urls(load_config(str(path), {}), route_table) == expected


def test_without_a_route_table_there_is_no_gateway_canary(tmp_path):
    path = tmp_path / "ronda.yaml"
    path.write_text("{}\n")
    assert canary_urls(load_config(str(path), {}), tmp_path / "no-such-table") == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("router.lan", "got 'router.lan'"),
        ("off", "got False (to turn it off, write none: YAML reads off and no as false)"),
        ("192.0.2.300", "got '192.0.2.300'"),
    ],
    ids=["a name is not an address", "off is YAML's false", "an address out of range"],
)
def test_a_gateway_that_is_not_auto_none_or_an_address_is_a_config_error(tmp_path, value, message):
    path = tmp_path / "ronda.yaml"
    path.write_text(f"gateway: {value}\n")
    expected = "gateway: expected auto (the default route's gateway), none, or an IP address, "
    assert config_error(str(path)) == f"{path}:1: {expected}{message}"


# ronda's canaries from a config, looked at twice inside a namespace of the test's own, whose
# resolver (a UDP port nobody answers) is silent; printed with what was logged.
CANARIES_IN_NETNS = """
import asyncio, json, logging, socket, sys
from ronda.config.schema import Config
from ronda.service.connectivity import Connectivity
from ronda.node.runner import canary_options, canary_urls
from ronda.target import parse_target

silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
silent.bind(("127.0.0.1", 0))
settings = json.loads(sys.argv[1])
if settings.pop("resolver"):
    settings["defaults"] = {"nameserver": f"127.0.0.1:{silent.getsockname()[1]}", "timeout": "1s"}
config = Config.model_validate(settings)
logged = []
logging.getLogger("ronda.connectivity").addHandler(logging.Handler())
logging.getLogger("ronda.connectivity").handlers[0].emit = lambda record: logged.append(record.getMessage())
connectivity = Connectivity([parse_target(url) for url in canary_urls(config)], canary_options(config))

async def main():
    await connectivity.check_once()
    await connectivity.check_once()

asyncio.run(main())
print(json.dumps({"status": connectivity.status(), "logged": logged}))
"""


def canaries_in_netns(settings: dict, sysctls: dict[str, str], unprivileged: bool = False) -> dict:
    done = run_in_netns(["-c", CANARIES_IN_NETNS, json.dumps(settings)], sysctls=sysctls, unprivileged=unprivileged)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("sysctls", "online"),
    [({"net.ipv4.icmp_echo_ignore_all": "1"}, False), ({}, True)],
    ids=[
        "a silent resolver and a gateway that does not answer ping: ronda is offline",
        "a silent resolver and a gateway that answers: ronda is online",
    ],
)
def test_the_gateway_canary_decides_with_the_resolver_whether_ronda_is_offline(sysctls, online):
    result = canaries_in_netns({"resolver": True, "gateway": "127.0.0.1"}, sysctls)
    status = result["status"]
    assert status["online"] is online, status
    assert [(c["target"].split("?")[0], c["cause"]) for c in status["canaries"]] == [
        (f"dns://{CANARY_NAME}", "dns_timeout"),
        ("icmp://127.0.0.1", None if online else "icmp_no_reply"),
    ]


def test_a_gateway_canary_ronda_may_not_ping_is_left_out_not_counted_as_unreachable():
    result = canaries_in_netns(
        {"resolver": False, "gateway": "127.0.0.1"}, {"net.ipv4.ping_group_range": CLOSED}, unprivileged=True
    )
    status = result["status"]
    assert status["online"] is True, "a canary that cannot be checked proves nothing: ronda stays online"
    [canary] = status["canaries"]
    assert (canary["target"], canary["status"], canary["cause"]) == ("icmp://127.0.0.1", "unknown", None)
    assert "net.ipv4.ping_group_range" in canary["detail"]
    [line] = result["logged"]  # two looks, said once
    assert line.startswith("canary icmp://127.0.0.1 is left out: icmp://127.0.0.1: this machine does not let ronda")
