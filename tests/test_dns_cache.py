"""Address lookups kept for their TTL and shared between checks (ronda/probes/dnscache.py),
against a real DNS server on loopback that counts the questions it gets; time is the
cache's injected clock, so nothing here waits for a TTL to pass."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ronda.check import run_check
from ronda.probes.base import ProbeContext
from ronda.probes.dnscache import DnsCache
from ronda.target import CheckOptions, parse_target
from ronda.verdict import Verdict
from ronda.world.dnsserver import DnsServer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ctx(clock: Clock) -> ProbeContext:
    return ProbeContext(dns=DnsCache(now=clock))


@pytest.fixture
def site(web, dns_server):
    """shop.test at 127.0.0.2 (TTL 30 s), a second server at 127.0.0.3 on the same port, and
    AAAA's absence kept for 30 s too (the zone's SOA)."""
    first = web("127.0.0.2")
    web("127.0.0.3", port=first.port)
    dns_server.zone.ttl = 30
    dns_server.zone.negative_ttl = 30
    dns_server.zone.set("shop.test", "A", "127.0.0.2")
    return first


def check(ctx: ProbeContext, port: int, server: DnsServer, **options: Any) -> Verdict:
    opts = CheckOptions(nameserver=("127.0.0.1", server.port), **options)
    return asyncio.run(run_check(parse_target(f"http://shop.test:{port}/"), opts, ctx))


def test_an_answer_is_kept_for_its_ttl_then_asked_again(site, dns_server, ctx, clock):
    assert check(ctx, site.port, dns_server).addresses == ("127.0.0.2",)
    assert dns_server.queries == 2  # A and AAAA
    dns_server.zone.set("shop.test", "A", "127.0.0.3")  # the record changes at the authority
    clock.now += 29
    kept = check(ctx, site.port, dns_server)
    assert (kept.status, kept.addresses) == ("up", ("127.0.0.2",))
    assert dns_server.queries == 2
    clock.now += 2  # past the TTL
    assert check(ctx, site.port, dns_server).addresses == ("127.0.0.3",)
    assert dns_server.queries == 4


def test_checks_that_ask_at_once_share_one_query(site, dns_server, ctx):
    dns_server.zone.slow("shop.test", 0.3)  # all five ask while the first question is out

    async def five() -> list[Verdict]:
        target = parse_target(f"http://shop.test:{site.port}/")
        opts = CheckOptions(nameserver=("127.0.0.1", dns_server.port))
        return await asyncio.gather(*(run_check(target, opts, ctx) for _ in range(5)))

    verdicts = asyncio.run(five())
    assert [v.status for v in verdicts] == ["up"] * 5
    assert dns_server.queries == 2
    assert ctx.dns.queries == 2


def test_a_failure_is_never_kept(site, dns_server, ctx):
    dns_server.zone.servfail.add("shop.test.")
    failed = check(ctx, site.port, dns_server)
    assert (failed.status, failed.cause) == ("down", "dns_servfail")
    dns_server.zone.servfail.clear()  # the authority recovers: the very next check sees it
    assert check(ctx, site.port, dns_server).status == "up"


def test_a_name_that_vanishes_fails_once_its_ttl_is_over(site, dns_server, ctx, clock):
    assert check(ctx, site.port, dns_server).status == "up"
    dns_server.zone.remove("shop.test")
    clock.now += 31
    gone = check(ctx, site.port, dns_server)
    assert (gone.status, gone.cause) == ("down", "dns_nxdomain")
    clock.now += 1
    assert check(ctx, site.port, dns_server).cause == "dns_nxdomain"  # NXDOMAIN not kept: asked again
    assert dns_server.queries == 2 + 2 + 2


def test_monitors_with_other_resolve_settings_never_share_answers(site, dns_server, world_loop, ctx):
    other = DnsServer("127.0.0.1")
    world_loop.run(other.start())
    try:
        other.zone.set("shop.test", "A", "127.0.0.3")
        assert check(ctx, site.port, dns_server).addresses == ("127.0.0.2",)
        assert check(ctx, site.port, other).addresses == ("127.0.0.3",)  # its own nameserver, asked
        assert other.queries == 2
        pinned = check(ctx, site.port, dns_server, resolve={("shop.test", site.port): ("127.0.0.3",)})
        assert pinned.addresses == ("127.0.0.3",)  # `resolve:` is read before anything kept
        assert check(ctx, site.port, dns_server).addresses == ("127.0.0.2",)
    finally:
        world_loop.run(other.stop())
