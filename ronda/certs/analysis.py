"""From a TLS session to the certificate's facts, problems and warnings at one address.

OpenSSL reports only the first verification error it meets. We read every certificate
ourselves, so an expired certificate for the wrong name reports both, and judge the chain
by the path a client builds to a trusted root (ronda/certs/paths.py), not by the list the
server sends: an expired certificate sent beside a valid path is a warning, not an outage.
OpenSSL's error is kept only where our own reading does not already explain it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ronda.certs.hostname import hostname_matches
from ronda.certs.inspect import CertFacts, CertificateUnreadable, chain_entry, read_certificate
from ronda.certs.paths import Judgement, judge_chain
from ronda.certs.rules import (
    chain_warnings,
    days_left,
    expiry_warnings,
    issuer_weaknesses,
    lifetime_over_policy,
    validity_problems,
    weak_key,
    weak_signature,
)
from ronda.certs.session import TlsSession
from ronda.certs.trust import publicly_trusted
from ronda.hosts import both_forms, readable_host
from ronda.verdict import CertificateInfo, ChainEntry

# OpenSSL X509_V_ERR_* codes, by what explains them.
_EXPLAINED_BY = {
    9: {"cert_not_yet_valid"},  # CERT_NOT_YET_VALID
    10: {"cert_expired", "cert_intermediate_expired"},  # CERT_HAS_EXPIRED
    62: {"cert_hostname_mismatch"},  # HOSTNAME_MISMATCH
    64: {"cert_hostname_mismatch"},  # IP_ADDRESS_MISMATCH
    66: {"cert_weak_key"},  # EE_KEY_TOO_SMALL
    67: {"cert_weak_key"},  # CA_KEY_TOO_SMALL
    68: {"cert_weak_signature"},  # CA_MD_TOO_WEAK
}
# Errors about the path itself (no issuer, a self-signed or untrusted root, dates), which
# ronda's own path judgement, made at the check's time, replaces.
_PATH_ERRORS = {
    2,  # UNABLE_TO_GET_ISSUER_CERT
    9,  # CERT_NOT_YET_VALID
    10,  # CERT_HAS_EXPIRED
    18,  # DEPTH_ZERO_SELF_SIGNED_CERT
    19,  # SELF_SIGNED_CERT_IN_CHAIN
    20,  # UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    21,  # UNABLE_TO_VERIFY_LEAF_SIGNATURE
}
# Plain words for OpenSSL's other refusals of a path whose signatures and dates hold.
_PLAIN_WORDS = {
    24: "a certificate on the path acts as a CA without being one (its basicConstraints say so)",
    25: "the path is longer than one of its CAs allows (pathLenConstraint)",
    26: "the certificate is not meant for TLS servers (its extended key usage lacks serverAuth)",
    47: "a CA on the path may not issue for this name (name constraints)",
    48: "a CA on the path may not issue for this name (name constraints)",
}
_OLD_PROTOCOLS = {"SSLv2", "SSLv3", "TLSv1", "TLSv1.1"}


@dataclass
class CertReport:
    certificate: CertificateInfo | None
    problems: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    leaf: CertFacts | None = None
    missing_issuer: bool = False  # the path stops at an issuer nobody sent: AIA may tell incomplete from untrusted


def analyze(
    session: TlsSession,
    host: str,
    address: str,
    port: int,
    now: datetime,
    warn_days: float | None,
    ca_file: str | None = None,
    fetched: list[bytes] | None = None,
) -> CertReport:
    """`fetched`: the issuers the server left out, fetched from AIA (None: not tried yet)."""
    if session.leaf_der is None:
        return CertReport(None, [("tls_handshake_failed", "the server sent no certificate")])
    try:
        leaf = read_certificate(session.leaf_der)
        judged = judge_chain(session.leaf_der, session.chain_ders, session.verified_ders, ca_file, now, fetched)
        path = [read_certificate(der) for der in judged.path[1:]]
    except CertificateUnreadable as exc:
        # OpenSSL let it through, but a certificate no strict reader can read is one clients
        # built on other libraries refuse: not to be trusted, and said why.
        return CertReport(None, [("cert_untrusted", f"the server sent a certificate ronda cannot read: {exc}")])
    problems = validity_problems(leaf, now) + _leaf_problems(leaf, host) + issuer_weaknesses(path)
    problems += _refused_handshake(session) + judged.problems
    problems += _openssl_refusal(session, judged, problems)
    warnings = []
    if not problems:
        warnings = expiry_warnings(leaf, now, warn_days) + chain_warnings(path, now, warn_days) + judged.warnings
    over_policy = lifetime_over_policy(leaf) if publicly_trusted(leaf, path) else None
    if over_policy:
        warnings.append(("cert_lifetime_over_policy", over_policy))
    chain = [read_certificate(der) for der in session.chain_ders]
    entries = tuple(chain_entry(facts) for facts in chain)
    entries += tuple(chain_entry(read_certificate(der), fetched=True) for der in fetched or ())
    codes = [code for code, _ in problems + warnings]
    info = certificate_info(leaf, entries, host, address, port, now, codes)
    return CertReport(info, problems, warnings, leaf, judged.missing_issuer and fetched is None)


def certificate_info(
    leaf: CertFacts,
    chain: tuple[ChainEntry, ...],
    host: str,
    address: str,
    port: int,
    now: datetime,
    codes: list[str],
) -> CertificateInfo:
    """A certificate as the verdict shows it: where it was found and what is wrong with it."""
    return CertificateInfo(
        host=host,
        address=address,
        port=port,
        subject=leaf.subject,
        issuer=leaf.issuer,
        serial=leaf.serial,
        sans=leaf.sans,
        not_before=leaf.not_before,
        not_after=leaf.not_after,
        days_left=days_left(leaf, now),
        fingerprint_sha256=leaf.fingerprint_sha256,
        chain=chain,
        problems=tuple(dict.fromkeys(codes)),
    )


def _leaf_problems(leaf: CertFacts, host: str) -> list[tuple[str, str]]:
    problems = []
    if not leaf.sans:
        problems.append(
            (
                "cert_hostname_mismatch",
                f"the certificate has no subjectAltName, only the subject {leaf.subject}; browsers ignore the "
                f"subject's name (CN), so it is valid for no name, {readable_host(host)} included",
            )
        )
    elif not hostname_matches(host, leaf.dns_names, leaf.ip_addresses):
        names = ", ".join(both_forms(name) for name in leaf.sans)
        problems.append(("cert_hostname_mismatch", f"the certificate is for {names}, not {both_forms(host)}"))
    for code, why in (("cert_weak_key", weak_key(leaf)), ("cert_weak_signature", weak_signature(leaf))):
        if why:
            problems.append((code, f"the certificate is weak: {why}"))
    return problems


def _refused_handshake(session: TlsSession) -> list[tuple[str, str]]:
    """A handshake our TLS library refused but a permissive one completed: name why."""
    if session.handshake_error is None:
        return []
    if session.version in _OLD_PROTOCOLS:
        return [("tls_protocol_too_old", f"the server speaks only {session.version}, which clients refuse")]
    return [("tls_handshake_failed", session.handshake_error)]


def _openssl_refusal(session: TlsSession, judged: Judgement, problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """OpenSSL's verification error, where nothing found so far explains it: a path our
    verifier accepts but OpenSSL refuses for a rule of its own (purpose, name constraints)."""
    if session.verify_error is None:
        return []
    code, message = session.verify_error
    found = {found_code for found_code, _ in problems}
    if _EXPLAINED_BY.get(code, set()) & found:
        return []
    if code in _PATH_ERRORS and (judged.verified or judged.named_fault):
        return []
    words = _PLAIN_WORDS.get(code)
    return [
        ("cert_untrusted", f"{words} (OpenSSL: {message})" if words else f"the certificate is not trusted: {message}")
    ]
