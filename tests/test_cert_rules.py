"""The pure certificate rules, table by table: when a certificate warns, when it is a problem,
and which names it covers. Expectations are worked out by hand from CONTRACT.md:

- `cert_expiring` when the days left fall below the threshold: 21 days (or --warn-days), or a
  quarter of the lifetime where that is shorter;
- `cert_renewal_overdue` when less than 30% of the lifetime is left.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ronda.certs.hostname import hostname_matches
from ronda.certs.inspect import CertFacts
from ronda.certs.rules import days_left, expiry_warnings, validity_problems, warn_threshold_days

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


def certificate(lifetime: float, left: float) -> CertFacts:
    """A certificate `lifetime` days long with `left` days of it remaining at NOW."""
    not_after = NOW + timedelta(days=left)
    return CertFacts(
        subject="CN=shop.test",
        issuer="CN=Test CA",
        serial="0a1b",
        sans=("shop.test",),
        dns_names=("shop.test",),
        ip_addresses=(),
        not_before=not_after - timedelta(days=lifetime),
        not_after=not_after,
        fingerprint_sha256="00" * 32,
        self_issued=False,
        key_type="EC",
        key_bits=256,
        signature_hash="sha256",
        is_ca=False,
    )


def warning_codes(lifetime: float, left: float, warn_days: float | None = None) -> list[str]:
    return [code for code, _ in expiry_warnings(certificate(lifetime, left), NOW, warn_days)]


# lifetime, days left, --warn-days, expected warnings
EXPIRY_CASES = [
    # Short-lived (6 days): threshold min(21, 1.5) = 1.5 days; overdue under 1.8 days.
    pytest.param(6, 5.5, None, [], id="a 6-day certificate just issued is quiet"),
    pytest.param(6, 3, None, [], id="a 6-day certificate at half-life is quiet"),
    pytest.param(6, 1.7, None, ["cert_renewal_overdue"], id="a 6-day certificate with 1.7 days left is overdue only"),
    pytest.param(
        6, 1, None, ["cert_expiring", "cert_renewal_overdue"], id="a 6-day certificate with 1 day left is both"
    ),
    # Let's Encrypt-sized (90 days): threshold min(21, 22.5) = 21 days; overdue under 27 days.
    pytest.param(90, 60, None, [], id="a 90-day certificate with 60 days left is quiet"),
    pytest.param(90, 30, None, [], id="a 90-day certificate with 30 days left is quiet"),
    pytest.param(
        90, 25, None, ["cert_renewal_overdue"], id="a 90-day certificate with 25 days left is overdue but not expiring"
    ),
    pytest.param(
        90, 20, None, ["cert_expiring", "cert_renewal_overdue"], id="a 90-day certificate with 20 days left is both"
    ),
    pytest.param(
        90, 5, None, ["cert_expiring", "cert_renewal_overdue"], id="a 90-day certificate with 5 days left is both"
    ),
    # A year and a month (398 days): threshold 21 days; overdue under 119.4 days.
    pytest.param(398, 200, None, [], id="a 398-day certificate with 200 days left is quiet"),
    pytest.param(398, 120, None, [], id="a 398-day certificate with 120 days left is quiet"),
    pytest.param(
        398, 119, None, ["cert_renewal_overdue"], id="a 398-day certificate with 119 days left is overdue by 30 percent"
    ),
    pytest.param(
        398,
        30,
        None,
        ["cert_renewal_overdue"],
        id="a 398-day certificate with 30 days left is overdue but not expiring",
    ),
    pytest.param(
        398, 20, None, ["cert_expiring", "cert_renewal_overdue"], id="a 398-day certificate with 20 days left is both"
    ),
    # --warn-days moves the threshold, still capped at a quarter of the lifetime.
    pytest.param(
        398,
        25,
        30,
        ["cert_expiring", "cert_renewal_overdue"],
        id="warn days of 30 make a 398-day certificate with 25 days left expiring",
    ),
    pytest.param(
        398, 25, 10, ["cert_renewal_overdue"], id="warn days of 10 keep a 398-day certificate with 25 days left quiet"
    ),
    pytest.param(6, 3, 30, [], id="warn days of 30 do not make a 6-day certificate warn all its life"),
    # Outside the validity period, warnings give way to problems.
    pytest.param(90, -1, None, [], id="an expired certificate has no expiry warnings"),
    pytest.param(90, 95, None, [], id="a certificate not yet valid has no expiry warnings"),
]


@pytest.mark.parametrize(("lifetime", "left", "warn_days", "expected"), EXPIRY_CASES)
def test_expiry_warnings(lifetime, left, warn_days, expected):
    assert warning_codes(lifetime, left, warn_days) == expected


THRESHOLD_CASES = [
    pytest.param(6, None, 1.5, id="a 6-day certificate warns at a quarter of its life"),
    pytest.param(84, None, 21, id="an 84-day certificate warns at 21 days, both rules agree"),
    pytest.param(90, None, 21, id="a 90-day certificate warns at 21 days"),
    pytest.param(398, None, 21, id="a 398-day certificate warns at 21 days"),
    pytest.param(398, 45, 45, id="a 398-day certificate warns at the chosen 45 days"),
    pytest.param(90, 45, 22.5, id="a 90-day certificate warns at a quarter of its life below the chosen 45 days"),
]


@pytest.mark.parametrize(("lifetime", "warn_days", "threshold"), THRESHOLD_CASES)
def test_warning_threshold(lifetime, warn_days, threshold):
    assert warn_threshold_days(certificate(lifetime, lifetime / 2).lifetime_days, warn_days) == pytest.approx(threshold)


def test_the_warnings_say_when_and_how_much_is_left():
    details = dict(expiry_warnings(certificate(90, 20), NOW, None))
    assert details["cert_expiring"] == "expires in 20.0 days (2026-12-13T18:00:00Z); warning threshold 21.0 days"
    assert "only 22% of its 90-day lifetime is left" in details["cert_renewal_overdue"]


# --- validity ------------------------------------------------------------------------------------

VALIDITY_CASES = [
    pytest.param(90, 45, [], id="a certificate in its validity period has no problem"),
    pytest.param(90, 0.001, [], id="a certificate with a minute and a half left is still valid"),
    pytest.param(90, 0, ["cert_expired"], id="a certificate is expired at the instant of not after"),
    pytest.param(90, -2, ["cert_expired"], id="a certificate past not after is expired"),
    pytest.param(90, 91, ["cert_not_yet_valid"], id="a certificate before not before is not yet valid"),
]


@pytest.mark.parametrize(("lifetime", "left", "expected"), VALIDITY_CASES)
def test_validity_problems(lifetime, left, expected):
    assert [code for code, _ in validity_problems(certificate(lifetime, left), NOW)] == expected


def test_an_expired_certificate_says_how_long_ago_and_when():
    [(code, detail)] = validity_problems(certificate(90, -2), NOW)
    assert (code, detail) == ("cert_expired", "expired 2.0 days ago (2026-11-21T18:00:00Z)")


def test_days_left_is_fractional_and_negative_once_expired():
    assert days_left(certificate(90, 2.75), NOW) == pytest.approx(2.75)
    assert days_left(certificate(90, -2.75), NOW) == pytest.approx(-2.75)


# --- host names ------------------------------------------------------------------------------------

# host, DNS SANs, IP SANs, matches
HOSTNAME_CASES = [
    pytest.param("shop.test", ("shop.test",), (), True, id="an exact name matches"),
    pytest.param("SHOP.Test", ("shop.test",), (), True, id="the host is compared without regard to case"),
    pytest.param("shop.test", ("Shop.TEST",), (), True, id="the certificate name is compared without regard to case"),
    pytest.param("shop.test.", ("shop.test",), (), True, id="a trailing dot on the host is the same name"),
    pytest.param("shop.test", ("shop.test.",), (), True, id="a trailing dot on the certificate name is the same name"),
    pytest.param("shop.test", ("other.test", "shop.test"), (), True, id="any of several names may match"),
    pytest.param("shop.test", ("other.test",), (), False, id="another name does not match"),
    pytest.param("shop.test", ("shop.test.evil",), (), False, id="a longer name does not match"),
    pytest.param("myshop.test", ("shop.test",), (), False, id="a suffix of the host does not match"),
    pytest.param("shop.test", (), (), False, id="a certificate without names matches nothing"),
    pytest.param("www.shop.test", ("*.shop.test",), (), True, id="a wildcard covers one left-most label"),
    pytest.param("WWW.shop.test", ("*.SHOP.test",), (), True, id="a wildcard matches without regard to case"),
    pytest.param("shop.test", ("*.shop.test",), (), False, id="a wildcard does not cover the bare domain"),
    pytest.param("a.b.shop.test", ("*.shop.test",), (), False, id="a wildcard does not cover two labels"),
    pytest.param("www.shop.test", ("www.*.test",), (), False, id="a wildcard that is not left-most matches nothing"),
    pytest.param("www.shop.test", ("w*.shop.test",), (), False, id="a partial-label wildcard matches nothing"),
    pytest.param("www.shop.test", ("*.*.test",), (), False, id="a double wildcard matches nothing"),
    pytest.param("127.0.0.1", (), ("127.0.0.1",), True, id="an IP address SAN matches that IP host"),
    pytest.param("127.0.0.1", (), ("127.0.0.2",), False, id="an IP address SAN does not match another IP"),
    pytest.param("::1", (), ("0:0:0:0:0:0:0:1",), True, id="IPv6 addresses match however they are written"),
    pytest.param(
        "127.0.0.1", ("127.0.0.1",), (), False, id="a DNS SAN never matches an IP host even if it reads the same"
    ),
    pytest.param("127.0.0.1", ("*.0.0.1",), (), False, id="a wildcard DNS SAN never matches an IP host"),
    pytest.param("localhost", (), ("127.0.0.1",), False, id="an IP address SAN does not match a name"),
]


@pytest.mark.parametrize(("host", "dns_names", "ip_addresses", "matches"), HOSTNAME_CASES)
def test_hostname_matching(host, dns_names, ip_addresses, matches):
    assert hostname_matches(host, dns_names, ip_addresses) is matches
