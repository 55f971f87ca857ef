"""Has the certificate been revoked? Asked of its CA: the OCSP responder first, the CRL
when there is no responder or it gives no answer.

A revoked certificate is `cert_revoked`, with when and why. A question that gets no
trustworthy answer (a responder down, a bad signature, a stale list) is the warning
`cert_revocation_unknown`, never an outage: browsers soft-fail the same way, so the
site still works for its users; someone should still look.

Every answer is checked before it is believed: the response is for this certificate,
signed by its issuer (or by a responder the issuer delegated with the OCSP-signing
purpose), and current (thisUpdate not in the future, nextUpdate not past).

Stapled OCSP (the TLS status_request extension) is not read yet: Python's `ssl` module
has no client API to request or read a stapled response (CPython issue #88946, open), and
reading it would mean replacing the handshake library (pyOpenSSL) or reaching into
OpenSSL through ctypes. Every check asks the CA itself instead.

OCSP is asked over HTTP GET (RFC 6960 appendix A, RFC 5019), so the fetch the AIA code
uses serves here too, inside a share of the check's deadline. Bodies over the fetch's
1 MiB cap count as no answer (a CRL that large is rare). Answers are kept in the
context's fetch cache until their nextUpdate, at most an hour, and what a body says is
cached by its bytes, so a monitor pays for parsing and signatures once per answer.
"""

from __future__ import annotations

import base64
import dataclasses
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal
from urllib.parse import quote

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from ronda.certs.aia import Fetch
from ronda.certs.analysis import CertReport
from ronda.certs.session import TlsSession
from ronda.verdict import iso

Status = Literal["good", "revoked", "unknown"]

CLOCK_SKEW = timedelta(minutes=5)  # a responder's clock a little ahead of ours is not an error
CACHE_SECONDS = 3600.0  # a good answer is reused until its nextUpdate, but at most this long
RETRY_SECONDS = 300.0  # no answer: ask again after this, not on every check
MAX_SECONDS = 5.0  # revocation may take at most this long of a check's budget...
BUDGET_SHARE = 0.5  # ...and at most this share of what is left: a slow responder is no outage
# Where the facts make the question moot: an untrusted issuer's word is worth nothing, and
# CAs drop certificates from their lists once they expire.
_MOOT = {"cert_untrusted", "cert_expired", "cert_not_yet_valid"}

Cache = MutableMapping[str, tuple[float, bytes]]
"""url -> (time.monotonic() expiry, body); b"" remembers that there was no answer."""


@dataclass(frozen=True)
class Answer:
    status: Status
    detail: str  # for "unknown": why, naming the source; otherwise where the answer came from
    revoked_at: datetime | None = None
    reason: str | None = None  # RFC 5280 reason name (keyCompromise...), when the CA gave one
    next_update: datetime | None = None

    @property
    def definitive(self) -> bool:
        return self.status != "unknown"


# --- OCSP -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reading:
    """What a verified answer says, before the clock is consulted: parsing and checking
    signatures is pure in the bytes, and a monitor reads the same answer on every check
    until it is refetched, so that part is cached (as `read_certificate` is)."""

    answer: Answer
    dated: str = ""  # what is dated, in words: "the CRL at ...", "the answer from ..."
    this_update: datetime | None = None  # None: nothing to date (the answer is already "unknown")
    next_update: datetime | None = None
    signer: x509.Certificate | None = None  # a delegated responder, whose validity depends on the clock


def ocsp_request(leaf_der: bytes, issuer_der: bytes) -> bytes:
    """A DER OCSP request for the leaf. SHA-1 CertIDs are what responders are sure to know
    (RFC 5019); they identify, they do not protect, so SHA-1 is no weakness here."""
    cert, issuer = _load(leaf_der), _load(issuer_der)
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
    return request.public_bytes(Encoding.DER)


def ocsp_get_url(responder: str, request: bytes) -> str:
    """The GET form of an OCSP request: the responder URL, a slash, then the request in
    base64, URL-encoded (RFC 6960 appendix A.1)."""
    encoded = quote(base64.b64encode(request).decode("ascii"), safe="")
    return f"{responder.rstrip('/')}/{encoded}"


@lru_cache(maxsize=1024)
def _get_url(responder: str, leaf_der: bytes, issuer_der: bytes) -> str:
    return ocsp_get_url(responder, ocsp_request(leaf_der, issuer_der))


def read_ocsp_response(body: bytes, leaf_der: bytes, issuer_der: bytes, now: datetime, url: str) -> Answer:
    """What an OCSP responder's answer says about the leaf, once it has been verified."""
    return _judge(_read_ocsp(body, leaf_der, issuer_der, url), now)


# What cryptography raises for a field of a loaded structure that does not parse: ValueError,
# an extension twice, or an algorithm it does not know.
_DAMAGED = (ValueError, x509.DuplicateExtension, UnsupportedAlgorithm)


@lru_cache(maxsize=1024)
def _read_ocsp(body: bytes, leaf_der: bytes, issuer_der: bytes, url: str) -> _Reading:
    source = f"the OCSP responder at {url}"
    try:
        response = ocsp.load_der_ocsp_response(body)
    except ValueError:
        return _Reading(Answer("unknown", f"{source} answered something that is not an OCSP response"))
    # Fields of a response that loads are read only when asked, and may still not parse.
    try:
        return _ocsp_reading(response, _load(leaf_der), _load(issuer_der), source)
    except _DAMAGED as exc:
        return _Reading(Answer("unknown", f"{source} answered a damaged OCSP response ({exc})"))


def _ocsp_reading(
    response: ocsp.OCSPResponse, cert: x509.Certificate, issuer: x509.Certificate, source: str
) -> _Reading:
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        status = response.response_status.name.lower().replace("_", " ")
        return _Reading(Answer("unknown", f"{source} answered '{status}'"))
    single = _single_response(response, cert, issuer)
    if single is None:
        return _Reading(Answer("unknown", f"{source} answered about another certificate"))
    signer = _signer(response, issuer)
    if isinstance(signer, str):
        return _Reading(Answer("unknown", f"{source} gave an answer that cannot be trusted: {signer}"))
    if single.certificate_status == ocsp.OCSPCertStatus.UNKNOWN:
        return _Reading(Answer("unknown", f"{source} does not know this certificate"))
    next_update = single.next_update_utc
    if single.certificate_status == ocsp.OCSPCertStatus.REVOKED:
        reason = single.revocation_reason.value if single.revocation_reason else None
        answer = Answer("revoked", source, single.revocation_time_utc, reason, next_update)
    else:
        answer = Answer("good", source, next_update=next_update)
    dated = f"the answer from {source}"
    return _Reading(answer, dated, single.this_update_utc, next_update, None if signer is issuer else signer)


def _judge(reading: _Reading, now: datetime) -> Answer:
    """A reading's answer, if it holds at `now`: current, and signed by a responder
    whose certificate is valid."""
    answer = reading.answer
    if reading.this_update is None:
        return answer
    delegate = reading.signer
    if delegate is not None and not delegate.not_valid_before_utc <= now <= delegate.not_valid_after_utc:
        who = delegate.subject.rfc4514_string()
        return Answer("unknown", f"{reading.dated} cannot be trusted: its signer {who} is not valid now")
    stale = _staleness(reading.this_update, reading.next_update, now)
    if stale:
        return Answer("unknown", f"{reading.dated} is {stale}")
    return answer


def _single_response(
    response: ocsp.OCSPResponse, cert: x509.Certificate, issuer: x509.Certificate
) -> ocsp.OCSPSingleResponse | None:
    """The response's entry for `cert`: same serial, same issuer (name and key hashes, in
    whichever hash the responder chose)."""
    for single in response.responses:
        if single.serial_number != cert.serial_number:
            continue
        try:
            request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, single.hash_algorithm).build()
        except (ValueError, UnsupportedAlgorithm):
            continue
        if (single.issuer_name_hash, single.issuer_key_hash) == (request.issuer_name_hash, request.issuer_key_hash):
            return single
    return None


def _signer(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> x509.Certificate | str:
    """Who signed the response: the issuer, or a responder it delegated (RFC 6960
    4.2.2.2); or why the signature cannot be believed."""
    if _names(response, issuer):
        return (
            issuer if _signed(issuer.public_key(), response) else "its signature does not verify with the issuer's key"
        )
    for delegate in response.certificates:
        if not _names(response, delegate):
            continue
        who = delegate.subject.rfc4514_string()
        if not _issued_by(delegate, issuer):
            return f"it is signed by {who}, which the certificate's issuer did not authorise"
        if not _may_sign_ocsp(delegate):
            return f"it is signed by {who}, which is not an OCSP responder (no OCSP-signing purpose)"
        if not _signed(delegate.public_key(), response):
            return "its signature does not verify with the responder's key"
        return delegate
    return "it is signed by a responder that is neither the issuer nor delegated by it"


def _names(response: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    """Does the response's ResponderID name `cert` (by key hash or by name)?"""
    if response.responder_key_hash is not None:
        return response.responder_key_hash == x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
    return response.responder_name == cert.subject


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _may_sign_ocsp(cert: x509.Certificate) -> bool:
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return ExtendedKeyUsageOID.OCSP_SIGNING in usage


def _signed(key: object, response: ocsp.OCSPResponse) -> bool:
    algorithm = response.signature_hash_algorithm
    data, signature = response.tbs_response_bytes, response.signature
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, data)
        else:
            return False  # RSA-PSS, DSA and the like: no responder in use signs so
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        return False
    return True


# --- CRL ------------------------------------------------------------------------------


def read_crl(body: bytes, leaf_der: bytes, issuer_der: bytes, now: datetime, url: str) -> Answer:
    """What a CRL says about the leaf, once its issuer, signature and dates are checked."""
    return _judge(_read_crl(body, leaf_der, issuer_der, url), now)


@lru_cache(maxsize=32)  # CRLs can be large: keep few (the fetch cache holds their bodies anyway)
def _read_crl(body: bytes, leaf_der: bytes, issuer_der: bytes, url: str) -> _Reading:
    source = f"the CRL at {url}"
    crl = _load_crl(body)
    if crl is None:
        return _Reading(Answer("unknown", f"{source} is not a certificate revocation list"))
    # cryptography reads a CRL's names and entries only when asked: one that loads may
    # still hold a field that does not parse.
    try:
        return _crl_reading(crl, _load(leaf_der), _load(issuer_der), source)
    except _DAMAGED as exc:
        return _Reading(Answer("unknown", f"{source} is a damaged certificate revocation list ({exc})"))


def _crl_reading(
    crl: x509.CertificateRevocationList, cert: x509.Certificate, issuer: x509.Certificate, source: str
) -> _Reading:
    if crl.issuer != issuer.subject:
        named = crl.issuer.rfc4514_string()
        return _Reading(Answer("unknown", f"{source} is issued by {named}, not by the certificate's issuer"))
    try:
        signed = crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    except (TypeError, ValueError, UnsupportedAlgorithm):
        signed = False
    if not signed:
        why = "its signature does not verify with the issuer's key"
        return _Reading(Answer("unknown", f"{source} cannot be trusted: {why}"))
    entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    if entry is None:
        answer = Answer("good", source, next_update=crl.next_update_utc)
    else:
        answer = Answer("revoked", source, entry.revocation_date_utc, _crl_reason(entry), crl.next_update_utc)
    return _Reading(answer, source, crl.last_update_utc, crl.next_update_utc)


def _load_crl(body: bytes) -> x509.CertificateRevocationList | None:
    for load in (x509.load_der_x509_crl, x509.load_pem_x509_crl):
        try:
            return load(body)
        except (ValueError, x509.InvalidVersion):  # InvalidVersion: a CRL of no X.509 version
            continue
    return None


def _crl_reason(entry: x509.RevokedCertificate) -> str | None:
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.value
    except x509.ExtensionNotFound:
        return None


def _staleness(this_update: datetime, next_update: datetime | None, now: datetime) -> str | None:
    """Why an answer is not current, or None when it is. No nextUpdate means the
    responder always has newer news (RFC 6960 2.4): current."""
    if this_update > now + CLOCK_SKEW:
        return f"dated in the future ({iso(this_update)})"
    if next_update is not None and next_update < now - CLOCK_SKEW:
        return f"out of date (its next update was due {iso(next_update)})"
    return None


# --- Asking ---------------------------------------------------------------------------


def revocation_deadline(deadline: float, now: float) -> float:
    """How long revocation may take of a check's budget: it must leave the rest of the
    check (the HTTP request, say) its time, or a slow responder becomes an outage."""
    return min(deadline, now + min(MAX_SECONDS, BUDGET_SHARE * max(deadline - now, 0.0)))


@lru_cache(maxsize=1024)
def find_issuer(leaf_der: bytes, candidates: tuple[bytes, ...]) -> bytes | None:
    """The certificate among `candidates` (DER) whose key signed the leaf."""
    cert = _load(leaf_der)
    for der in candidates:
        try:
            candidate = _load(der)
        except (ValueError, x509.InvalidVersion):
            continue
        if candidate.subject == cert.issuer and _issued_by(cert, candidate):
            return der
    return None


def _load(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


async def ask(
    leaf_der: bytes,
    issuer_der: bytes,
    ocsp_urls: tuple[str, ...],
    crl_urls: tuple[str, ...],
    fetch: Fetch,
    now: datetime,
    cache: Cache | None = None,
) -> list[Answer]:
    """Ask each OCSP responder, then each CRL, until one gives a definitive answer (the
    last in the list); the answers before it say why the others could not."""
    answers: list[Answer] = []
    sources = [("ocsp", _get_url(u, leaf_der, issuer_der), u) for u in _web(ocsp_urls)]
    sources += [("crl", u, u) for u in _web(crl_urls)]
    for kind, url, named in sources:
        body = await _fetch(url, fetch, cache)
        if body is None:
            what = f"the OCSP responder at {named}" if kind == "ocsp" else f"the CRL at {named}"
            answer = Answer("unknown", f"{what} gave nothing usable (unreachable, an error status, or over 1 MiB)")
        elif kind == "ocsp":
            answer = read_ocsp_response(body, leaf_der, issuer_der, now, named)
        else:
            answer = read_crl(body, leaf_der, issuer_der, now, named)
        _remember(cache, url, body, answer, now)
        answers.append(answer)
        if answer.definitive:
            break
    return answers


def _web(urls: tuple[str, ...]) -> list[str]:
    return [u for u in urls if u.lower().startswith(("http://", "https://"))]


async def _fetch(url: str, fetch: Fetch, cache: Cache | None) -> bytes | None:
    hit = cache.get(url) if cache is not None else None
    if hit is not None and hit[0] > time.monotonic():
        return hit[1] or None
    return await fetch(url)


def _remember(cache: Cache | None, url: str, body: bytes | None, answer: Answer, now: datetime) -> None:
    """Keep a definitive answer until its nextUpdate (at most an hour); a failure for a
    few minutes, so a dead responder costs one wait, not one per check."""
    if cache is None:
        return
    seconds = RETRY_SECONDS
    if answer.definitive:
        seconds = CACHE_SECONDS
        if answer.next_update is not None:
            seconds = min(seconds, (answer.next_update - now).total_seconds())
    if seconds > 0:
        cache[url] = (time.monotonic() + seconds, body or b"")


def findings(answers: list[Answer]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(problems, warnings) from what the CA said."""
    if not answers:
        return [], []
    last = answers[-1]
    if last.status == "revoked":
        when = f"revoked on {iso(last.revoked_at)}" if last.revoked_at else "revoked"
        reason = f" (reason: {last.reason})" if last.reason else ""
        return [("cert_revoked", f"{when}{reason}, says {last.detail}")], []
    if last.status == "good":
        return [], []
    why = "; ".join(a.detail for a in answers)
    return [], [("cert_revocation_unknown", f"whether the certificate is revoked could not be established: {why}")]


async def check_revocation(
    report: CertReport,
    session: TlsSession,
    fetched: list[bytes],
    fetch: Fetch,
    now: datetime,
    cache: Cache | None = None,
) -> CertReport:
    """`report` with what the leaf's CA says about it. Asked only where the leaf names an
    OCSP responder or a CRL, its issuer is known (sent by the server, or `fetched` from
    AIA), and nothing already found makes the question moot."""
    leaf = report.leaf
    if (
        leaf is None
        or session.leaf_der is None
        or leaf.self_issued
        or not (_web(leaf.ocsp_urls) or _web(leaf.crl_urls))
        or any(code in _MOOT for code, _ in report.problems)
    ):
        return report
    issuer = find_issuer(session.leaf_der, (*session.chain_ders, *fetched))
    if issuer is None:
        return report  # nothing to ask with: the chain's own findings say why
    answers = await ask(session.leaf_der, issuer, leaf.ocsp_urls, leaf.crl_urls, fetch, now, cache)
    problems, warnings = findings(answers)
    if not problems and (not warnings or report.problems):
        return report  # like other warnings, this one is noise next to a problem
    problems, warnings = report.problems + problems, report.warnings + warnings
    certificate = report.certificate
    if certificate is not None:
        codes = tuple(dict.fromkeys(code for code, _ in problems + warnings))
        certificate = dataclasses.replace(certificate, problems=codes)
    return dataclasses.replace(report, certificate=certificate, problems=problems, warnings=warnings)
