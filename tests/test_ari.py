"""ACME Renewal Information: where a monitor names its CA's ACME directory, the CA's
suggested window decides when renewal is overdue, instead of the lifetime rule."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ronda.certs.ari import cert_id
from ronda.world.web import Reply

NOW = datetime.now(UTC)


def acme(web, windows: dict[str, tuple[datetime, datetime]]):
    """A loopback ACME server: a directory, and renewalInfo answers for the certificates given."""
    server = web("127.0.0.9")
    base = f"http://acme.test:{server.port}"
    server.routes["/directory"] = Reply(
        body=json.dumps({"renewalInfo": f"{base}/renewal-info"}).encode(), headers={"Content-Type": "application/json"}
    )

    def renewal_info(path: str) -> Reply:
        window = windows.get(path.rsplit("/", 1)[-1])
        if window is None:
            return Reply(status=404, body=b"{}")
        start, end = window
        body = {
            "suggestedWindow": {
                "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        }
        return Reply(body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})

    server.handlers["/renewal-info/"] = renewal_info
    return server, f"{base}/directory"


def expected_id(leaf) -> str:
    aki = leaf.cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    serial = leaf.cert.serial_number
    raw = serial.to_bytes((serial.bit_length() + 8) // 8, "big")
    return (
        base64.urlsafe_b64encode(aki).rstrip(b"=").decode() + "." + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    )


def check_shop(web, pki, check, leaf, windows):
    shop = web(tls=pki.context_for(leaf))
    server, directory = acme(web, {expected_id(leaf): w for w in windows})
    return check(
        f"https://shop.test:{shop.port}/",
        acme_directory=directory,
        resolve={("shop.test", shop.port): ("127.0.0.1",), ("acme.test", server.port): ("127.0.0.9",)},
    )


def codes(verdict) -> list[str]:
    return [w.code for w in verdict.warnings]


def test_the_certificate_id_follows_rfc_9773(pki):
    leaf = pki.leaf("shop.test")
    assert cert_id(leaf.cert.public_bytes(Encoding.DER)) == expected_id(leaf)


def test_a_closed_renewal_window_is_overdue_even_for_a_young_certificate(web, pki, check):
    leaf = pki.leaf("shop.test", valid_from=NOW - timedelta(days=10))  # the lifetime rule sees nothing wrong
    verdict = check_shop(web, pki, check, leaf, [(NOW - timedelta(days=3), NOW - timedelta(days=1))])
    assert verdict.status == "up"
    [overdue] = [w for w in verdict.warnings if w.code == "cert_renewal_overdue"]
    assert "suggested renewal window (ACME Renewal Information) closed at" in overdue.detail


def test_an_open_window_keeps_an_older_certificate_quiet(web, pki, check):
    leaf = pki.leaf("shop.test", valid_from=NOW - timedelta(days=65))  # 25 of 90 days left: the rule would warn
    verdict = check_shop(web, pki, check, leaf, [(NOW + timedelta(days=1), NOW + timedelta(days=3))])
    assert "cert_renewal_overdue" not in codes(verdict)


def test_without_an_answer_from_the_ca_the_lifetime_rule_applies(web, pki, check):
    leaf = pki.leaf("shop.test", valid_from=NOW - timedelta(days=65))
    verdict = check_shop(web, pki, check, leaf, [])  # the CA answers 404 for this certificate
    assert "cert_renewal_overdue" in codes(verdict)
