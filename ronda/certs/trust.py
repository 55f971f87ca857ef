"""What ronda trusts, as `cryptography` sees it: the system's roots plus the CA file's, the
same the verifying handshake loads, for building paths at the check's time
(ronda/certs/paths.py)."""

from __future__ import annotations

import ssl
import warnings
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import verification

from ronda.certs.inspect import CertFacts


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


@lru_cache(maxsize=16)
def store_roots(ca_file: str | None) -> tuple[bytes, ...]:
    """The roots of trust_store(ca_file), as DER."""
    roots = (*_roots(ssl.get_default_verify_paths().cafile), *_roots(ca_file))
    return tuple(dict.fromkeys(root.public_bytes(Encoding.DER) for root in roots))


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
