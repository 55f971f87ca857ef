"""Renewed but not deployed: the certificate that renewal wrote to disk is newer than the
one the server still serves (the Google Voice 2021 shape: the new certificate existed, the
old one expired in service)."""

from __future__ import annotations

from ronda.certs.inspect import CertFacts


def not_deployed(served: CertFacts, renewed: CertFacts, path: str) -> str | None:
    """Why the served certificate is behind the renewed one, or None when it is current."""
    if served.fingerprint_sha256 == renewed.fingerprint_sha256 or renewed.not_before <= served.not_before:
        return None
    return (
        f"renewal wrote a newer certificate to {path} (issued {renewed.not_before:%Y-%m-%dT%H:%M:%SZ}, expires "
        f"{renewed.not_after:%Y-%m-%dT%H:%M:%SZ}), but the server still serves the one issued "
        f"{served.not_before:%Y-%m-%dT%H:%M:%SZ}, expiring {served.not_after:%Y-%m-%dT%H:%M:%SZ}: reload it"
    )
