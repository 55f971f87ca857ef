"""Which certificates a client actually uses: the path it builds from the leaf to a trusted
root, and, when there is none, which certificate breaks it and why.

Servers often send more than the path: an old cross-sign that has expired (as many kept
sending after Let's Encrypt's 2021 root change), a root, a stale certificate left in the
bundle. Clients ignore what lies on no path, so ronda judges the path, not the list sent:
an extra certificate is at most a warning naming it.

The path is the one OpenSSL built in the verifying handshake, or else the one
`cryptography`'s verifier builds at the check's own time (`now`). When neither finds one,
`_walk` follows issuer names from the leaf as far as they go, to name the certificate at
fault: an expired or not yet valid one, an issuer nobody sent, a certificate its named
issuer did not sign, a root that is not trusted. It is written by hand because the
verifier says only that no path exists, in a message meant for programmers.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import verification

from ronda.certs.inspect import CertFacts, read_certificate
from ronda.certs.rules import when
from ronda.certs.trust import store_roots, trust_store

MAX_SENT = 16  # certificates a server sends that are considered; real chains have 2 to 4
MAX_DEPTH = 8  # as `cryptography`'s verifier: no client builds longer paths

Problem = tuple[str, str]


@dataclass
class Judgement:
    """The path a client would use, leaf first and trusted root last (where one was found),
    with what is wrong with it and what the server sends besides it."""

    path: list[bytes]
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    verified: bool = False  # a verifier (OpenSSL's or cryptography's) built the path: it is trusted
    named_fault: bool = False  # the problems say why no client trusts the chain
    missing_issuer: bool = False  # it stops at an issuer nobody sent: AIA may supply it


def judge_chain(
    leaf_der: bytes,
    sent: list[bytes],
    verified: list[bytes] | None,
    ca_file: str | None,
    now: datetime,
    fetched: list[bytes] | None = None,
) -> Judgement:
    """`verified`: the path OpenSSL built, when its handshake verified the chain (at the
    machine's time, which is `now` outside tests); `fetched`: issuers the server left out,
    fetched from AIA (None: not tried)."""
    sent = sent[:MAX_SENT]
    if verified:
        return _verified(leaf_der, sent, verified, ca_file, now)
    path = build_path(leaf_der, sent, ca_file, now)
    if path is not None:
        return _found(path, leaf_der, sent, now)
    if fetched:
        path = build_path(leaf_der, sent + fetched, ca_file, now)
        if path is not None:
            return _incomplete(path, leaf_der, sent, fetched, now)
    return _walk(leaf_der, sent + (fetched or []), ca_file, now)


def _verified(
    leaf_der: bytes, sent: list[bytes], verified: list[bytes], ca_file: str | None, now: datetime
) -> Judgement:
    """OpenSSL trusted the chain. Its dates are judged at `now`, the check's time: where a
    certificate on OpenSSL's path is not valid then, another path may be."""
    judgement = _found(verified, leaf_der, sent, now)
    if not judgement.problems:
        return judgement
    other = build_path(leaf_der, sent, ca_file, now)
    return judgement if other is None else _found(other, leaf_der, sent, now)


def _found(path: list[bytes], leaf_der: bytes, sent: list[bytes], now: datetime) -> Judgement:
    judgement = Judgement(path, date_problems(path, now), verified=True)
    judgement.named_fault = bool(judgement.problems)
    judgement.warnings = extra_warnings(path, leaf_der, sent, now)
    return judgement


def _incomplete(
    path: list[bytes], leaf_der: bytes, sent: list[bytes], fetched: list[bytes], now: datetime
) -> Judgement:
    judgement = _found(path, leaf_der, sent, now)
    missing = [read_certificate(der).subject for der in path if der in fetched]
    judgement.problems.insert(
        0,
        (
            "cert_chain_incomplete",
            f"the server does not send the intermediate certificate {', '.join(missing)}, which the "
            "certificate's AIA address supplies; browsers fetch it and may work, but curl, Python, Java "
            "and many apps fail",
        ),
    )
    judgement.named_fault = True
    return judgement


# ---------------------------------------------------------------------------- path building


def build_path(leaf_der: bytes, pool: list[bytes], ca_file: str | None, now: datetime) -> list[bytes] | None:
    """The path `cryptography`'s verifier builds from the leaf through `pool` to a root of
    the trust store, valid at `now`; None when there is none. The leaf's own dates and host
    name are judged apart (they would hide the answer): it is asked at a moment inside the
    leaf's validity, of no name."""
    leaf = read_certificate(leaf_der)
    moment = min(max(now, leaf.not_before), leaf.not_after - timedelta(seconds=1))
    hour = moment.replace(minute=0, second=0, microsecond=0)
    hour = max(hour, leaf.not_before)
    cached = _cached_path(leaf_der, tuple(pool), ca_file, hour)
    # The hour's answer holds now unless a certificate's dates changed it since: one on its
    # path expired, or one that might make a path became valid.
    if cached is not None and all(_valid(read_certificate(der), moment) for der in cached[1:]):
        return list(cached)
    if cached is None and not any(hour < read_certificate(der).not_before <= moment for der in pool):
        return None
    path = _build_path(leaf_der, pool, ca_file, moment)
    return None if path is None else list(path)


def _policies() -> tuple[verification.ExtensionPolicy, verification.ExtensionPolicy]:
    """Relaxed extension policies: what matters here is whether signatures and dates chain
    to a trusted root, as OpenSSL judges it, not every RFC 5280 profile rule (which private
    CAs often bend). Weak keys and hashes, which the verifier refuses, are named apart."""
    anything = verification.Criticality.AGNOSTIC
    ca = verification.ExtensionPolicy.permit_all().require_present(x509.BasicConstraints, anything, None)
    return ca, verification.ExtensionPolicy.permit_all()


# Two signature checks a path (~190 us, bench/cert_analysis.py): a server that leaves out
# its intermediate would pay them on every check of every address. The answer depends only
# on the certificates, the roots and the moment, taken to the hour here, so one answer
# serves an hour of checks; build_path checks it still holds at the exact moment.
@lru_cache(maxsize=1024)
def _cached_path(
    leaf_der: bytes, pool: tuple[bytes, ...], ca_file: str | None, hour: datetime
) -> tuple[bytes, ...] | None:
    return _build_path(leaf_der, list(pool), ca_file, hour)


def forget_paths() -> None:
    """Drop the cached paths (after the trust store changes; benchmarks)."""
    _cached_path.cache_clear()


def _build_path(leaf_der: bytes, pool: list[bytes], ca_file: str | None, moment: datetime) -> tuple[bytes, ...] | None:
    ca_policy, ee_policy = _policies()
    # The client verifier, because it matches no name: the path does not depend on one.
    verifier = (
        verification.PolicyBuilder()
        .store(trust_store(ca_file))
        .time(moment)
        .max_chain_depth(MAX_DEPTH)
        .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
        .build_client_verifier()
    )
    try:
        verified = verifier.verify(_load(leaf_der), [_load(der) for der in pool])
    except (verification.VerificationError, ValueError):
        return None
    return tuple(cert.public_bytes(Encoding.DER) for cert in verified.chain)


@lru_cache(maxsize=64)  # a chain's certificates are loaded by the verifier and the walk alike
def _load(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


# ---------------------------------------------------------------------------- judging a path


def date_problems(path: list[bytes], now: datetime, trusted_end: bool = True) -> list[Problem]:
    """The issuers on a path outside their validity at `now` (the leaf's dates are judged
    on their own). `trusted_end`: the path ends at a root of the trust store."""
    problems = []
    for position, der in enumerate(path[1:], start=1):
        facts = read_certificate(der)
        anchor = position == len(path) - 1 and facts.self_issued
        root = "the trusted root" if trusted_end else "the root"
        what = f"{root} {facts.subject}" if anchor else f"intermediate {facts.subject}"
        if now >= facts.not_after:
            code = "cert_untrusted" if anchor else "cert_intermediate_expired"
            by = "" if anchor else f" (issued by {facts.issuer})"
            problems.append(
                (code, f"{what}{by} expired {when(facts.not_after)}, and no path to a trusted root avoids it")
            )
        elif now < facts.not_before:
            problems.append(("cert_untrusted", f"{what} is valid only from {when(facts.not_before)}"))
    return problems


def extra_warnings(path: list[bytes], leaf_der: bytes, sent: list[bytes], now: datetime) -> list[Problem]:
    """What the server sends beside the path and is worth removing: expired or not yet valid
    certificates, and ones that issued nothing it sends. A valid cross-sign no path needs
    is left alone: older clients may build their path through it."""
    on_path = set(path)
    anchor = read_certificate(path[-1]).subject
    issuers = {read_certificate(der).issuer for der in (leaf_der, *sent)}
    warnings = []
    for der in dict.fromkeys(sent):
        if der in on_path:
            continue
        facts = read_certificate(der)
        sends = f"the server also sends {facts.subject} (issued by {facts.issuer})"
        if now >= facts.not_after or now < facts.not_before:
            state = f"expired {when(facts.not_after)}" if now >= facts.not_after else "is not valid yet"
            why = f"which {state}; clients build their path to {anchor} without it, so it can be removed"
        elif facts.subject not in issuers:
            why = "which issued none of the certificates it sends; clients ignore it"
        else:
            continue
        warnings.append(("cert_chain_extra", f"{sends}, {why}"))
    return warnings


# ---------------------------------------------------------------------------- no path: why


@dataclass
class _Step:
    der: bytes
    facts: CertFacts
    cert: x509.Certificate


def _step(der: bytes) -> _Step:
    return _Step(der, read_certificate(der), _load(der))


@lru_cache(maxsize=16)
def _root_steps(ca_file: str | None) -> tuple[_Step, ...]:
    with warnings.catch_warnings():
        # Some long-lived public roots carry non-positive serials; they are still roots.
        warnings.simplefilter("ignore")
        return tuple(
            _Step(der, read_certificate(der), x509.load_der_x509_certificate(der)) for der in store_roots(ca_file)
        )


def _signed_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(issuer)
    except InvalidSignature:
        return False
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return _weak_signature_holds(child, issuer)
    return True


def _weak_signature_holds(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    """The signature checked by hand where `cryptography` refuses its hash (SHA-1, MD5):
    such a certificate is named for its weak signature, not for a wrong issuer."""
    try:
        algorithm = child.signature_hash_algorithm
        key = issuer.public_key()
        if algorithm is None:
            return False
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(child.signature, child.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(child.signature, child.tbs_certificate_bytes, ec.ECDSA(algorithm))
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _walk(leaf_der: bytes, pool: list[bytes], ca_file: str | None, now: datetime) -> Judgement:
    """Follow issuers from the leaf, preferring trusted roots, then certificates valid at
    `now`, until a trusted root or the first break; name the break and the dates on the way.
    A walk that reaches a trusted root with nothing to name is a path the verifiers refused
    for their policy (a weak key or hash, a profile rule): said by the rules and OpenSSL."""
    roots = _root_steps(ca_file)
    root_ders = {root.der for root in roots}
    candidates = [_step(der) for der in dict.fromkeys(pool)]
    path = [_step(leaf_der)]
    fault: Problem | None = None
    missing = False
    while fault is None and path[-1].der not in root_ders and len(path) < MAX_DEPTH:
        current = path[-1]
        seen = {step.der for step in path}
        named = [c for c in (*roots, *candidates) if c.cert.subject == current.cert.issuer and c.der not in seen]
        signers = [c for c in named if _signed_by(current.cert, c.cert)]
        if signers:
            path.append(min(signers, key=lambda c: (c.der not in root_ders, not _valid(c.facts, now))))
        elif current.facts.self_issued and _signed_by(current.cert, current.cert):
            fault = _untrusted_root(current, len(path) == 1)
        elif named:
            fault = _not_signed_by(current, named[0], len(path) == 1)
        else:
            fault, missing = _unknown_issuer(current, len(path) == 1), True
    ders = [step.der for step in path]
    problems = date_problems(ders, now, trusted_end=ders[-1] in root_ders) + ([fault] if fault else [])
    return Judgement(ders, problems, named_fault=bool(problems), missing_issuer=missing)


def _valid(facts: CertFacts, now: datetime) -> bool:
    return facts.not_before <= now < facts.not_after


def _untrusted_root(step: _Step, is_leaf: bool) -> Problem:
    if is_leaf:
        return ("cert_untrusted", "the certificate is self-signed: no trusted authority vouches for it")
    return (
        "cert_untrusted",
        f"the chain ends at {step.facts.subject}, a root that is not trusted here (neither in the system's "
        "store nor in the CA file)",
    )


def _not_signed_by(step: _Step, issuer: _Step, is_leaf: bool) -> Problem:
    whose = "the trusted root" if issuer.facts.self_issued else "the certificate"
    return (
        "cert_untrusted",
        f"{_name(step, is_leaf)} names {step.facts.issuer} as its issuer, but "
        f"{whose} {issuer.facts.subject} did not sign it (another key with the same name)",
    )


def _unknown_issuer(step: _Step, is_leaf: bool) -> Problem:
    subject = "it" if is_leaf else _name(step, is_leaf)
    return (
        "cert_untrusted",
        f"{subject} is issued by {step.facts.issuer}, which is not a trusted authority, and the server does "
        "not send its certificate: a missing intermediate, or a CA this client does not trust",
    )


def _name(step: _Step, is_leaf: bool) -> str:
    return "the certificate" if is_leaf else f"intermediate {step.facts.subject}"
