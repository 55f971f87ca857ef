"""ronda check against real loopback web servers: each HTTP and TLS cause code, as a user sees it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from ronda.probes import PROBES
from ronda.target import Expectations
from ronda.world.web import Reply
from tests.support import ronda_check


def codes(verdict) -> list[str]:
    return [f.code for f in verdict.findings]


def test_a_healthy_site_is_up_with_its_certificate_read(web, pki, check):
    server = web(tls=pki.server_context("shop.test"))
    verdict = check(
        f"https://shop.test:{server.port}/",
        resolve={("shop.test", server.port): ("127.0.0.1",)},
        expect=Expectations(status=200, text="Welcome"),
    )
    assert verdict.status == "up", verdict.summary
    assert verdict.cause is None
    assert verdict.http == {"status": 200, "reason": "OK", "bytes": len(server.default.body), "version": "1.1"}
    [cert] = verdict.certificates
    assert cert.host == "shop.test" and cert.address == "127.0.0.1"
    assert cert.sans == ("shop.test",)
    assert 88 < cert.days_left < 90
    assert cert.chain and "ronda demo root" not in cert.subject
    assert verdict.warnings == ()


def test_an_expired_certificate_is_down_and_still_read(web, pki, check):
    now = datetime.now(UTC)
    server = web(
        tls=pki.server_context("shop.test", valid_from=now - timedelta(days=92), valid_until=now - timedelta(days=2))
    )
    verdict = check(f"https://shop.test:{server.port}/", resolve={("shop.test", server.port): ("127.0.0.1",)})
    assert verdict.status == "down"
    assert verdict.cause == "cert_expired"
    assert "expired 2.0 days ago" in verdict.summary
    [cert] = verdict.certificates
    assert cert.subject and cert.issuer and -2.1 < cert.days_left < -1.9
    assert cert.problems == ("cert_expired",)
    # The server itself still answers: the verdict says so too.
    assert verdict.http is not None and verdict.http["status"] == 200


def test_a_certificate_not_yet_valid_is_named(web, pki, check):
    now = datetime.now(UTC)
    server = web(tls=pki.server_context("shop.test", valid_from=now + timedelta(days=3)))
    verdict = check(f"https://shop.test:{server.port}/", resolve={("shop.test", server.port): ("127.0.0.1",)})
    assert (verdict.status, verdict.cause) == ("down", "cert_not_yet_valid")


def test_a_certificate_for_another_name_is_a_hostname_mismatch(web, pki, check):
    server = web(tls=pki.server_context("other.test"))
    verdict = check(f"https://shop.test:{server.port}/", resolve={("shop.test", server.port): ("127.0.0.1",)})
    assert (verdict.status, verdict.cause) == ("down", "cert_hostname_mismatch")
    assert "other.test" in verdict.summary


def test_a_certificate_from_an_unknown_ca_is_untrusted(web, pki, check):
    server = web(tls=pki.self_signed_context("shop.test"))
    verdict = check(f"https://shop.test:{server.port}/", resolve={("shop.test", server.port): ("127.0.0.1",)})
    assert (verdict.status, verdict.cause) == ("down", "cert_untrusted")
    assert "which is not a trusted authority" in verdict.summary


def test_without_the_ca_file_the_local_ca_is_untrusted(web, pki, check):
    server = web(tls=pki.server_context("shop.test"))
    verdict = check(
        f"https://shop.test:{server.port}/", resolve={("shop.test", server.port): ("127.0.0.1",)}, ca_file=None
    )
    assert verdict.cause == "cert_untrusted"


def test_a_server_that_answers_the_handshake_with_garbage_fails_it(web, check):
    server = web()
    server.banner = b"220 this is not TLS\r\n" * 20
    verdict = check(f"https://127.0.0.1:{server.port}/")
    assert (verdict.status, verdict.cause) == ("down", "tls_handshake_failed")
    assert "TLS handshake failed" in verdict.summary


def test_a_server_that_never_completes_the_handshake_times_out_in_it(web, check):
    server = web()  # plain HTTP waits for a request; the client waits for a ServerHello
    verdict = check(f"https://127.0.0.1:{server.port}/", timeout=0.5)
    assert (verdict.status, verdict.cause) == ("down", "tls_handshake_failed")
    assert "did not complete in time" in verdict.summary


def test_a_503_is_a_server_error(web, check):
    server = web()
    server.default = Reply(status=503, body=b"busy")
    verdict = check(server.url())
    assert (verdict.status, verdict.cause) == ("down", "http_server_error")
    assert "503" in verdict.summary


def test_a_403_is_a_client_error(web, check):
    server = web()
    server.default = Reply(status=403, body=b"no")
    verdict = check(server.url())
    assert (verdict.status, verdict.cause) == ("down", "http_client_error")


def test_an_expected_status_other_than_200_is_honoured(web, check):
    server = web()
    server.default = Reply(status=404, body=b"gone")
    assert check(server.url(), expect=Expectations(status=404)).status == "up"
    assert check(server.url(), expect=Expectations(status=200)).cause == "http_client_error"


def test_redirects_are_followed_and_loops_named(web, check):
    server = web()
    server.routes["/old"] = Reply(status=301, headers={"Location": "/"})
    server.routes["/loop"] = Reply(status=302, headers={"Location": "/loop2"})
    server.routes["/loop2"] = Reply(status=302, headers={"Location": "/loop"})
    assert check(server.url("/old")).status == "up"
    verdict = check(server.url("/loop"))
    assert (verdict.status, verdict.cause) == ("down", "http_redirect_loop")


def test_an_error_after_a_redirect_names_the_url_that_failed(web, check):
    server = web()
    server.routes["/old"] = Reply(status=301, headers={"Location": "/broken"})
    server.routes["/broken"] = Reply(status=503, body=b"busy")
    verdict = check(server.url("/old"))
    assert (verdict.status, verdict.cause) == ("down", "http_server_error")
    assert verdict.summary.startswith(f"{server.url('/broken')} (redirected from {server.url('/old')} at ")


def test_a_server_that_accepts_and_never_answers_is_an_http_timeout(web, check):
    server = web()
    server.default = Reply(mode="hang")
    verdict = check(server.url(), timeout=0.5)
    assert (verdict.status, verdict.cause) == ("down", "http_timeout")


def test_a_slow_drip_costs_the_check_its_budget_only(web, check):
    server = web()
    server.default = Reply(mode="drip")
    verdict = check(server.url(), timeout=0.6)
    assert verdict.cause == "http_timeout"
    assert verdict.latency_ms is not None and verdict.latency_ms < 1500


def test_an_endless_body_is_cut_at_a_mebibyte(web, check):
    server = web()
    server.default = Reply(mode="endless")
    verdict = check(server.url(), expect=Expectations(text="never there"))
    assert verdict.cause == "content_mismatch"
    assert verdict.http is not None and verdict.http["truncated"] is True
    assert "first MiB" in verdict.summary


def test_bytes_that_are_not_http_are_a_protocol_error(web, check):
    server = web()
    server.default = Reply(mode="garbage")
    verdict = check(server.url())
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")


def test_a_connection_closed_without_an_answer_is_an_empty_reply(web, check):
    server = web()
    server.default = Reply(mode="empty")
    verdict = check(server.url())
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert "closed the connection without answering" in verdict.summary


def test_missing_text_is_a_content_mismatch(web, check):
    server = web()
    verdict = check(server.url(), expect=Expectations(text="Goodbye"))
    assert (verdict.status, verdict.cause) == ("down", "content_mismatch")


def test_a_slow_answer_is_degraded(web, check):
    server = web()
    server.default = Reply(delay=0.3)
    verdict = check(server.url(), expect=Expectations(max_latency=0.1))
    assert (verdict.status, verdict.cause) == ("degraded", "slow_response")


def test_one_bad_address_among_good_ones_is_degraded_and_named(web, pki, check):
    now = datetime.now(UTC)
    good = web("127.0.0.2", tls=pki.server_context("shop.test"))
    stale = web(
        "127.0.0.3",
        port=good.port,
        tls=pki.server_context("shop.test", valid_from=now - timedelta(days=100), valid_until=now - timedelta(days=1)),
    )
    verdict = check(f"https://shop.test:{good.port}/", resolve={("shop.test", good.port): ("127.0.0.2", "127.0.0.3")})
    assert verdict.status == "degraded"
    assert verdict.cause == "cert_expired"
    assert verdict.addresses == ("127.0.0.2", "127.0.0.3")
    assert [f.address for f in verdict.findings] == ["127.0.0.3"]
    assert "1 of 2 addresses work" in verdict.summary
    assert {c.address for c in verdict.certificates} == {"127.0.0.2", "127.0.0.3"}
    assert stale.requests == 1


def test_a_redirect_to_another_host_with_an_expired_certificate_is_down(web, pki, check):
    now = datetime.now(UTC)
    login = web(
        "127.0.0.3",
        tls=pki.server_context("login.test", valid_from=now - timedelta(days=92), valid_until=now - timedelta(days=2)),
    )
    shop = web("127.0.0.2")
    shop.default = Reply(status=301, headers={"Location": f"https://login.test:{login.port}/"})
    verdict = check(
        f"http://shop.test:{shop.port}/",
        resolve={("shop.test", shop.port): ("127.0.0.2",), ("login.test", login.port): ("127.0.0.3",)},
    )
    # Nobody who reaches shop.test can get the page: down, and the finding says where it broke.
    assert (verdict.status, verdict.cause) == ("down", "cert_expired")
    assert "login.test at 127.0.0.3" in verdict.summary
    assert [c.host for c in verdict.certificates] == ["login.test"]


# Location values a browser repairs and follows (WHATWG URL): ronda follows them too.
REPAIRED_REDIRECTS = [
    ("/x y", "/x%20y"),
    ("/café", "/caf%C3%A9"),
    ("/a?q=à b", "/a"),
    ("  /tabbed\t\n ", "/tabbed"),
]


@pytest.mark.parametrize(("location", "lands_on"), REPAIRED_REDIRECTS)
def test_a_redirect_a_browser_repairs_is_followed(web, check, location, lands_on):
    server = web()
    server.default = Reply(status=404, body=b"not here")
    server.routes["/old"] = Reply(status=302, headers={"Location": location})
    server.routes[lands_on] = Reply(body=b"Welcome")
    verdict = check(server.url("/old"), expect=Expectations(status=200, text="Welcome"))
    assert verdict.status == "up", verdict.summary


# Location values no browser can follow: each is a finding in plain words, never a traceback
# or a kept old state.
BROKEN_REDIRECTS = [
    ("http://shop.test:99999/", "its port is not a number from 1 to 65535"),
    ("http://shop.test:eighty/", "its port is not a number from 1 to 65535"),
    ("http://shop.test:0/", "its port is not a number from 1 to 65535"),
    ("http://[::1/", "its IPv6 address is broken"),
    ("http://[1::2::3]/", "IPv6"),
    ("http://a b.test/", "is not a host name"),
    ("http://" + "a" * 70 + ".test/", "is not a valid domain name"),
    ("http://shop\x01.test/", "is not a host name"),
]


@pytest.mark.parametrize(("location", "words"), BROKEN_REDIRECTS)
def test_a_redirect_no_browser_can_follow_is_a_protocol_error(web, check, location, words):
    server = web()
    server.routes["/old"] = Reply(status=301, headers={"Location": location})
    verdict = check(server.url("/old"))
    assert (verdict.status, verdict.cause) == ("down", "protocol_error"), verdict.summary
    assert "redirects where no browser can follow" in verdict.summary and words in verdict.summary


def test_ronda_check_names_a_broken_redirect_without_a_traceback(web, repo_root):
    server = web()
    server.default = Reply(status=302, headers={"Location": "http://[::1/"})
    run = ronda_check(repo_root, server.url())
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stdout.startswith("RONDA CRITICAL - protocol_error: ") and "Traceback" not in run.stderr


def test_any_exception_inside_a_probe_ends_in_a_verdict(web, check, monkeypatch):
    """The net under every probe: a fault no probe foresaw is the check's failure in words."""
    server = web()

    async def probe_that_breaks(*_args: object) -> None:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    monkeypatch.setitem(PROBES, "http", dataclasses.replace(PROBES["http"], probe=probe_that_breaks))
    verdict = check(server.url())
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert "could not read what" in verdict.summary and "UnicodeDecodeError" in verdict.summary
