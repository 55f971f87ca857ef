"""Certificate intelligence against real TLS servers: the whole chain read, each problem
named, even where OpenSSL refuses the handshake or reports only its first error."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import warnings
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from ronda.certs.inspect import read_certificate
from ronda.certs.rules import lifetime_over_policy
from ronda.world.pki import Authority, Leaf, LocalPKI
from ronda.world.web import Reply

NOW = datetime.now(UTC)


def shop(web, check, tls, host="127.0.0.1", resolve_extra=None, **options):
    """Serve `tls` as shop.test and check it."""
    server = web(host, tls=tls)
    resolve = {("shop.test", server.port): (host,), **(resolve_extra or {})}
    return check(f"https://shop.test:{server.port}/", resolve=resolve, **options)


def test_a_weak_rsa_key_is_named_not_just_a_failed_handshake(web, pki, check):
    verdict = shop(web, check, pki.server_context("shop.test", key="rsa1024"))
    assert (verdict.status, verdict.cause) == ("down", "cert_weak_key")
    assert "RSA key has 1024 bits; at least 2048 are needed" in verdict.summary
    assert verdict.certificates[0].sans == ("shop.test",)


def test_a_sha1_signature_is_named(web, pki, check):
    verdict = shop(web, check, pki.server_context("shop.test", sha1=True))
    assert (verdict.status, verdict.cause) == ("down", "cert_weak_signature")
    assert "signed with SHA1" in verdict.summary


def test_an_expired_intermediate_is_named_with_its_subject(web, pki, check):
    old = pki.root.child("old intermediate", valid_from=NOW - timedelta(days=400), valid_until=NOW - timedelta(days=3))
    verdict = shop(web, check, pki.server_context("shop.test", issuer=old, valid_from=NOW - timedelta(days=10)))
    assert (verdict.status, verdict.cause) == ("down", "cert_intermediate_expired")
    assert "intermediate CN=old intermediate" in verdict.summary
    assert verdict.certificates[0].chain[0].subject.startswith("CN=old intermediate")


def test_an_intermediate_about_to_expire_is_a_warning(web, pki, check):
    ending = pki.root.child(
        "ending intermediate", valid_from=NOW - timedelta(days=5 * 365), valid_until=NOW + timedelta(days=10)
    )
    verdict = shop(web, check, pki.server_context("shop.test", issuer=ending, valid_until=NOW + timedelta(days=9)))
    assert verdict.status == "up"
    assert "cert_intermediate_expiring" in [w.code for w in verdict.warnings]


def test_a_missing_intermediate_fetched_from_aia_is_an_incomplete_chain(web, pki, check):
    issuers = web("127.0.0.9")
    issuers.routes["/intermediate.der"] = Reply(
        body=pki.intermediate.cert.public_bytes(Encoding.DER), headers={"Content-Type": "application/pkix-cert"}
    )
    tls = pki.server_context(
        "shop.test", send_chain=False, aia_issuer_url=f"http://ca.test:{issuers.port}/intermediate.der"
    )
    verdict = shop(web, check, tls, resolve_extra={("ca.test", issuers.port): ("127.0.0.9",)})
    assert (verdict.status, verdict.cause) == ("down", "cert_chain_incomplete")
    assert "browsers fetch it and may work, but curl, Python, Java and many apps fail" in verdict.summary
    [fetched] = verdict.certificates[0].chain
    assert fetched.fetched and fetched.subject.startswith("CN=ronda demo intermediate")


def test_a_missing_intermediate_that_cannot_be_fetched_is_untrusted(web, pki, check):
    verdict = shop(web, check, pki.server_context("shop.test", send_chain=False))
    assert (verdict.status, verdict.cause) == ("down", "cert_untrusted")
    assert "issued by CN=ronda demo intermediate" in verdict.summary


def test_a_self_signed_certificate_says_so(web, pki, check):
    lonely = Authority.root("shop.test self-signed")
    verdict = shop(web, check, pki.context_for(Leaf(lonely.cert, lonely.key, ())))
    assert verdict.cause in ("cert_untrusted", "cert_hostname_mismatch")
    assert any("self-signed" in f.detail for f in verdict.findings)


def test_expired_and_for_another_name_reports_both(web, pki, check):
    tls = pki.server_context("other.test", valid_from=NOW - timedelta(days=100), valid_until=NOW - timedelta(days=5))
    verdict = shop(web, check, tls)
    assert verdict.cause == "cert_expired"
    assert {f.code for f in verdict.findings} == {"cert_expired", "cert_hostname_mismatch"}


def test_a_wildcard_covers_one_label_on_a_real_server(web, pki, check):
    server = web(tls=pki.server_context("*.shop.test"))
    good = check(f"https://www.shop.test:{server.port}/", resolve={("www.shop.test", server.port): ("127.0.0.1",)})
    bad = check(f"https://a.b.shop.test:{server.port}/", resolve={("a.b.shop.test", server.port): ("127.0.0.1",)})
    assert good.status == "up"
    assert bad.cause == "cert_hostname_mismatch"


def test_a_server_that_speaks_only_tls_1_0_is_named_and_its_certificate_read(web, pki, check):
    tls = pki.server_context("shop.test")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # that is the point of this server
        tls.minimum_version = tls.maximum_version = ssl.TLSVersion.TLSv1
    verdict = shop(web, check, tls)
    assert (verdict.status, verdict.cause) == ("down", "tls_protocol_too_old")
    assert "TLSv1" in verdict.summary
    assert verdict.certificates[0].sans == ("shop.test",)


@pytest.mark.parametrize(
    ("issued", "lifetime", "over"),
    [
        (datetime(2025, 6, 1, tzinfo=UTC), 398, False),
        (datetime(2025, 6, 1, tzinfo=UTC), 399, True),
        (datetime(2026, 3, 14, tzinfo=UTC), 398, False),
        (datetime(2026, 3, 15, tzinfo=UTC), 200, False),
        (datetime(2026, 3, 15, tzinfo=UTC), 201, True),
        (datetime(2027, 3, 15, tzinfo=UTC), 101, True),
        (datetime(2029, 3, 15, tzinfo=UTC), 47, False),
        (datetime(2029, 3, 15, tzinfo=UTC), 48, True),
        (datetime(2019, 1, 1, tzinfo=UTC), 825, False),
    ],
    ids=[
        "398 days was the limit in 2025",
        "399 days broke it",
        "the day before the 2026 change still allowed 398",
        "from 15 March 2026, 200 days is the limit",
        "and 201 breaks it",
        "from 15 March 2027, 100 days",
        "from 15 March 2029, 47 days are fine",
        "and 48 are not",
        "before the policy, nothing is judged",
    ],
)
def test_the_lifetime_policy_follows_the_ca_browser_forum_dates(issued, lifetime, over):
    facts = read_certificate(
        LocalPKI()
        .leaf("shop.test", valid_from=issued, lifetime=timedelta(days=lifetime))
        .cert.public_bytes(Encoding.DER)
    )
    assert (lifetime_over_policy(facts) is not None) is over


def test_a_publicly_trusted_certificate_longer_than_policy_warns(web, pki, tmp_path, repo_root):
    # Make the test CA a "public" root for one ronda process, as if it were in the system store.
    bundle = tmp_path / "system-roots.pem"
    pki.write_ca(str(bundle))
    server = web(tls=pki.server_context("shop.test", valid_from=NOW - timedelta(days=1), lifetime=timedelta(days=300)))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "ronda",
            "check",
            f"https://shop.test:{server.port}/",
            "--json",
            "--resolve",
            f"shop.test:{server.port}:127.0.0.1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=repo_root,
        env={**os.environ, "SSL_CERT_FILE": str(bundle)},
    )
    verdict = json.loads(run.stdout)
    assert verdict["status"] == "up", verdict["summary"]
    [warning] = [w for w in verdict["warnings"] if w["code"] == "cert_lifetime_over_policy"]
    # The CA/Browser Forum's limit for a certificate issued on that day (SC-081), written out
    # here as the ballot states it, so the test holds on any date.
    issued = NOW - timedelta(days=1)
    steps = [(datetime(2029, 3, 15, tzinfo=UTC), 47), (datetime(2027, 3, 15, tzinfo=UTC), 100)]
    limit = next((days for since, days in steps if issued >= since), 200)
    assert "lifetime is 300 days" in warning["detail"] and f"at most {limit} days" in warning["detail"]
    assert run.returncode == 1


def test_a_private_ca_is_not_held_to_the_public_policy(web, pki, check):
    verdict = shop(web, check, pki.server_context("shop.test", lifetime=timedelta(days=3650)))
    assert verdict.status == "up"
    assert "cert_lifetime_over_policy" not in [w.code for w in verdict.warnings]
