"""ronda check through a real loopback DNS server: each DNS cause code, for a web check that
resolves through the server and for a dns:// target that asks it directly."""

from __future__ import annotations

import pytest

from ronda.errors import UsageError
from ronda.target import Expectations


@pytest.fixture
def zone(dns_server):
    return dns_server.zone


@pytest.fixture
def nameserver(dns_server) -> tuple[str, int]:
    return ("127.0.0.1", dns_server.port)


def dns_url(name: str, dns_server, rdtype: str = "A") -> str:
    return f"dns://{name}?type={rdtype}&server=127.0.0.1:{dns_server.port}"


# --- the four DNS failures, as an https:// check sees them ------------------------------------


def test_a_name_missing_from_the_zone_is_nxdomain(dns_server, nameserver, check):
    dns_server.zone.set("other.test", "A", "127.0.0.1")
    verdict = check("https://shop.test:8443/", nameserver=nameserver)
    assert (verdict.status, verdict.cause) == ("down", "dns_nxdomain")
    assert "shop.test does not exist" in verdict.summary
    assert verdict.addresses == ()
    assert verdict.certificates == ()


def test_a_failing_dns_server_is_servfail(zone, nameserver, check):
    zone.set("shop.test", "A", "127.0.0.1")
    zone.servfail.add("shop.test.")
    verdict = check("https://shop.test:8443/", nameserver=nameserver)
    assert (verdict.status, verdict.cause) == ("down", "dns_servfail")
    assert "failed to answer for shop.test" in verdict.summary


def test_a_silent_dns_server_is_a_dns_timeout(zone, nameserver, check):
    zone.set("shop.test", "A", "127.0.0.1")
    zone.silent.add("shop.test.")
    verdict = check("https://shop.test:8443/", nameserver=nameserver, timeout=0.5)
    assert (verdict.status, verdict.cause) == ("down", "dns_timeout")
    assert "did not answer for shop.test" in verdict.summary


def test_a_name_with_only_a_txt_record_has_no_answer(zone, nameserver, check):
    zone.set("shop.test", "TXT", '"v=spf1 -all"')
    verdict = check("https://shop.test:8443/", nameserver=nameserver)
    assert (verdict.status, verdict.cause) == ("down", "dns_no_answer")
    assert "no A records" in verdict.summary or "no AAAA records" in verdict.summary


def test_dns_failures_are_findings_for_the_name_not_for_an_address(zone, nameserver, check):
    verdict = check("https://shop.test:8443/", nameserver=nameserver)
    [finding] = verdict.findings
    assert (finding.code, finding.host, finding.address) == ("dns_nxdomain", "shop.test", None)


# --- the same four failures, as a dns:// target sees them ------------------------------------


def test_a_dns_target_for_a_missing_name_is_nxdomain(dns_server, check):
    dns_server.zone.set("other.test", "A", "127.0.0.1")
    verdict = check(dns_url("shop.test", dns_server))
    assert (verdict.status, verdict.cause) == ("down", "dns_nxdomain")
    assert verdict.dns is not None and verdict.dns["answers"] == []


def test_a_dns_target_on_a_failing_server_is_servfail(dns_server, check):
    dns_server.zone.set("shop.test", "A", "127.0.0.1")
    dns_server.zone.servfail.add("shop.test.")
    verdict = check(dns_url("shop.test", dns_server))
    assert (verdict.status, verdict.cause) == ("down", "dns_servfail")


def test_a_dns_target_on_a_silent_server_is_a_dns_timeout(dns_server, check):
    dns_server.zone.set("shop.test", "A", "127.0.0.1")
    dns_server.zone.silent.add("shop.test.")
    verdict = check(dns_url("shop.test", dns_server), timeout=0.5)
    assert (verdict.status, verdict.cause) == ("down", "dns_timeout")


def test_a_dns_target_for_a_name_without_the_asked_type_has_no_answer(dns_server, check):
    dns_server.zone.set("shop.test", "TXT", '"hello"')
    verdict = check(dns_url("shop.test", dns_server, "A"))
    assert (verdict.status, verdict.cause) == ("down", "dns_no_answer")
    assert "no A records" in verdict.summary


# --- names that resolve ------------------------------------------------------------------------


def test_a_dns_target_that_resolves_reports_its_answers(dns_server, check):
    dns_server.zone.set("shop.test", "A", "127.0.0.2", "127.0.0.3")
    verdict = check(dns_url("shop.test", dns_server))
    assert (verdict.status, verdict.cause) == ("up", None)
    assert verdict.dns is not None
    assert {key: verdict.dns[key] for key in ("name", "type", "server")} == {
        "name": "shop.test",
        "type": "A",
        "server": f"127.0.0.1:{dns_server.port}",
    }
    assert sorted(verdict.dns["answers"]) == ["127.0.0.2", "127.0.0.3"]  # a record set has no order
    assert sorted(verdict.addresses) == ["127.0.0.2", "127.0.0.3"]


def test_a_dns_target_can_ask_for_other_record_types(dns_server, check):
    dns_server.zone.set("shop.test", "TXT", '"v=spf1 -all"')
    verdict = check(dns_url("shop.test", dns_server, "TXT"))
    assert verdict.status == "up", verdict.summary
    assert verdict.dns is not None and verdict.dns["answers"] == ['"v=spf1 -all"']


def test_a_trailing_dot_on_the_name_is_the_same_name(dns_server, check):
    dns_server.zone.set("shop.test.", "A", "127.0.0.1")
    verdict = check(dns_url("shop.test.", dns_server))
    assert verdict.status == "up", verdict.summary
    assert verdict.dns is not None and verdict.dns["answers"] == ["127.0.0.1"]


def test_an_http_check_resolving_through_the_server_to_a_live_site_is_up(web, dns_server, nameserver, check):
    server = web()
    dns_server.zone.set("shop.test", "A", "127.0.0.1")
    verdict = check(f"http://shop.test:{server.port}/", nameserver=nameserver, expect=Expectations(text="Welcome"))
    assert (verdict.status, verdict.cause) == ("up", None), verdict.summary
    assert verdict.addresses == ("127.0.0.1",)
    assert server.requests == 1


def test_an_https_check_resolving_through_the_server_reads_the_certificate(web, pki, dns_server, nameserver, check):
    server = web(tls=pki.server_context("shop.test"))
    dns_server.zone.set("shop.test", "A", "127.0.0.1")
    verdict = check(f"https://shop.test:{server.port}/", nameserver=nameserver)
    assert verdict.status == "up", verdict.summary
    assert verdict.addresses == ("127.0.0.1",)
    [cert] = verdict.certificates
    assert (cert.host, cert.address, cert.sans) == ("shop.test", "127.0.0.1", ("shop.test",))


def test_every_address_the_server_gives_is_checked(web, dns_server, nameserver, check):
    first = web("127.0.0.2")
    second = web("127.0.0.3", port=first.port)
    dns_server.zone.set("shop.test", "A", "127.0.0.2", "127.0.0.3")
    verdict = check(f"http://shop.test:{first.port}/", nameserver=nameserver)
    assert verdict.status == "up", verdict.summary
    assert sorted(verdict.addresses) == ["127.0.0.2", "127.0.0.3"]
    assert (first.requests, second.requests) == (1, 1)


def test_a_name_that_resolves_to_a_dead_address_is_down_at_that_address(dns_server, nameserver, check, free_port):
    dns_server.zone.set("shop.test", "A", "127.0.0.1")
    verdict = check(f"http://shop.test:{free_port}/", nameserver=nameserver)
    assert (verdict.status, verdict.cause) == ("down", "tcp_refused")
    assert verdict.addresses == ("127.0.0.1",)


def test_a_dns_target_without_a_server_asks_the_nameserver_option(dns_server, nameserver, check):
    dns_server.zone.set("shop.test", "A", "127.0.0.1")
    verdict = check("dns://shop.test?type=A", nameserver=nameserver)
    assert verdict.status == "up", verdict.summary
    assert verdict.dns is not None and verdict.dns["server"] == f"127.0.0.1:{dns_server.port}"
    assert dns_server.queries == 1


def test_an_unknown_record_type_is_a_usage_error(dns_server, check):
    with pytest.raises(UsageError, match="unknown record type 'BOGUS'"):
        check(dns_url("shop.test", dns_server, "BOGUS"))
    assert dns_server.queries == 0


def test_a_server_that_is_not_an_address_is_a_usage_error(check):
    with pytest.raises(UsageError, match="not an IP address"):
        check("dns://shop.test?type=A&server=ns.example:53")
