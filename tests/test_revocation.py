"""Revocation against a real OCSP responder and real CRLs on loopback: a revoked
certificate is down with when and why; a CA that cannot be asked, or whose answer
cannot be trusted, is a warning, never an outage."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from ronda.certs.revocation import (
    Answer,
    findings,
    ocsp_get_url,
    ocsp_request,
    read_crl,
    read_ocsp_response,
    revocation_deadline,
)
from ronda.check import run_check
from ronda.probes.base import ProbeContext
from ronda.target import CheckOptions, parse_target
from ronda.verdict import iso
from ronda.world.ocsp import OcspResponder, Revoked, Signer, crl, crl_reply, delegated_signer
from ronda.world.pki import Authority, Leaf
from ronda.world.web import WebServer

NOW = datetime.now(UTC)
REVOKED_AT = (NOW - timedelta(days=2)).replace(microsecond=0)
CA_HOST = "127.0.0.7"  # where the CA publishes: its OCSP responder and its CRL


@pytest.fixture
def ca_site(web) -> WebServer:
    return web(CA_HOST)


@pytest.fixture
def responder(ca_site, pki) -> OcspResponder:
    return OcspResponder(ca_site, pki.intermediate)


def publish_crl(ca_site: WebServer, der: bytes) -> str:
    ca_site.routes["/intermediate.crl"] = crl_reply(der)
    return ca_site.url("/intermediate.crl")


def serve(web, check, pki, leaf: Leaf, scheme: str = "https"):
    """Serve `leaf` as shop.test and check it."""
    server = web("127.0.0.1", tls=pki.context_for(leaf))
    return check(f"{scheme}://shop.test:{server.port}/", resolve={("shop.test", server.port): ("127.0.0.1",)})


def warning_codes(verdict) -> list[str]:
    return [w.code for w in verdict.warnings]


# --- against the responder and the CRL ------------------------------------------------


def test_a_certificate_revoked_per_ocsp_is_down_with_when_and_why(web, pki, check, responder):
    leaf = pki.leaf("shop.test", ocsp_url=responder.url())
    responder.revoke(leaf.cert, REVOKED_AT, x509.ReasonFlags.key_compromise)
    verdict = serve(web, check, pki, leaf)
    assert (verdict.status, verdict.cause) == ("down", "cert_revoked")
    assert f"revoked on {iso(REVOKED_AT)} (reason: keyCompromise)" in verdict.summary
    assert "OCSP responder" in verdict.summary
    assert "cert_revoked" in verdict.certificates[0].problems


def test_a_good_ocsp_answer_keeps_the_site_up_without_warnings(web, pki, check, responder):
    leaf = pki.leaf("shop.test", ocsp_url=responder.url())
    responder.good(leaf.cert)
    verdict = serve(web, check, pki, leaf)
    assert verdict.status == "up"
    assert verdict.warnings == ()
    assert responder.server.requests == 1


def test_with_the_responder_down_a_crl_that_lists_the_certificate_still_finds_it_revoked(
    web, pki, check, ca_site, free_port
):
    leaf = pki.leaf(
        "shop.test", ocsp_url=f"http://127.0.0.1:{free_port}/ocsp", crl_url=ca_site.url("/intermediate.crl")
    )
    publish_crl(ca_site, crl(pki.intermediate, [(leaf.cert, Revoked(REVOKED_AT, x509.ReasonFlags.superseded))]))
    verdict = serve(web, check, pki, leaf)
    assert (verdict.status, verdict.cause) == ("down", "cert_revoked")
    assert f"revoked on {iso(REVOKED_AT)} (reason: superseded), says the CRL at" in verdict.summary


def test_a_crl_that_does_not_list_the_certificate_keeps_the_site_up(web, pki, check, ca_site):
    other = pki.leaf("other.test")
    leaf = pki.leaf("shop.test", crl_url=publish_crl(ca_site, crl(pki.intermediate, [(other.cert, Revoked(NOW))])))
    verdict = serve(web, check, pki, leaf)
    assert verdict.status == "up"
    assert verdict.warnings == ()


def test_an_unreachable_responder_and_no_crl_is_a_warning_not_an_outage(web, pki, check, free_port):
    leaf = pki.leaf("shop.test", ocsp_url=f"http://127.0.0.1:{free_port}/ocsp")
    verdict = serve(web, check, pki, leaf)
    assert verdict.status == "up"
    assert warning_codes(verdict) == ["cert_revocation_unknown"]
    assert f"the OCSP responder at http://127.0.0.1:{free_port}/ocsp gave nothing usable" in verdict.warnings[0].detail
    assert "cert_revocation_unknown" in verdict.certificates[0].problems


def test_an_ocsp_answer_signed_by_another_key_is_a_warning_not_good(web, pki, check, responder):
    impostor = Authority.root("impostor")
    responder.signer = Signer(impostor.cert, impostor.key)
    leaf = pki.leaf("shop.test", ocsp_url=responder.url())
    responder.good(leaf.cert)
    verdict = serve(web, check, pki, leaf)
    assert verdict.status == "up"
    assert warning_codes(verdict) == ["cert_revocation_unknown"]
    assert "signed by CN=impostor" in verdict.warnings[0].detail


def test_a_responder_that_will_not_answer_for_the_certificate_is_a_warning(web, pki, check, responder):
    leaf = pki.leaf("shop.test", ocsp_url=responder.url())  # never registered with the responder
    verdict = serve(web, check, pki, leaf)
    assert verdict.status == "up"
    assert warning_codes(verdict) == ["cert_revocation_unknown"]
    assert "answered 'unauthorized'" in verdict.warnings[0].detail


def test_a_stale_crl_is_a_warning(web, pki, check, ca_site):
    long_ago = NOW - timedelta(days=10)
    der = crl(pki.intermediate, this_update=long_ago, next_update=long_ago + timedelta(days=1))
    leaf = pki.leaf("shop.test", crl_url=publish_crl(ca_site, der))
    verdict = serve(web, check, pki, leaf)
    assert verdict.status == "up"
    assert warning_codes(verdict) == ["cert_revocation_unknown"]
    assert "out of date" in verdict.warnings[0].detail


def test_a_stale_ocsp_answer_is_a_warning(web, pki, check, responder):
    responder.age = timedelta(days=2)  # thisUpdate two days ago, nextUpdate twelve hours later
    leaf = pki.leaf("shop.test", ocsp_url=responder.url())
    responder.good(leaf.cert)
    verdict = serve(web, check, pki, leaf)
    assert warning_codes(verdict) == ["cert_revocation_unknown"]
    assert "out of date" in verdict.warnings[0].detail


def test_a_responder_delegated_by_the_issuer_is_believed(web, pki, check, responder):
    responder.signer = delegated_signer(pki.intermediate)
    leaf = pki.leaf("shop.test", ocsp_url=responder.url())
    responder.revoke(leaf.cert, REVOKED_AT)
    verdict = serve(web, check, pki, leaf)
    assert verdict.cause == "cert_revoked"


def test_a_delegate_without_the_ocsp_signing_purpose_is_not_believed(web, pki, check, responder):
    responder.signer = delegated_signer(pki.intermediate, ocsp_signing=False)
    leaf = pki.leaf("shop.test", ocsp_url=responder.url())
    responder.revoke(leaf.cert, REVOKED_AT)
    verdict = serve(web, check, pki, leaf)
    assert verdict.status == "up"
    assert "not an OCSP responder" in verdict.warnings[0].detail


def test_a_responder_that_does_not_know_the_certificate_defers_to_the_crl(web, pki, check, responder, ca_site):
    leaf = pki.leaf("shop.test", ocsp_url=responder.url(), crl_url=ca_site.url("/intermediate.crl"))
    responder.unknown(leaf.cert)
    publish_crl(ca_site, crl(pki.intermediate, [(leaf.cert, Revoked(REVOKED_AT, None))]))
    verdict = serve(web, check, pki, leaf)
    assert verdict.cause == "cert_revoked"
    assert f"revoked on {iso(REVOKED_AT)}, says the CRL" in verdict.summary


def test_a_tls_target_is_checked_for_revocation_too(web, pki, check, responder):
    leaf = pki.leaf("shop.test", ocsp_url=responder.url())
    responder.revoke(leaf.cert, REVOKED_AT)
    verdict = serve(web, check, pki, leaf, scheme="tls")
    assert verdict.cause == "cert_revoked"


def test_a_good_answer_is_reused_by_the_next_check_not_asked_again(web, pki, ca_file, responder):
    leaf = pki.leaf("shop.test", ocsp_url=responder.url())
    responder.good(leaf.cert)
    server = web("127.0.0.1", tls=pki.context_for(leaf))
    target = parse_target(f"tls://shop.test:{server.port}")
    options = CheckOptions(ca_file=ca_file, resolve={("shop.test", server.port): ("127.0.0.1",)})
    ctx = ProbeContext()
    first = asyncio.run(run_check(target, options, ctx))
    second = asyncio.run(run_check(target, options, ctx))
    assert (first.status, second.status) == ("up", "up")
    assert responder.server.requests == 1


def test_an_expired_certificate_is_not_asked_about(web, pki, check, responder):
    leaf = pki.leaf("shop.test", ocsp_url=responder.url(), valid_from=NOW - timedelta(days=100), lifetime=timedelta(1))
    verdict = serve(web, check, pki, leaf)
    assert verdict.cause == "cert_expired"
    assert responder.server.requests == 0


# --- the request and answer helpers ---------------------------------------------------

OCSP_URL = "http://ocsp.test/ocsp"
CRL_URL = "http://ca.test/intermediate.crl"


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


@pytest.fixture
def leaf(pki) -> Leaf:
    return pki.leaf("shop.test")


@pytest.fixture
def offline_responder(pki) -> OcspResponder:
    """A responder whose answers are built directly, without serving them."""
    return OcspResponder(WebServer(), pki.intermediate)


def answer_for(responder: OcspResponder, leaf: Leaf, pki) -> bytes:
    """The responder's answer to a GET request about `leaf`."""
    url = ocsp_get_url(OCSP_URL, ocsp_request(der(leaf.cert), der(pki.intermediate.cert)))
    return responder.response(url.removeprefix(OCSP_URL + "/"))


# Read at the time of reading, not at NOW: the responder dates its answers by the real clock,
# and NOW is the time this module was imported, which in a long run is minutes earlier (an
# answer then looked dated in the future, past the reader's five minutes of clock skew).
def read_ocsp(body: bytes, leaf: Leaf, pki) -> Answer:
    return read_ocsp_response(body, der(leaf.cert), der(pki.intermediate.cert), datetime.now(UTC), OCSP_URL)


def read_list(body: bytes, leaf: Leaf, pki) -> Answer:
    return read_crl(body, der(leaf.cert), der(pki.intermediate.cert), datetime.now(UTC), CRL_URL)


def test_the_get_url_carries_the_request_in_url_encoded_base64(leaf, pki):
    url = ocsp_get_url(OCSP_URL + "/", ocsp_request(der(leaf.cert), der(pki.intermediate.cert)))
    encoded = url.removeprefix(OCSP_URL + "/")
    assert "/" not in encoded and "+" not in encoded and "=" not in encoded
    request = ocsp.load_der_ocsp_request(base64.b64decode(unquote(encoded)))
    assert request.serial_number == leaf.cert.serial_number
    assert request.hash_algorithm.name == "sha1"


def test_a_revoked_answer_carries_when_and_why(leaf, pki, offline_responder):
    offline_responder.revoke(leaf.cert, REVOKED_AT, x509.ReasonFlags.cessation_of_operation)
    answer = read_ocsp(answer_for(offline_responder, leaf, pki), leaf, pki)
    assert (answer.status, answer.revoked_at, answer.reason) == ("revoked", REVOKED_AT, "cessationOfOperation")


def test_a_good_answer_is_read_as_good_until_its_next_update(leaf, pki, offline_responder):
    offline_responder.good(leaf.cert)
    answer = read_ocsp(answer_for(offline_responder, leaf, pki), leaf, pki)
    assert answer.status == "good"
    assert answer.next_update is not None and answer.next_update > NOW


def test_an_answer_whose_signature_was_tampered_with_is_not_believed(leaf, pki, offline_responder):
    offline_responder.good(leaf.cert)
    body = bytearray(answer_for(offline_responder, leaf, pki))
    body[-1] ^= 0x01  # the signature's last byte: the answer still parses, its signature no longer holds
    answer = read_ocsp(bytes(body), leaf, pki)
    assert answer.status == "unknown"
    assert "signature does not verify" in answer.detail


def test_an_answer_about_another_certificate_is_not_taken_for_this_one(leaf, pki, offline_responder):
    other = pki.leaf("other.test")
    offline_responder.good(other.cert)
    answer = read_ocsp(answer_for(offline_responder, other, pki), leaf, pki)
    assert answer.status == "unknown"
    assert "another certificate" in answer.detail


def test_an_error_status_from_the_responder_is_named(leaf, pki, offline_responder):
    offline_responder.refuse = ocsp.OCSPResponseStatus.TRY_LATER
    answer = read_ocsp(answer_for(offline_responder, leaf, pki), leaf, pki)
    assert (answer.status, answer.detail) == ("unknown", f"the OCSP responder at {OCSP_URL} answered 'try later'")


def test_bytes_that_are_not_an_ocsp_response_are_no_answer(leaf, pki):
    assert read_ocsp(b"<html>oops</html>", leaf, pki).status == "unknown"


def test_a_crl_signed_by_another_key_is_not_believed(leaf, pki):
    answer = read_list(crl(pki.intermediate, key=Authority.root("forger").key), leaf, pki)
    assert answer.status == "unknown"
    assert "signature does not verify" in answer.detail


def test_a_crl_from_another_authority_is_not_believed(leaf, pki):
    answer = read_list(crl(pki.root), leaf, pki)
    assert answer.status == "unknown"
    assert "not by the certificate's issuer" in answer.detail


def test_a_crl_in_pem_is_read_too(leaf, pki):
    pem = x509.load_der_x509_crl(crl(pki.intermediate, [(leaf.cert, Revoked(REVOKED_AT))])).public_bytes(Encoding.PEM)
    answer = read_list(pem, leaf, pki)
    assert (answer.status, answer.revoked_at, answer.reason) == ("revoked", REVOKED_AT, "keyCompromise")


def test_a_revocation_reads_as_a_problem_with_its_time_and_reason():
    revoked = Answer(
        "revoked", "the CRL at http://ca.test/x.crl", datetime(2026, 11, 20, 10, tzinfo=UTC), "keyCompromise"
    )
    assert findings([revoked]) == (
        [
            (
                "cert_revoked",
                "revoked on 2026-11-20T10:00:00Z (reason: keyCompromise), says the CRL at http://ca.test/x.crl",
            )
        ],
        [],
    )


def test_no_answer_anywhere_reads_as_one_warning_naming_every_source():
    answers = [
        Answer("unknown", "the OCSP responder at A gave nothing usable"),
        Answer("unknown", "the CRL at B is x"),
    ]
    problems, warnings = findings(answers)
    assert problems == []
    [(code, detail)] = warnings
    assert code == "cert_revocation_unknown"
    assert "the OCSP responder at A gave nothing usable; the CRL at B is x" in detail


def test_revocation_takes_at_most_half_the_time_left_and_never_past_the_deadline():
    assert revocation_deadline(deadline=110.0, now=100.0) == 105.0
    assert revocation_deadline(deadline=101.0, now=100.0) == 100.5
    assert revocation_deadline(deadline=99.0, now=100.0) == 99.0
