"""How many handshakes a check costs when the certificate fails verification, counted on a
real loopback TLS server, and what the verdict says each time: the same as the check that
verified it the long way (a verifying handshake, then a permissive one to read the chain)."""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime, timedelta
from typing import Any

from ronda.check import run_check
from ronda.probes.base import ProbeContext
from ronda.target import CheckOptions, Expectations, parse_target
from ronda.world.web import WebServer


class CountingServer(WebServer):
    """A WebServer that counts the handshakes it starts (each ClientHello reaches the SNI
    callback once, whatever it goes on to do)."""

    handshakes = 0

    def _pick_certificate(self, sslobj: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        self.handshakes += 1
        super()._pick_certificate(sslobj, name, ctx)


def seen(verdict_json: dict[str, Any]) -> dict[str, Any]:
    """What a user sees, less what moves from one check to the next (time, latency)."""
    shown = {k: v for k, v in verdict_json.items() if k not in ("checked_at", "latency_ms")}
    shown["certificates"] = [
        {**cert, "days_left": round(cert["days_left"])} for cert in verdict_json.get("certificates", [])
    ]
    return shown


def expired(pki: Any, name: str = "shop.test", days: int = 2) -> ssl.SSLContext:
    now = datetime.now(UTC)
    return pki.server_context(name, valid_from=now - timedelta(days=92), valid_until=now - timedelta(days=days))


def test_an_expired_certificate_costs_one_handshake_per_check_once_known(serve, pki, ca_file):
    server = serve(CountingServer("127.0.0.1", tls=expired(pki)))
    url = f"https://shop.test:{server.port}/"
    options = CheckOptions(ca_file=ca_file, resolve={("shop.test", server.port): ("127.0.0.1",)}, expect=Expectations())
    shared = ProbeContext()

    def check(ctx: ProbeContext) -> dict[str, Any]:
        return asyncio.run(run_check(parse_target(url), options, ctx)).to_json()

    long_way = check(ProbeContext())  # a context of its own: verifying handshake, then permissive
    assert server.handshakes == 2
    first, second, third = check(shared), check(shared), check(shared)
    # The shared context learns OpenSSL's verdict once (two handshakes), then reads the same
    # chain with one handshake per check.
    assert server.handshakes == 2 + 2 + 1 + 1
    assert first["status"] == "down" and first["cause"] == "cert_expired"
    assert first["http"]["status"] == 200  # the server still answers over that one connection
    [cert] = first["certificates"]
    assert cert["problems"] == ["cert_expired"] and cert["chain"] and cert["sans"] == ["shop.test"]
    assert seen(first) == seen(second) == seen(third) == seen(long_way)
    assert server.requests == 4


def test_a_renewed_certificate_is_verified_again_at_once(serve, pki, ca_file):
    server = serve(CountingServer("127.0.0.1", tls=expired(pki)))
    url = f"https://shop.test:{server.port}/"
    options = CheckOptions(ca_file=ca_file, resolve={("shop.test", server.port): ("127.0.0.1",)})
    ctx = ProbeContext()

    def check() -> dict[str, Any]:
        return asyncio.run(run_check(parse_target(url), options, ctx)).to_json()

    assert check()["cause"] == "cert_expired"
    server.set_certificate(pki.server_context("shop.test"))
    renewed = check()
    assert (renewed["status"], renewed["cause"]) == ("up", None)
    assert renewed["certificates"][0]["problems"] == []
    before = server.handshakes
    assert check()["status"] == "up"
    assert server.handshakes == before + 1  # verified the usual way: one handshake


def test_another_failing_chain_is_judged_afresh_not_taken_for_the_known_one(serve, pki, ca_file):
    server = serve(CountingServer("127.0.0.1", tls=expired(pki)))
    url = f"https://shop.test:{server.port}/"
    options = CheckOptions(ca_file=ca_file, resolve={("shop.test", server.port): ("127.0.0.1",)})
    ctx = ProbeContext()

    def check() -> dict[str, Any]:
        return asyncio.run(run_check(parse_target(url), options, ctx)).to_json()

    assert check()["cause"] == "cert_expired"
    server.set_certificate(pki.server_context("other.test"))  # valid dates, wrong name
    wrong_name = check()
    assert (wrong_name["status"], wrong_name["cause"]) == ("down", "cert_hostname_mismatch")
    assert wrong_name["certificates"][0]["sans"] == ["other.test"]
    fresh = asyncio.run(run_check(parse_target(url), options, ProbeContext())).to_json()
    assert seen(wrong_name) == seen(fresh)
