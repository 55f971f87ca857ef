"""A local certificate authority for the world: a root, an intermediate, and leaves with
whatever a test or the demo needs: any validity window, weak keys, SHA-1 signatures,
AIA/OCSP/CRL addresses, a chain sent whole or without its intermediate.

Built with `cryptography`; only SHA-1 signatures, which `cryptography` refuses to make,
are re-signed by the `openssl` command.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from ronda.clock import system_clock

KeyKind = Literal["ec256", "ec384", "rsa1024", "rsa2048"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
_UTC = dt.UTC


def _new_key(kind: KeyKind) -> PrivateKey:
    if kind.startswith("ec"):
        return ec.generate_private_key(ec.SECP256R1() if kind == "ec256" else ec.SECP384R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))


def _pem_key(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


@dataclass
class Authority:
    """A CA: its key and certificate, and the authority that signed it (None for a root)."""

    name: str
    key: PrivateKey
    cert: x509.Certificate
    parent: Authority | None = None

    @classmethod
    def root(
        cls,
        name: str,
        years: int = 20,
        *,
        valid_from: dt.datetime | None = None,
        valid_until: dt.datetime | None = None,
    ) -> Authority:
        key = _new_key("ec256")
        subject = _ca_name(name)
        now = system_clock()
        not_before = valid_from or now - dt.timedelta(days=1)
        cert = (
            _builder(subject, subject, key, not_before, valid_until or now + dt.timedelta(days=365 * years))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(name, key, cert)

    def child(
        self, name: str, *, valid_from: dt.datetime | None = None, valid_until: dt.datetime | None = None
    ) -> Authority:
        key = _new_key("ec256")
        subject = _ca_name(name)
        now = system_clock()
        cert = (
            _builder(
                subject,
                self.cert.subject,
                key.public_key(),
                valid_from or now - dt.timedelta(days=1),
                valid_until or now + dt.timedelta(days=365 * 5),
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(_aki(self), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return Authority(name, key, cert, self)

    def cross_signed_by(
        self, other: Authority, *, valid_from: dt.datetime | None = None, valid_until: dt.datetime | None = None
    ) -> x509.Certificate:
        """This CA (its name and key) certified by another: a cross-sign, as ISRG Root X1
        signed by DST Root CA X3, which let clients that knew only the older root reach the
        newer one (and which many servers kept sending after it expired)."""
        now = system_clock()
        return (
            _builder(
                self.cert.subject,
                other.cert.subject,
                self.key.public_key(),
                valid_from or now - dt.timedelta(days=1),
                valid_until or now + dt.timedelta(days=365),
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .add_extension(_aki(other), critical=False)
            .sign(other.key, hashes.SHA256())
        )

    def chain(self) -> list[x509.Certificate]:
        """This CA and those above it, up to (not including) the root."""
        return [] if self.parent is None else [self.cert, *self.parent.chain()]


def _ca_name(name: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ronda world"), x509.NameAttribute(NameOID.COMMON_NAME, name)]
    )


def _aki(issuer: Authority) -> x509.AuthorityKeyIdentifier:
    ski = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _builder(
    subject: x509.Name, issuer: x509.Name, key: object, not_before: dt.datetime, not_after: dt.datetime
) -> x509.CertificateBuilder:
    public = key.public_key() if hasattr(key, "public_key") else key
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )


@dataclass(frozen=True)
class Leaf:
    cert: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...]  # what the server sends after the leaf

    @property
    def cert_pem(self) -> bytes:
        return _pem(self.cert)

    @property
    def key_pem(self) -> bytes:
        return _pem_key(self.key)

    @property
    def chain_pem(self) -> bytes:
        return self.cert_pem + b"".join(_pem(c) for c in self.chain)


class LocalPKI:
    def __init__(self, name: str = "ronda demo root", *, intermediate: Authority | None = None) -> None:
        """A new root and intermediate, or the given intermediate and its root."""
        self.intermediate = intermediate or Authority.root(name).child("ronda demo intermediate")
        assert self.intermediate.parent is not None, "an intermediate has an issuer"
        self.root = self.intermediate.parent
        while self.root.parent is not None:
            self.root = self.root.parent

    def write_ca(self, path: str) -> str:
        """Write the root in PEM, the bundle a client passes as --ca-file."""
        Path(path).write_bytes(_pem(self.root.cert))
        return path

    def leaf(
        self,
        *names: str,
        valid_from: dt.datetime | None = None,
        valid_until: dt.datetime | None = None,
        lifetime: dt.timedelta | None = None,
        issuer: Authority | None = None,
        key: KeyKind = "ec256",
        sha1: bool = False,
        send_chain: bool = True,
        aia_issuer_url: str | None = None,
        ocsp_url: str | None = None,
        crl_url: str | None = None,
        client: bool = False,
        subject_alt_name: bool = True,
    ) -> Leaf:
        """A leaf for `names` (DNS names or IP addresses), by default a 90-day certificate
        issued a day ago by the intermediate. `subject_alt_name=False`: the first name only
        in the subject's common name, as certificates had it before browsers required SANs."""
        issuer = issuer or self.intermediate
        now = system_clock()
        not_before = valid_from or now - dt.timedelta(days=1)
        not_after = valid_until or not_before + (lifetime or dt.timedelta(days=90))
        leaf_key = _new_key(key)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
        builder = _builder(subject, subject if sha1 else issuer.cert.subject, leaf_key, not_before, not_after)
        if subject_alt_name:
            builder = builder.add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
        builder = (
            builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH]),
                critical=False,
            )
            .add_extension(_aki(issuer), critical=False)
        )
        access = (
            [
                x509.AccessDescription(
                    AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(aia_issuer_url)
                )
            ]
            if aia_issuer_url
            else []
        )
        if ocsp_url:
            access.append(
                x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))
            )
        if access:
            builder = builder.add_extension(x509.AuthorityInformationAccess(access), critical=False)
        if crl_url:
            point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
            builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
        if sha1:
            # openssl re-signs only a self-signed input; it then sets the issuer itself.
            unsigned = builder.sign(leaf_key, hashes.SHA256())
            cert = self._resign_sha1(unsigned, issuer, not_after)
        else:
            cert = builder.sign(issuer.key, hashes.SHA256())
        chain = tuple(issuer.chain()) if send_chain else ()
        return Leaf(cert, leaf_key, chain)

    def server_context(self, *names: str, **options: object) -> ssl.SSLContext:
        """A server context serving a new leaf (see `leaf` for the options)."""
        return self.context_for(self.leaf(*names, **options))  # type: ignore[arg-type]

    @staticmethod
    def context_for(leaf: Leaf) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # Serve what a test asks for, however weak: judging it is the client's job.
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        with tempfile.TemporaryDirectory(prefix="ronda-pki-") as folder:  # ssl loads only from files
            cert_file, key_file = Path(folder) / "cert.pem", Path(folder) / "cert.key"
            cert_file.write_bytes(leaf.chain_pem)
            key_file.write_bytes(leaf.key_pem)
            ctx.load_cert_chain(cert_file, key_file)
        return ctx

    def self_signed_context(self, *names: str) -> ssl.SSLContext:
        """A certificate from a CA nobody trusts."""
        stranger = Authority.root("nobody trusts me")
        return self.server_context(*names, issuer=stranger)

    def _resign_sha1(self, cert: x509.Certificate, issuer: Authority, not_after: dt.datetime) -> x509.Certificate:
        # cryptography refuses to sign with SHA-1 (rightly); servers in the wild still do.
        days = max(1, (not_after - system_clock()).days)
        with tempfile.TemporaryDirectory(prefix="ronda-pki-") as name:
            folder = Path(name)
            (folder / "tbs.pem").write_bytes(_pem(cert))
            (folder / "ca.pem").write_bytes(_pem(issuer.cert))
            (folder / "ca.key").write_bytes(_pem_key(issuer.key))
            subprocess.run(
                [
                    "openssl",
                    "x509",
                    "-in",
                    "tbs.pem",
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-sha1",
                    "-days",
                    str(days),
                    "-set_serial",
                    str(cert.serial_number),
                    "-out",
                    "sha1.pem",
                ],
                cwd=folder,
                check=True,
                capture_output=True,
            )
            return x509.load_pem_x509_certificate((folder / "sha1.pem").read_bytes())
