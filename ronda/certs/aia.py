"""Fetching the issuer a server forgot to send, from the address its certificate names
(Authority Information Access, caIssuers). Browsers do this silently, which is why an
incomplete chain works for them and fails for curl, Python, Java and most apps."""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from ronda.certs.inspect import CertFacts, CertificateUnreadable, read_certificate

# Many CAs publish their .p7c bundles in BER, which PKCS#7 allows; cryptography reads them
# and warns that it fell back from DER. ronda has nothing to tell its user about that.
warnings.filterwarnings("ignore", message="PKCS#7 certificates could not be parsed as DER", category=UserWarning)

Fetch = Callable[[str], Awaitable[bytes | None]]
"""fetch(url) -> the body, or None when it cannot be had in time."""

MAX_DEPTH = 3  # leaf -> intermediate -> cross-sign -> root is as deep as real chains go


async def fetch_issuers(leaf: CertFacts, fetch: Fetch) -> list[bytes]:
    """The issuers named by AIA, leaf upwards, as DER; stops at a root or a dead end."""
    found: list[bytes] = []
    current = leaf
    for _ in range(MAX_DEPTH):
        url = next((u for u in current.ca_issuer_urls if u.startswith(("http://", "https://"))), None)
        if url is None:
            break
        body = await fetch(url)
        der = issuer_certificate(body) if body else None
        if der is None:
            break
        try:
            current = read_certificate(der)
        except CertificateUnreadable:
            break  # a certificate no reader can use completes no chain
        found.append(der)
        if current.self_issued:
            break
    return found


def issuer_certificate(body: bytes) -> bytes | None:
    """The first certificate in an AIA answer: DER (the norm), PEM, or a PKCS#7 bundle."""
    for load in (_der, _pem, _pkcs7):
        try:
            return load(body)
        # InvalidVersion: a certificate of no X.509 version; UnsupportedAlgorithm: PKCS#7
        # other than a bundle of certificates (signed or enveloped data).
        except (ValueError, x509.InvalidVersion, UnsupportedAlgorithm):
            continue
    return None


def _der(body: bytes) -> bytes:
    return x509.load_der_x509_certificate(body).public_bytes(Encoding.DER)


def _pem(body: bytes) -> bytes:
    return x509.load_pem_x509_certificate(body).public_bytes(Encoding.DER)


def _pkcs7(body: bytes) -> bytes:
    loader = (
        pkcs7.load_pem_pkcs7_certificates if body.lstrip().startswith(b"-----") else pkcs7.load_der_pkcs7_certificates
    )
    certificates = loader(body)
    if not certificates:
        raise ValueError("empty PKCS#7 bundle")
    return certificates[0].public_bytes(Encoding.DER)
