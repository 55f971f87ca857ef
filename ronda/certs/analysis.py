"""From a TLS session to the certificate's facts, problems and warnings at one address.

OpenSSL reports only the first verification error it meets. We read every certificate
of the chain ourselves, so an expired certificate for the wrong name reports both, and
keep OpenSSL's error only where the facts do not already explain it. OpenSSL's order of
checks still tells something: it builds the chain first, then checks the host name,
then the dates, so a hostname or date error means the chain itself was trusted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ronda.certs.hostname import hostname_matches
from ronda.certs.inspect import CertFacts, CertificateUnreadable, chain_entry, read_certificate
from ronda.certs.rules import (
    chain_problems,
    chain_warnings,
    days_left,
    expiry_warnings,
    lifetime_over_policy,
    validity_problems,
    weak_key,
    weak_signature,
)
from ronda.certs.session import TlsSession
from ronda.certs.trust import chains_to_root, publicly_trusted
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
_ISSUER_NOT_FOUND = {2, 20, 21}  # UNABLE_TO_GET_ISSUER_CERT(_LOCALLY), UNABLE_TO_VERIFY_LEAF_SIGNATURE
_SELF_SIGNED = 18  # DEPTH_ZERO_SELF_SIGNED_CERT
_OLD_PROTOCOLS = {"SSLv2", "SSLv3", "TLSv1", "TLSv1.1"}


@dataclass
class CertReport:
    certificate: CertificateInfo | None
    problems: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    leaf: CertFacts | None = None
    missing_issuer: bool = False  # OpenSSL found no issuer: AIA may tell incomplete from untrusted


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
        chain = [read_certificate(der) for der in session.chain_ders]
    except CertificateUnreadable as exc:
        # OpenSSL let it through, but a certificate no strict reader can read is one clients
        # built on other libraries refuse: not to be trusted, and said why.
        return CertReport(None, [("cert_untrusted", f"the server sent a certificate ronda cannot read: {exc}")])
    problems = validity_problems(leaf, now) + _leaf_problems(leaf, host) + chain_problems(chain, now)
    problems += _refused_handshake(session)
    missing_issuer = _issuer_not_found(session, problems)
    chain_completed = None
    if fetched is not None:
        chain_completed = bool(fetched) and chains_to_root(
            session.leaf_der, leaf, session.chain_ders + fetched, ca_file, now
        )
    problems += _trust_problems(session, leaf, problems, chain_completed)
    warnings = [] if problems else expiry_warnings(leaf, now, warn_days) + chain_warnings(chain, now, warn_days)
    over_policy = lifetime_over_policy(leaf) if publicly_trusted(leaf, chain) else None
    if over_policy:
        warnings.append(("cert_lifetime_over_policy", over_policy))
    entries = tuple(chain_entry(facts) for facts in chain)
    entries += tuple(chain_entry(read_certificate(der), fetched=True) for der in fetched or ())
    codes = [code for code, _ in problems + warnings]
    info = certificate_info(leaf, entries, host, address, port, now, codes)
    return CertReport(info, problems, warnings, leaf, missing_issuer and fetched is None)


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
    if not hostname_matches(host, leaf.dns_names, leaf.ip_addresses):
        names = ", ".join(leaf.sans) or leaf.subject
        problems.append(("cert_hostname_mismatch", f"the certificate is for {names}, not {host}"))
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


def _unexplained(session: TlsSession, problems: list[tuple[str, str]]) -> bool:
    if session.verify_error is None:
        return False
    found = {code for code, _ in problems}
    return not (_EXPLAINED_BY.get(session.verify_error[0], set()) & found)


def _issuer_not_found(session: TlsSession, problems: list[tuple[str, str]]) -> bool:
    return (
        _unexplained(session, problems)
        and session.verify_error is not None
        and session.verify_error[0] in _ISSUER_NOT_FOUND
    )


def _trust_problems(
    session: TlsSession, leaf: CertFacts, problems: list[tuple[str, str]], chain_completed: bool | None
) -> list[tuple[str, str]]:
    if not _unexplained(session, problems):
        return []
    assert session.verify_error is not None
    code, message = session.verify_error
    if code == _SELF_SIGNED or (leaf.self_issued and code in _ISSUER_NOT_FOUND):
        return [("cert_untrusted", "the certificate is self-signed: no trusted authority vouches for it")]
    if code in _ISSUER_NOT_FOUND and chain_completed:
        return [
            (
                "cert_chain_incomplete",
                f"the server does not send the intermediate certificate that issued it ({leaf.issuer}); browsers "
                "fetch it and may work, but curl, Python, Java and many apps fail",
            )
        ]
    if code in _ISSUER_NOT_FOUND:
        return [("cert_untrusted", f"it is issued by {leaf.issuer}, which is not a trusted authority")]
    return [("cert_untrusted", f"the certificate is not trusted: {message}")]
