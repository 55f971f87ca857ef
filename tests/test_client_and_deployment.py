"""Mutual TLS (a client certificate shown to servers that ask) and renewed certificates
that never reached the server (cert_not_deployed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from ronda.world.pki import LocalPKI
from tests.receivers import MutualTlsServer

NOW = datetime.now(UTC)


@pytest.fixture
def mtls(pki):
    server = MutualTlsServer(pki.server_context("api.test"), pki.root.cert.public_bytes(Encoding.PEM).decode())
    yield server
    server.close()


def client_files(tmp_path, pki, name="client"):
    leaf = pki.leaf(f"{name}.ronda.test", client=True)
    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert.write_bytes(leaf.chain_pem)
    key.write_bytes(leaf.key_pem)
    return str(cert), str(key)


def api(check, server, **options):
    return check(f"https://api.test:{server.port}/", resolve={("api.test", server.port): ("127.0.0.1",)}, **options)


def test_without_a_client_certificate_a_server_that_requires_one_is_down_with_a_hint(mtls, check):
    verdict = api(check, mtls)
    # The server hangs up after the handshake; its alert saying why is usually lost, so the
    # cause is what was seen, with the likely reason spelled out.
    assert verdict.status == "down"
    assert verdict.cause in ("auth_failed", "protocol_error")
    assert "client certificate" in verdict.summary


def test_with_the_client_certificate_the_server_answers(mtls, pki, check, tmp_path):
    cert, key = client_files(tmp_path, pki)
    verdict = api(check, mtls, client_cert=cert, client_key=key)
    assert verdict.status == "up", verdict.summary
    assert verdict.http is not None and verdict.http["status"] == 200


def test_a_client_certificate_from_an_unknown_issuer_is_refused_in_plain_words(mtls, check, tmp_path):
    cert, key = client_files(tmp_path, LocalPKI("stranger root"), "stranger")
    verdict = api(check, mtls, client_cert=cert, client_key=key)
    assert verdict.status == "down"
    # With TLS 1.3 the refusal comes after the handshake: read in time, its alert names the
    # reason; lost to the hang-up, the summary still points at the client certificate.
    if verdict.cause == "auth_failed":
        assert "does not trust the client certificate's issuer" in verdict.summary
    else:
        assert verdict.cause == "protocol_error" and "client certificate" in verdict.summary


def served_and_renewed(web, pki, tmp_path, renewed_issued: datetime):
    served = pki.leaf("shop.test", valid_from=NOW - timedelta(days=60))
    server = web(tls=pki.context_for(served))
    renewed = pki.leaf("shop.test", valid_from=renewed_issued)
    path = tmp_path / "site.pem"
    path.write_bytes(renewed.chain_pem + renewed.key_pem)
    return server, str(path)


def shop(check, server, path):
    return check(
        f"https://shop.test:{server.port}/", resolve={("shop.test", server.port): ("127.0.0.1",)}, deployed_from=path
    )


def test_a_renewed_certificate_the_server_does_not_serve_is_not_deployed(web, pki, check, tmp_path):
    server, path = served_and_renewed(web, pki, tmp_path, NOW - timedelta(days=1))
    verdict = shop(check, server, path)
    assert (verdict.status, verdict.cause) == ("degraded", "cert_not_deployed")
    assert f"renewal wrote a newer certificate to {path}" in verdict.summary
    assert "reload it" in verdict.summary


def test_an_older_certificate_on_disk_is_no_finding(web, pki, check, tmp_path):
    server, path = served_and_renewed(web, pki, tmp_path, NOW - timedelta(days=80))
    assert shop(check, server, path).status == "up"


def test_the_same_certificate_on_disk_and_served_is_up(web, pki, check, tmp_path):
    leaf = pki.leaf("shop.test")
    server = web(tls=pki.context_for(leaf))
    path = tmp_path / "site.pem"
    path.write_bytes(leaf.chain_pem)
    assert shop(check, server, str(path)).status == "up"


def test_an_unreadable_renewal_file_is_said(web, pki, check, tmp_path):
    server = web(tls=pki.server_context("shop.test"))
    verdict = shop(check, server, str(tmp_path / "missing.pem"))
    assert verdict.cause == "cert_not_deployed"
    assert "the renewed certificate cannot be read" in verdict.summary
