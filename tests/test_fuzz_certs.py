"""Certificate parsing fed random and mutated DER and PEM: what a server, an AIA address, an
OCSP responder, a CRL address or a file on disk may hold. Each reader returns its facts or
its own error (CertificateUnreadable, None, an "unknown" answer, a finding), never another
exception; a file:// check of such a file ends in a verdict naming the file.

Mutations start from real certificates, answers and lists this test's own PKI made, so that
most examples get past the outer DER and into the fields a parser reads lazily (extensions,
keys, names, dates). `HYPOTHESIS_PROFILE=fuzz` runs 20,000 examples each (docs/testing.md)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import tempfile
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from cryptography.x509 import ocsp
from hypothesis import example, given
from hypothesis import strategies as st

from ronda.certs.aia import issuer_certificate
from ronda.certs.inspect import CertFacts, CertificateUnreadable, read_certificate
from ronda.certs.revocation import Answer, read_crl, read_ocsp_response
from ronda.check import run_check
from ronda.probes.file import passwords, read_file
from ronda.target import CheckOptions, parse_target
from ronda.world.ocsp import Revoked, crl
from ronda.world.pki import LocalPKI

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)

_PKI = LocalPKI("fuzz root")
_LEAF = _PKI.leaf(
    "shop.test",
    "127.0.0.1",
    aia_issuer_url="http://ca.test/int.der",
    ocsp_url="http://ocsp.test/",
    crl_url="http://crl.test/int.crl",
)
_RSA_LEAF = _PKI.leaf("rsa.test", key="rsa2048")
LEAF_DER = _LEAF.cert.public_bytes(Encoding.DER)
ISSUER_DER = _PKI.intermediate.cert.public_bytes(Encoding.DER)
SEEDS = [
    LEAF_DER,
    _RSA_LEAF.cert.public_bytes(Encoding.DER),
    ISSUER_DER,
    _PKI.root.cert.public_bytes(Encoding.DER),
]


def _ocsp_answer() -> bytes:
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=_LEAF.cert,
            issuer=_PKI.intermediate.cert,
            algorithm=hashes.SHA1(),
            cert_status=ocsp.OCSPCertStatus.REVOKED,
            this_update=NOW - dt.timedelta(hours=1),
            next_update=NOW + dt.timedelta(hours=11),
            revocation_time=NOW - dt.timedelta(days=1),
            revocation_reason=x509.ReasonFlags.key_compromise,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, _PKI.intermediate.cert)
    )
    return builder.sign(_PKI.intermediate.key, hashes.SHA256()).public_bytes(Encoding.DER)


OCSP_SEED = _ocsp_answer()
CRL_SEED = crl(
    _PKI.intermediate,
    [(_LEAF.cert, Revoked(NOW - dt.timedelta(days=1), x509.ReasonFlags.key_compromise))],
    this_update=NOW - dt.timedelta(hours=1),
)


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed with a few bytes replaced, inserted, deleted, or cut short: DER whose lengths,
    tags and contents no longer agree, mostly past its first few bytes."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        action = draw(st.sampled_from(["replace", "insert", "delete", "cut", "length"]))
        if action == "replace" and data:
            data[position] = draw(st.integers(0, 255))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[position : position + draw(st.integers(1, 8))]
        elif action == "cut":
            del data[position:]
        elif data:  # a length byte made long-form or huge: DER's usual way to lie
            data[position] = draw(st.sampled_from([0x80, 0x81, 0x82, 0x84, 0xFF, 0x00, 0x7F]))
    return bytes(data)


def ders(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(mutated(seeds), st.binary(max_size=200))


def pem(der: bytes, label: str = "CERTIFICATE") -> bytes:
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN {label}-----\n{body}-----END {label}-----\n".encode()


# What the fuzz profile found, kept: a certificate of X.509 version 2 (cryptography's
# InvalidVersion is no ValueError), a negative serial (a deprecation warning), a PKCS#7 of a
# content type that does not exist, a CRL of version 1 written out.
X509_V2 = LEAF_DER.replace(b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x01", 1)
NEGATIVE_SERIAL = bytes(
    byte | 0x80 if at == LEAF_DER.index(b"\xa0\x03\x02\x01\x02\x02\x14") + 7 else byte
    for at, byte in enumerate(LEAF_DER)
)
SIGNED_DATA, NO_SUCH_TYPE = b"\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02", b"\x2a\x86\x48\x86\xf7\x0d\x01\x07\x09"


@given(ders(SEEDS))
@example(b"")
@example(LEAF_DER[:-1])
@example(X509_V2)
@example(NEGATIVE_SERIAL)
def test_any_der_is_a_certificate_or_unreadable(der):
    try:
        facts = read_certificate(der)
    except CertificateUnreadable as exc:
        assert str(exc)
        return
    assert isinstance(facts, CertFacts)
    assert facts.lifetime_days == facts.lifetime_days  # the dates compare


PKCS7_SEED = pkcs7.serialize_certificates([_PKI.intermediate.cert, _PKI.root.cert], Encoding.DER)


@given(
    st.one_of(ders(SEEDS), ders(SEEDS).map(pem), ders([PKCS7_SEED]), ders([PKCS7_SEED]).map(lambda d: pem(d, "PKCS7")))
)
@example(X509_V2)
@example(PKCS7_SEED.replace(SIGNED_DATA, NO_SUCH_TYPE, 1))
def test_any_aia_answer_is_an_issuer_or_none(body):
    der = issuer_certificate(body)
    if der is not None:
        try:
            assert read_certificate(der).fingerprint_sha256
        except CertificateUnreadable as exc:
            assert str(exc)


@given(ders([OCSP_SEED]))
def test_any_ocsp_answer_is_read_as_an_answer(body):
    answer = read_ocsp_response(body, LEAF_DER, ISSUER_DER, NOW, "http://ocsp.test/")
    assert isinstance(answer, Answer) and answer.detail


@given(st.one_of(ders([CRL_SEED]), ders([CRL_SEED]).map(lambda d: pem(d, "X509 CRL"))))
@example(CRL_SEED.replace(b"\x02\x01\x01", b"\x02\x01\x00", 1))
def test_any_crl_is_read_as_an_answer(body):
    answer = read_crl(body, LEAF_DER, ISSUER_DER, NOW, "http://crl.test/int.crl")
    assert isinstance(answer, Answer) and answer.detail


# What a certificate file on disk may hold: DER, PEM (several blocks, odd labels, broken
# base64), a PKCS#12 header with anything after it.
FILE_CONTENTS = st.one_of(
    ders(SEEDS),
    ders(SEEDS).map(pem),
    st.lists(ders(SEEDS), min_size=1, max_size=3).map(lambda blocks: b"".join(pem(b) for b in blocks)),
    ders(SEEDS).map(lambda der: pem(der, "TRUSTED CERTIFICATE")),
    ders(SEEDS).map(lambda der: pem(der).replace(b"\n", b"\n!", 2)),
    st.binary(max_size=40).map(
        lambda tail: b"\x30\x82\x01\x00\x02\x01\x03\x30\x06\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07" + tail
    ),
)


@given(FILE_CONTENTS)
@example(b"-----BEGIN CERTIFICATE-----\n\xff\xfe\n-----END CERTIFICATE-----\n")
@example(X509_V2)
@example(pem(NEGATIVE_SERIAL))
def test_any_certificate_file_is_read_or_said_unreadable(content):
    with tempfile.TemporaryDirectory(prefix="ronda-fuzz-") as folder:
        path = os.path.join(folder, "site.pem")
        with open(path, "wb") as file:
            file.write(content)
        read = read_file(path, passwords({}))
    assert read.certificates or read.problems or read.skip
    for cause, detail in read.problems + ([read.skip] if read.skip else []):
        assert cause and path in detail


@given(st.one_of(ders(SEEDS), ders(SEEDS).map(pem)))
@example(X509_V2)
@example(NEGATIVE_SERIAL)
def test_a_file_check_of_any_certificate_file_is_a_verdict_naming_its_fault(content):
    with tempfile.TemporaryDirectory(prefix="ronda-fuzz-") as folder:
        path = os.path.join(folder, "site.pem")
        with open(path, "wb") as file:
            file.write(content)
        verdict = asyncio.run(run_check(parse_target(f"file://{path}"), CheckOptions()))
    assert verdict.status in ("up", "degraded", "down")
    if verdict.status == "down":
        # protocol_error here would be run_check's catch-all: a reader that failed unforeseen
        assert verdict.cause and verdict.cause != "protocol_error", verdict.to_json()
