"""file:///path: certificates at rest, in PEM, DER or PKCS#12 files, or a folder of them.

Certificates baked into software or used service to service expire too, and no server fails
first to tell. Each one gets the analysis a served certificate gets (validity, weak keys and
signatures, expiry warnings, the chain after a leaf), without a host name (there is none) and
without trust (a file may well hold a private CA's certificate).

Each file stands where an address stands for a name: findings carry the file's path as their
address, so a folder with one expired file among good ones is degraded, naming the file. The
format is told by content, not by extension. Private keys are skipped, never decoded, never
reported. Reading runs in a thread and stops at the deadline.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import re
import stat
import time
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from ronda.certs import analysis
from ronda.certs.inspect import CertFacts, CertificateDamaged, chain_entry, read_certificate
from ronda.certs.rules import (
    chain_problems,
    chain_warnings,
    expiry_warnings,
    validity_problems,
    weak_key,
    weak_signature,
)
from ronda.probes.base import Observation, ProbeContext, ProbeScheme
from ronda.target import CheckOptions, Target
from ronda.verdict import CertificateInfo

MAX_FILES = 1000  # files read from one folder; beyond, the check says so (file_limit_reached)
MAX_FILE_BYTES = 10 * 1024 * 1024  # the whole Mozilla bundle is 0.2 MiB

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
# OpenSSL's c_rehash names (5a3f0ff8.0) are links to files of the same folder: read the file under its own name.
_HASH_LINK = re.compile(r"^[0-9a-f]{8}\.r?\d+$")
# A PKCS#12 PFX: SEQUENCE { INTEGER 3, ContentInfo { OID 1.2.840.113549.1.7.x ... } }
_PFX_VERSION = b"\x02\x01\x03"
_PKCS7_OID = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07"

Problem = tuple[str, str]  # (cause code, detail)


@dataclass(frozen=True)
class Passwords:
    """What to try on a PKCS#12 file, and what to say when none opens it."""

    candidates: tuple[bytes | None, ...]
    failure: str


@dataclass
class FileContent:
    """What one file holds: certificates, the file's own problems, or why it is no certificate file."""

    path: str
    certificates: list[CertFacts] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skip: Problem | None = None  # not a certificate file: skipped in a folder, the finding for a lone file


@dataclass
class Reading:
    path: str
    files: list[FileContent] = field(default_factory=list)  # those that hold certificates, or fail
    problem: Problem | None = None  # the path itself cannot be read
    folder: bool = False
    skipped: dict[str, list[str]] = field(default_factory=dict)  # why -> file names
    left_out: int = 0  # files past MAX_FILES
    out_of_time: bool = False


async def probe_file(
    target: Target, options: CheckOptions, ctx: ProbeContext, obs: Observation, deadline: float
) -> None:
    refused = options.reach.refused_path(target.path)
    if refused:  # checked at each check: a link inside the allowed folders may point out since
        obs.addresses.append(target.path)
        obs.problem("target_not_allowed", refused, address=target.path, host=target.path, port=0)
        return
    reading = await asyncio.to_thread(read_path, target.path, passwords(target.params), deadline)
    record(obs, reading, ctx.clock(), options.warn_days)


def passwords(params: dict[str, str]) -> Passwords:
    """From `?password_env=VAR` (kept off command lines and out of the URL) or `?password=`."""
    if "password_env" in params:
        name = params["password_env"]
        value = os.environ.get(name)
        if value is None:
            return Passwords((), f"password_env={name}: the environment variable {name} is not set")
        return Passwords((value.encode(),), f"the PKCS#12 password from ${name} is wrong, or the file is damaged")
    if "password" in params:
        return Passwords((params["password"].encode(),), "the PKCS#12 password is wrong, or the file is damaged")
    return Passwords(
        (None, b""), "the PKCS#12 file needs a password: add ?password_env=VAR (or ?password=...) to the URL"
    )


# --- reading (in a thread) ------------------------------------------------------------------------


def read_path(path: str, passwords: Passwords, deadline: float) -> Reading:
    try:
        is_folder = stat.S_ISDIR(os.stat(path).st_mode)
    except OSError as exc:
        return Reading(path, problem=("file_unreadable", f"{path}: {_why(exc)}"))
    if is_folder:
        return _read_folder(path, passwords, deadline)
    content = read_file(path, passwords)
    if content.skip is not None:
        content.problems.append(content.skip)
    return Reading(path, [content])


def _read_folder(folder: str, passwords: Passwords, deadline: float) -> Reading:
    reading = Reading(folder, folder=True)
    try:
        names = _file_names(folder)
    except OSError as exc:
        reading.problem = ("file_unreadable", f"{folder}: {_why(exc)}")
        return reading
    seen: set[str] = set()
    read = 0
    # Own names before hash links, so that a file read once is named as people named it.
    for position, name in enumerate(sorted(names, key=lambda n: (bool(_HASH_LINK.match(n)), n))):
        if time.monotonic() >= deadline:
            reading.out_of_time = True
            break
        path = os.path.join(folder, name)
        real = os.path.realpath(path)
        if real in seen:
            reading.skipped.setdefault("links to a file already read", []).append(name)
            continue
        if read == MAX_FILES:
            reading.left_out = len(names) - position
            break
        seen.add(real)
        read += 1
        content = read_file(path, passwords)
        if content.skip is not None:
            reading.skipped.setdefault(_skip_reason(content.skip), []).append(name)
        else:
            reading.files.append(content)
    reading.files.sort(key=lambda f: f.path)
    return reading


def _file_names(folder: str) -> list[str]:
    """Regular files (or links to them) directly in the folder: not recursive."""
    names = []
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                if entry.is_file():
                    names.append(entry.name)
            except OSError:
                continue  # a broken link or a vanished entry is no certificate file
    return names


def _skip_reason(skip: Problem) -> str:
    return "unreadable" if skip[0] == "file_unreadable" else "holding no certificate"


def read_file(path: str, passwords: Passwords) -> FileContent:
    try:
        data = _read_bytes(path)
    except OSError as exc:
        return FileContent(path, skip=("file_unreadable", f"{path}: {_why(exc)}"))
    content = FileContent(path)
    if not data.strip():
        content.skip = ("no_certificate", f"{path}: the file is empty")
    elif b"-----BEGIN " in data:
        _parse_pem(data, content)
    elif (facts := _certificate(data)) is not None:
        content.certificates.append(facts)
    elif (damage := _damage(data)) is not None:
        content.problems.append(("file_unreadable", f"{path}: a DER certificate that cannot be read: {damage}"))
    elif _looks_like_pkcs12(data):
        _parse_pkcs12(data, passwords, content)
    else:
        content.skip = ("no_certificate", f"{path}: holds no certificate (neither PEM, DER nor PKCS#12)")
    return content


def _read_bytes(path: str) -> bytes:
    # O_NONBLOCK: opening a named pipe must not wait for a writer; regular files ignore it.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(0, "not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise OSError(0, f"{info.st_size / 2**20:.0f} MiB, more than a certificate file holds")
        return file.read(MAX_FILE_BYTES)


def _parse_pem(data: bytes, content: FileContent) -> None:
    others: set[str] = set()
    blocks = bad = 0
    for label, body in _PEM_BLOCK.findall(data):
        if label not in _CERT_LABELS:
            others.add(label.decode())  # only the label: a key's body is never decoded
            continue
        blocks += 1
        facts = _certificate(_base64(body))
        if facts is None:
            bad += 1
        else:
            content.certificates.append(facts)
    if bad:
        content.problems.append(
            ("file_unreadable", f"{content.path}: {bad} of its {blocks} PEM certificates cannot be parsed")
        )
    elif not blocks:
        kinds = f"only {', '.join(sorted(others))}" if others else "no complete PEM block"
        content.skip = ("no_certificate", f"{content.path}: holds no certificate ({kinds})")


def _base64(body: bytes) -> bytes:
    try:
        return base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        return b""


def _certificate(der: bytes) -> CertFacts | None:
    """The facts of one DER certificate, or None. Extra bytes after it (OpenSSL's TRUSTED
    CERTIFICATE appends its trust settings) are not part of it."""
    try:
        return read_certificate(der[: _der_length(der)])
    except (ValueError, UnsupportedAlgorithm):
        return None


def _damage(der: bytes) -> str | None:
    """What is wrong with a DER certificate whose fields do not parse; None when the bytes
    are no certificate at all (the file may be of another kind)."""
    try:
        read_certificate(der[: _der_length(der)])
    except CertificateDamaged as exc:
        return str(exc)
    except (ValueError, UnsupportedAlgorithm):
        return None
    return None


def _der_length(der: bytes) -> int:
    """The length of the first DER element (header included); all of `der` when unsure."""
    if len(der) < 2 or der[1] < 0x80:
        return 2 + der[1] if len(der) >= 2 else len(der)
    size = der[1] & 0x7F
    if size == 0 or size > 4 or len(der) < 2 + size:
        return len(der)
    return 2 + size + int.from_bytes(der[2 : 2 + size], "big")


def _looks_like_pkcs12(data: bytes) -> bool:
    """A PFX structure, whatever its password: tells a wrong password from a file of another kind."""
    if len(data) < 4 or data[0] != 0x30:
        return False
    start = 2 + (data[1] & 0x7F if data[1] >= 0x80 else 0)
    return data[start : start + 3] == _PFX_VERSION and _PKCS7_OID in data[start : start + 24]


def _parse_pkcs12(data: bytes, passwords: Passwords, content: FileContent) -> None:
    for password in passwords.candidates:
        try:
            bundle = pkcs12.load_pkcs12(data, password)
        except (ValueError, UnsupportedAlgorithm):
            continue
        entries = ([bundle.cert] if bundle.cert else []) + list(bundle.additional_certs)
        for entry in entries:
            facts = _certificate(entry.certificate.public_bytes(Encoding.DER))
            if facts is not None:
                content.certificates.append(facts)
        if not content.certificates:
            content.skip = ("no_certificate", f"{content.path}: a PKCS#12 file with no certificate in it")
        return
    content.problems.append(("auth_failed", f"{content.path}: {passwords.failure}"))


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


# --- analysis (pure) ------------------------------------------------------------------------------


def chains(certificates: list[CertFacts]) -> list[tuple[CertFacts, list[CertFacts]]]:
    """Each certificate that issued none of the others in the file, with its chain as found
    there, in any order. A leaf followed by its chain is one group; a bundle of roots is as many
    groups as roots; whatever no group reaches (issuers in a loop) stands alone."""
    unique = list({c.fingerprint_sha256: c for c in certificates}.values())

    def issuer_of(cert: CertFacts) -> CertFacts | None:
        if cert.self_issued:
            return None
        return next((c for c in unique if c.subject == cert.issuer and c is not cert), None)

    issuers = {issuer.fingerprint_sha256 for cert in unique if (issuer := issuer_of(cert)) is not None}
    groups: list[tuple[CertFacts, list[CertFacts]]] = []
    covered: set[str] = set()
    for cert in unique:
        if cert.fingerprint_sha256 in issuers:
            continue
        chain: list[CertFacts] = []
        current = issuer_of(cert)
        while current is not None and current is not cert and current not in chain:
            chain.append(current)
            current = issuer_of(current)
        groups.append((cert, chain))
        covered.update(c.fingerprint_sha256 for c in (cert, *chain))
    groups += [(c, []) for c in unique if c.fingerprint_sha256 not in covered]
    return groups


def judge(
    leaf: CertFacts, chain: list[CertFacts], now: datetime, warn_days: float | None
) -> tuple[list[Problem], list[Problem]]:
    """Problems and warnings of one certificate and its chain, as for a served one, less the
    host name and trust. Warnings only when nothing is wrong, as `certs.analysis` has it."""
    problems = [(code, f"{leaf.subject}: {detail}") for code, detail in validity_problems(leaf, now)]
    for code, why in (("cert_weak_key", weak_key(leaf)), ("cert_weak_signature", weak_signature(leaf))):
        if why:
            problems.append((code, f"{leaf.subject}: {why}"))
    problems += chain_problems(chain, now)
    if problems:
        return problems, []
    warnings = [(code, f"{leaf.subject}: {detail}") for code, detail in expiry_warnings(leaf, now, warn_days)]
    return problems, warnings + chain_warnings(chain, now, warn_days)


def certificate_info(
    host: str, path: str, leaf: CertFacts, chain: list[CertFacts], codes: list[str], now: datetime
) -> CertificateInfo:
    return analysis.certificate_info(leaf, tuple(chain_entry(c) for c in chain), host, path, 0, now, codes)


# --- recording ------------------------------------------------------------------------------------


def record(obs: Observation, reading: Reading, now: datetime, warn_days: float | None) -> None:
    """Fill the observation: each file an address, the target's path the host, port 0."""
    host = reading.path
    if reading.problem is not None:
        obs.addresses.append(reading.path)
        obs.problem(*reading.problem, address=reading.path, host=host, port=0)
        return
    for content in reading.files:
        obs.addresses.append(content.path)
        problems, warnings = list(content.problems), []
        for leaf, chain in chains(content.certificates):
            found, warned = judge(leaf, chain, now, warn_days)
            obs.certificates.append(
                certificate_info(host, content.path, leaf, chain, [c for c, _ in found + warned], now)
            )
            problems += found
            warnings += warned
        for code, detail in dict.fromkeys(problems):  # an intermediate shared by two leaves, once
            obs.problem(code, _in(content.path, detail), address=content.path, host=host, port=0)
        for code, detail in dict.fromkeys(warnings):
            obs.warn(code, _in(content.path, detail), address=content.path, host=host, port=0)
    if reading.folder:
        _record_folder(obs, reading)


def _in(path: str, detail: str) -> str:
    return detail if detail.startswith(path) else f"{path}: {detail}"


def _record_folder(obs: Observation, reading: Reading) -> None:
    host = reading.path
    counted = f"{len(reading.files)} certificate files read" + "".join(
        f", {len(names)} skipped as {why} ({_names(names)})" for why, names in sorted(reading.skipped.items())
    )
    if reading.out_of_time:
        obs.problem(
            "file_unreadable",
            f"{host}: reading stopped at the check's deadline ({counted}); a slow disk, or too big a folder",
            host=host,
            port=0,
        )
    elif not reading.files:
        obs.problem("no_certificate", f"{host}: no certificate file in the folder ({counted})", host=host, port=0)
    if reading.left_out:
        obs.warn(
            "file_limit_reached",
            f"{host}: more than {MAX_FILES} files; read the first {MAX_FILES} by name, {reading.left_out} "
            "left unread: point the check at a smaller folder",
            host=host,
            port=0,
        )


def _names(names: list[str], shown: int = 5) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


SCHEME = ProbeScheme(probe_file)
