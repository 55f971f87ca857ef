"""Does a chain lead to a trusted root? Asked of `cryptography`'s verifier, for the one
question OpenSSL's handshake cannot answer: would the chain verify if the server sent
the intermediates it left out (fetched from AIA)?

The verifier runs with relaxed extension policies: it is a diagnosis of a handshake
OpenSSL already refused, so what matters is whether signatures chain to a trusted root,
not every RFC 5280 profile rule (which private CAs often bend).
"""

from __future__ import annotations

import ipaddress
import ssl
import warnings
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.x509 import verification

from ronda.certs.inspect import CertFacts
from ronda.hosts import is_ip_address


@lru_cache(maxsize=16)
def _roots(path: str | None) -> tuple[x509.Certificate, ...]:
    if not path or not Path(path).is_file():
        return ()
    with warnings.catch_warnings():
        # Some long-lived public roots carry non-positive serials; they are still roots.
        warnings.simplefilter("ignore")
        return tuple(x509.load_pem_x509_certificates(Path(path).read_bytes()))


@lru_cache(maxsize=16)
def trust_store(ca_file: str | None) -> verification.Store:
    """The system's roots plus the CA file's: what the verifying handshake trusts."""
    return verification.Store([*_roots(ssl.get_default_verify_paths().cafile), *_roots(ca_file)])


@lru_cache(maxsize=1)
def _public_root_subjects() -> frozenset[str]:
    return frozenset(root.subject.rfc4514_string() for root in _roots(ssl.get_default_verify_paths().cafile))


def publicly_trusted(leaf: CertFacts, chain: list[CertFacts]) -> bool:
    """Whether the chain ends at a root of the system store (public web PKI), rather than
    at a private CA the user added: only public certificates are held to the CA/Browser
    Forum's rules. Judged by names, which is enough to choose a policy, not to trust."""
    top = chain[-1] if chain else leaf
    subjects = _public_root_subjects()
    return top.issuer in subjects or (top.self_issued and top.subject in subjects)


def _policies() -> tuple[verification.ExtensionPolicy, verification.ExtensionPolicy]:
    anything = verification.Criticality.AGNOSTIC
    ca = verification.ExtensionPolicy.permit_all().require_present(x509.BasicConstraints, anything, None)
    leaf = verification.ExtensionPolicy.permit_all().require_present(x509.SubjectAlternativeName, anything, None)
    return ca, leaf


def chains_to_root(
    leaf_der: bytes, leaf: CertFacts, intermediates: list[bytes], ca_file: str | None, now: datetime
) -> bool:
    """Whether `leaf`, with these intermediates, chains to a trusted root. Asked at a moment
    inside the leaf's validity (`now`, moved into it) and of a name the leaf carries, so that
    expiry and host name, reported on their own, do not hide the answer about trust. `now` is
    taken to the hour, so the cached answers below serve an hour of checks."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    moment = min(max(hour, leaf.not_before), leaf.not_after - timedelta(seconds=1))
    return _chains_to_root(leaf_der, leaf, tuple(intermediates), ca_file, moment)


# Two signature checks a time (~190 us, bench/cert_analysis.py): a server that leaves out its
# intermediate would pay them on every check of every address; the answer depends only on
# the certificates and the roots.
@lru_cache(maxsize=1024)
def _chains_to_root(
    leaf_der: bytes, leaf: CertFacts, intermediates: tuple[bytes, ...], ca_file: str | None, moment: datetime
) -> bool:
    if not leaf.sans:
        return False
    name = leaf.sans[0]
    subject = x509.IPAddress(ipaddress.ip_address(name)) if is_ip_address(name) else x509.DNSName(name)
    ca_policy, ee_policy = _policies()
    verifier = (
        verification.PolicyBuilder()
        .store(trust_store(ca_file))
        .time(moment)
        .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
        .build_server_verifier(subject)
    )
    try:
        verifier.verify(x509.load_der_x509_certificate(leaf_der), [_load(der) for der in intermediates])
    except (verification.VerificationError, ValueError):
        return False
    return True


def _load(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


def forget_verifications() -> None:
    """Drop the cached answers of chains_to_root (after the trust store changes; benchmarks)."""
    _chains_to_root.cache_clear()
