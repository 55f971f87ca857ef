"""Certificate facts read with `cryptography`: what a certificate says, not what we think of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ronda.verdict import ChainEntry


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

    @property
    def lifetime_days(self) -> float:
        return (self.not_after - self.not_before).total_seconds() / 86400


# Parsing is pure in the bytes, and a monitor sees the same few certificates again and
# again: caching by DER saved a tenth of a check's CPU in bench/https_throughput.py.
@lru_cache(maxsize=2048)
def read_certificate(der: bytes) -> CertFacts:
    cert = x509.load_der_x509_certificate(der)
    dns_names: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        pass
    return CertFacts(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        sans=dns_names + ips,
        dns_names=dns_names,
        ip_addresses=ips,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(),
        self_issued=cert.subject == cert.issuer,
    )


def chain_entries(ders: list[bytes]) -> tuple[ChainEntry, ...]:
    """The certificates a server sent after its leaf, in the order it sent them."""
    return tuple(_chain_entry(der) for der in ders)


@lru_cache(maxsize=2048)
def _chain_entry(der: bytes) -> ChainEntry:
    cert = x509.load_der_x509_certificate(der)
    return ChainEntry(
        subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(), not_after=cert.not_valid_after_utc
    )
