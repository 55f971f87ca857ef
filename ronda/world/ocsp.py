"""Revocation for the world's CA: an OCSP responder and CRLs, served by a `WebServer`,
so revocation checks meet real, signed answers on loopback.

The responder answers OCSP over HTTP GET (RFC 6960 appendix A: the DER request in
base64, URL-encoded, after the responder's path) for the certificates it was told
about: good, revoked (when and why), or unknown; about anything else it answers
`unauthorized`, as a real responder does for certificates that are not its CA's. It
signs as the issuing CA, or as a delegate, or as an impostor when a test asks.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ronda.clock import system_clock
from ronda.world.pki import Authority, PrivateKey
from ronda.world.web import Reply, WebServer

_UTC = dt.UTC


@dataclass(frozen=True)
class Revoked:
    at: dt.datetime
    reason: x509.ReasonFlags | None = x509.ReasonFlags.key_compromise


CertStatus = Literal["good", "unknown"] | Revoked


@dataclass(frozen=True)
class Signer:
    """Who signs the responses, when not the issuing CA itself: its certificate is sent along."""

    cert: x509.Certificate
    key: PrivateKey


class OcspResponder:
    """An OCSP responder for `issuer` at `path` on `server`."""

    def __init__(self, server: WebServer, issuer: Authority, path: str = "/ocsp") -> None:
        self.server = server
        self.issuer = issuer
        self.path = path.rstrip("/")
        self.signer: Signer | None = None  # None: the issuer signs
        self.lifetime = dt.timedelta(hours=12)  # from thisUpdate to nextUpdate
        self.age = dt.timedelta(minutes=1)  # how long ago thisUpdate was: over `lifetime` is stale
        self.refuse: ocsp.OCSPResponseStatus | None = None  # answer only this error status
        self._known: dict[int, tuple[x509.Certificate, CertStatus]] = {}
        server.handlers[self.path + "/"] = self._answer

    def url(self, host: str | None = None) -> str:
        return self.server.url(self.path, host)

    def good(self, cert: x509.Certificate) -> None:
        self._known[cert.serial_number] = (cert, "good")

    def revoke(
        self, cert: x509.Certificate, at: dt.datetime, reason: x509.ReasonFlags | None = x509.ReasonFlags.key_compromise
    ) -> None:
        self._known[cert.serial_number] = (cert, Revoked(at, reason))

    def unknown(self, cert: x509.Certificate) -> None:
        self._known[cert.serial_number] = (cert, "unknown")

    def _answer(self, path: str) -> Reply:
        return Reply(
            body=self.response(path[len(self.path) + 1 :]), headers={"Content-Type": "application/ocsp-response"}
        )

    def response(self, encoded: str) -> bytes:
        """The DER response to a GET request's encoded part."""
        if self.refuse is not None:
            return _unsuccessful(self.refuse)
        try:
            request = ocsp.load_der_ocsp_request(base64.b64decode(unquote(encoded), validate=True))
        except ValueError:
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        known = self._known.get(request.serial_number)
        if known is None or not self._ours(request, known[0]):
            return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        cert, status = known
        this_update = system_clock() - self.age
        revoked = status if isinstance(status, Revoked) else None
        if revoked is not None:
            cert_status = ocsp.OCSPCertStatus.REVOKED
        else:
            cert_status = ocsp.OCSPCertStatus.GOOD if status == "good" else ocsp.OCSPCertStatus.UNKNOWN
        signer = self.signer or Signer(self.issuer.cert, self.issuer.key)
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response(
                cert=cert,
                issuer=self.issuer.cert,
                algorithm=request.hash_algorithm,
                cert_status=cert_status,
                this_update=this_update,
                next_update=this_update + self.lifetime,
                revocation_time=revoked.at if revoked else None,
                revocation_reason=revoked.reason if revoked else None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, signer.cert)
        )
        if self.signer is not None:
            builder = builder.certificates([self.signer.cert])
        return builder.sign(signer.key, hashes.SHA256()).public_bytes(Encoding.DER)

    def _ours(self, request: ocsp.OCSPRequest, cert: x509.Certificate) -> bool:
        """Is the request about `cert` as issued by our issuer (the CertID's issuer hashes)?"""
        ours = ocsp.OCSPRequestBuilder().add_certificate(cert, self.issuer.cert, request.hash_algorithm).build()
        return (request.issuer_name_hash, request.issuer_key_hash) == (ours.issuer_name_hash, ours.issuer_key_hash)


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(Encoding.DER)


def delegated_signer(issuer: Authority, name: str = "ronda demo OCSP responder", ocsp_signing: bool = True) -> Signer:
    """A responder certificate issued by `issuer`, with the OCSP-signing purpose that makes
    it a delegate (RFC 6960 4.2.2.2), or without it (then it must not be believed)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = system_clock()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if ocsp_signing:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
    return Signer(builder.sign(issuer.key, hashes.SHA256()), key)


def crl(
    issuer: Authority,
    revoked: Iterable[tuple[x509.Certificate, Revoked]] = (),
    *,
    this_update: dt.datetime | None = None,
    next_update: dt.datetime | None = None,
    key: PrivateKey | None = None,
) -> bytes:
    """A DER CRL from `issuer` listing `revoked`; by default issued an hour ago, next due in
    a day, signed by the issuer (`key` signs instead, to forge one)."""
    this_update = this_update or system_clock() - dt.timedelta(hours=1)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(this_update)
        .next_update(next_update or this_update + dt.timedelta(days=1))
    )
    for cert, revocation in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(cert.serial_number).revocation_date(revocation.at)
        if revocation.reason is not None:
            entry = entry.add_extension(x509.CRLReason(revocation.reason), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(key or issuer.key, hashes.SHA256()).public_bytes(Encoding.DER)


def crl_reply(der: bytes) -> Reply:
    """A WebServer route's reply serving a CRL."""
    return Reply(body=der, headers={"Content-Type": "application/pkix-crl"})
