"""From a TLS session to the certificate's facts, problems and warnings at one address.

OpenSSL reports only the first verification error it meets; we read the certificate
ourselves so that an expired certificate for the wrong name reports both, and so that
a verification error we cannot explain from the facts still surfaces as untrusted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ronda.certs.hostname import hostname_matches
from ronda.certs.inspect import chain_entries, read_certificate
from ronda.certs.rules import days_left, expiry_warnings, validity_problems
from ronda.certs.session import TlsSession
from ronda.verdict import CertificateInfo

# OpenSSL X509_V_ERR_* codes that our own reading of the leaf already explains.
_EXPLAINED_BY = {
    9: "cert_not_yet_valid",  # X509_V_ERR_CERT_NOT_YET_VALID
    10: "cert_expired",  # X509_V_ERR_CERT_HAS_EXPIRED
    62: "cert_hostname_mismatch",  # X509_V_ERR_HOSTNAME_MISMATCH
    64: "cert_hostname_mismatch",  # X509_V_ERR_IP_ADDRESS_MISMATCH
}


@dataclass
class CertReport:
    certificate: CertificateInfo | None
    problems: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)


def analyze(
    session: TlsSession, host: str, address: str, port: int, now: datetime, warn_days: float | None
) -> CertReport:
    if session.leaf_der is None:
        return CertReport(None, [("tls_handshake_failed", "the server sent no certificate")])
    facts = read_certificate(session.leaf_der)
    chain = chain_entries(session.chain_ders)
    problems = validity_problems(facts, now)
    if not hostname_matches(host, facts.dns_names, facts.ip_addresses):
        names = ", ".join(facts.sans) or facts.subject
        problems.append(("cert_hostname_mismatch", f"the certificate is for {names}, not {host}"))
    problems += _intermediate_problems(chain, now)
    problems += _refused_handshake(session)
    problems += _unexplained_verify_error(session, problems)
    warnings = expiry_warnings(facts, now, warn_days) if not problems else []
    info = CertificateInfo(
        host=host,
        address=address,
        port=port,
        subject=facts.subject,
        issuer=facts.issuer,
        serial=facts.serial,
        sans=facts.sans,
        not_before=facts.not_before,
        not_after=facts.not_after,
        days_left=days_left(facts, now),
        fingerprint_sha256=facts.fingerprint_sha256,
        chain=chain,
        problems=tuple(code for code, _ in problems + warnings),
    )
    return CertReport(info, problems, warnings)


def _intermediate_problems(chain: tuple, now: datetime) -> list[tuple[str, str]]:
    return [
        ("cert_intermediate_expired", f"intermediate {entry.subject} expired {entry.not_after:%Y-%m-%dT%H:%M:%SZ}")
        for entry in chain
        if entry.not_after <= now
    ]


_OLD_PROTOCOLS = {"SSLv2", "SSLv3", "TLSv1", "TLSv1.1"}


def _refused_handshake(session: TlsSession) -> list[tuple[str, str]]:
    """A handshake our TLS library refused but a permissive one completed: name why."""
    if session.handshake_error is None:
        return []
    if session.version in _OLD_PROTOCOLS:
        return [("tls_protocol_too_old", f"the server speaks only {session.version}, which clients refuse")]
    return [("tls_handshake_failed", session.handshake_error)]


def _unexplained_verify_error(session: TlsSession, problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    if session.verify_error is None:
        return []
    code, message = session.verify_error
    explained = _EXPLAINED_BY.get(code)
    found = {c for c, _ in problems}
    if explained in found or (code == 10 and "cert_intermediate_expired" in found):
        return []
    return [("cert_untrusted", f"the certificate is not trusted: {message}")]
