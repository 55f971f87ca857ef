"""ronda's own connectivity: canaries, and the share of monitors failing at once."""

from __future__ import annotations

import asyncio

import pytest

from ronda.config.load import load_config
from ronda.service.connectivity import Connectivity, many_failing
from ronda.service.runner import CANARY_NAME, canary_urls
from ronda.target import CheckOptions, parse_target


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


@pytest.mark.parametrize(
    ("yaml", "expected"),
    [
        ("defaults: {nameserver: '127.0.0.1:5353'}\n", [f"dns://{CANARY_NAME}?server=127.0.0.1:5353"]),
        ("defaults: {nameserver: '127.0.0.1:5353'}\ncanaries: []\n", []),
        ("{}\n", []),
        ("canaries: ['tcp://127.0.0.1:22']\n", ["tcp://127.0.0.1:22"]),
    ],
    ids=[
        "by default the configured resolver is the canary",
        "an empty list turns the check off",
        "with no resolver configured there is no default",
        "named canaries are used as they are",
    ],
)
def test_which_canaries_a_config_gets(tmp_path, yaml, expected):
    path = tmp_path / "ronda.yaml"
    path.write_text(yaml)
    assert canary_urls(load_config(str(path), {})) == expected
