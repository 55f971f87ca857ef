"""Certificate facts read with `cryptography`: what a certificate says, not what we think of it."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import AuthorityInformationAccessOID

from ronda.verdict import ChainEntry

T = TypeVar("T")

# Some long-lived public roots carry a non-positive serial; ronda reads them as they are
# and has nothing to tell its user about the parser's complaint (once per certificate, on
# stderr, and from reading threads where warnings cannot be caught locally).
warnings.filterwarnings(
    "ignore", message="Parsed a serial number which wasn't positive", category=CryptographyDeprecationWarning
)


class CertificateUnreadable(ValueError):
    """Bytes that are no certificate ronda can read: not DER, or a certificate whose fields
    (names, extensions, key, signature algorithm) do not parse. The message says which part."""


class CertificateDamaged(CertificateUnreadable):
    """A DER certificate, but one of its fields does not parse: not some other kind of file."""


@dataclass(frozen=True)
class CertFacts:
    subject: str
    issuer: str
    serial: str
    sans: tuple[str, ...]
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    fingerprint_sha256: str
    self_issued: bool
    key_type: str  # RSA, EC, Ed25519, Ed448, DSA
    key_bits: int
    signature_hash: str | None  # sha256, sha1, md5...; None for Ed25519 and the like
    is_ca: bool
    ca_issuer_urls: tuple[str, ...] = ()  # AIA caIssuers: where the issuer's certificate is published
    ocsp_urls: tuple[str, ...] = ()
    crl_urls: tuple[str, ...] = ()

    @property
    def lifetime_days(self) -> float:
        return (self.not_after - self.not_before).total_seconds() / 86400


# Parsing is pure in the bytes, and a monitor sees the same certificates again and again:
# caching by DER saved a tenth of a check's CPU in bench/https_throughput.py. Sized for
# installations of several thousand monitors (bench/cert_analysis.py --certs shows the
# cost of a cache too small); an entry is about 2 KB.
@lru_cache(maxsize=16384)
def read_certificate(der: bytes) -> CertFacts:
    """What the DER certificate says; CertificateUnreadable, naming the part, when it
    cannot be read."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except x509.InvalidVersion as exc:  # not a ValueError: the structure is a certificate's
        raise CertificateDamaged(f"its version is none X.509 has ({exc})") from None
    except ValueError as exc:
        raise CertificateUnreadable(f"not a DER certificate ({exc})") from None
    # cryptography reads names, extensions and the key only when asked: a certificate that
    # loads may still hold a field that does not parse, found here, part by part.
    subject = _part("subject", lambda: cert.subject.rfc4514_string())
    issuer = _part("issuer", lambda: cert.issuer.rfc4514_string())
    dns_names, ips = _part("subjectAltName", lambda: _san(cert))
    ca_issuers, ocsp = _part("Authority Information Access", lambda: _access(cert))
    key_type, key_bits = _part("public key", lambda: _key(cert))
    hash_algorithm = _part("signature algorithm", lambda: cert.signature_hash_algorithm)
    return CertFacts(
        subject=subject,
        issuer=issuer,
        serial=format(cert.serial_number, "x"),
        sans=dns_names + ips,
        dns_names=dns_names,
        ip_addresses=ips,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(),
        self_issued=cert.subject == cert.issuer,
        key_type=key_type,
        key_bits=key_bits,
        signature_hash=hash_algorithm.name if hash_algorithm else None,
        is_ca=_part("basicConstraints", lambda: _is_ca(cert)),
        ca_issuer_urls=ca_issuers,
        ocsp_urls=ocsp,
        crl_urls=_part("CRL distribution points", lambda: _crl_urls(cert)),
    )


def _part(name: str, read: Callable[[], T]) -> T:
    """One field of a certificate, or CertificateUnreadable naming it. DuplicateExtension:
    an extension twice (RFC 5280 forbids it), raised by whichever extension is read first;
    UnsupportedAlgorithm: a key or signature algorithm cryptography does not know."""
    try:
        return read()
    except x509.DuplicateExtension as exc:
        raise CertificateDamaged(f"its extensions cannot be read: {exc}") from None
    except UnsupportedAlgorithm as exc:
        raise CertificateDamaged(f"its {name} uses an algorithm ronda cannot read ({exc})") from None
    except ValueError as exc:
        raise CertificateDamaged(f"its {name} cannot be read ({exc})") from None


def _extension(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> Any:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _san(cert: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...]]:
    san = _extension(cert, x509.SubjectAlternativeName)
    if san is None:
        return (), ()
    return tuple(san.get_values_for_type(x509.DNSName)), tuple(
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    )


def _access(cert: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...]]:
    aia = _extension(cert, x509.AuthorityInformationAccess) or []
    urls = [
        (d.access_method, d.access_location.value)
        for d in aia
        if isinstance(d.access_location, x509.UniformResourceIdentifier)
    ]
    ca_issuers = tuple(url for method, url in urls if method == AuthorityInformationAccessOID.CA_ISSUERS)
    ocsp = tuple(url for method, url in urls if method == AuthorityInformationAccessOID.OCSP)
    return ca_issuers, ocsp


def _crl_urls(cert: x509.Certificate) -> tuple[str, ...]:
    points = _extension(cert, x509.CRLDistributionPoints) or []
    return tuple(
        name.value
        for point in points
        for name in (point.full_name or [])
        if isinstance(name, x509.UniformResourceIdentifier)
    )


def _is_ca(cert: x509.Certificate) -> bool:
    constraints = _extension(cert, x509.BasicConstraints)
    return bool(constraints and constraints.ca)


def _key(cert: x509.Certificate) -> tuple[str, int]:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    return type(key).__name__, 0


def chain_entry(facts: CertFacts, fetched: bool = False) -> ChainEntry:
    return ChainEntry(facts.subject, facts.issuer, facts.not_before, facts.not_after, fetched)
