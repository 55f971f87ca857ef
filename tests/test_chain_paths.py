"""A chain is judged by the path a client builds to a trusted root, not by the list the
server sends. Each chain below is built with its own PKI, served from a real TLS server on
loopback, and judged three times: by ronda, by OpenSSL (`openssl s_client
-verify_return_error`) and by curl, each trusting exactly the same roots. Where OpenSSL
and curl accept, ronda is not down; where they refuse, ronda is down and names the
certificate at fault and why.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ronda.certs.analysis import analyze
from ronda.certs.session import TlsSession
from ronda.check import run_check
from ronda.probes.base import ProbeContext
from ronda.target import CheckOptions, parse_target
from ronda.verdict import Verdict
from ronda.world.pki import Authority, Leaf, LocalPKI
from ronda.world.web import WebServer

NOW = datetime.now(UTC)
DAY = timedelta(days=1)
HOST = "shop.test"


@dataclass
class World:
    """Two generations of roots, as in Let's Encrypt's 2021 change: the new root issues the
    intermediate, and the old root cross-signs the new one."""

    old: Authority
    new: Authority
    intermediate: Authority

    @classmethod
    def make(cls, old_until: datetime | None = None) -> World:
        old = Authority.root("Old Root", valid_from=NOW - 4000 * DAY, valid_until=old_until or NOW + 1000 * DAY)
        new = Authority.root("New Root", valid_from=NOW - 2000 * DAY)
        return cls(old, new, new.child("Intermediate", valid_from=NOW - 300 * DAY))

    def leaf(self, *chain: x509.Certificate, **options: object) -> Leaf:
        """A leaf for shop.test (issued by the intermediate unless `issuer=`), served with `chain`."""
        made = LocalPKI(intermediate=self.intermediate).leaf(HOST, **options)  # type: ignore[arg-type]
        return Leaf(made.cert, made.key, chain)

    def expired_cross_sign(self) -> x509.Certificate:
        return self.new.cross_signed_by(self.old, valid_from=NOW - 1500 * DAY, valid_until=NOW - 30 * DAY)


def write_bundle(folder: Path, *roots: Authority) -> str:
    path = folder / "roots.pem"
    path.write_bytes(b"".join(root.cert.public_bytes(Encoding.PEM) for root in roots))
    return str(path)


@dataclass
class Judged:
    verdict: Verdict
    openssl_accepts: bool
    curl_accepts: bool

    @property
    def codes(self) -> set[str]:
        return {f.code for f in self.verdict.findings}

    @property
    def warning_codes(self) -> set[str]:
        return {w.code for w in self.verdict.warnings}


def openssl_accepts(address: str, port: int, bundle: str) -> bool:
    run = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"{address}:{port}",
            "-servername",
            HOST,
            "-verify_hostname",
            HOST,
            "-verify_return_error",
            "-CAfile",
            bundle,
            "-no-CApath",
            "-no-CAstore",
        ],
        input=b"",
        capture_output=True,
        timeout=30,
    )
    return run.returncode == 0


def curl_accepts(address: str, port: int, bundle: str, host: str = HOST) -> bool:
    run = subprocess.run(
        [
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "--noproxy",
            "*",
            "--max-time",
            "20",
            "--cacert",
            bundle,
            "--resolve",
            f"{host}:{port}:{address}",
            f"https://{host}:{port}/",
        ],
        capture_output=True,
        timeout=30,
        env={key: value for key, value in os.environ.items() if "proxy" not in key.lower()},
    )
    assert run.returncode in (0, 35, 51, 60), run.stderr  # 60: certificate refused
    return run.returncode == 0


@pytest.fixture
def judge(web: Callable[..., WebServer], tmp_path: Path) -> Callable[..., Judged]:
    def run(leaf: Leaf, *roots: Authority, address: str = "127.0.0.3") -> Judged:
        bundle = write_bundle(tmp_path, *roots)
        server = web(address, tls=LocalPKI.context_for(leaf))
        options = CheckOptions(ca_file=bundle, resolve={(HOST, server.port): (address,)})
        verdict = asyncio.run(run_check(parse_target(f"https://{HOST}:{server.port}/"), options))
        return Judged(
            verdict, openssl_accepts(address, server.port, bundle), curl_accepts(address, server.port, bundle)
        )

    return run


def agrees(judged: Judged) -> None:
    """ronda is down exactly where OpenSSL and curl refuse."""
    assert judged.openssl_accepts == judged.curl_accepts
    assert (judged.verdict.status != "down") == judged.openssl_accepts, judged.verdict.summary


def test_an_expired_cross_sign_beside_a_valid_path_is_a_warning_naming_it(judge):
    world = World.make()
    cross = world.expired_cross_sign()
    judged = judge(world.leaf(world.intermediate.cert, cross), world.old, world.new)
    agrees(judged)
    assert judged.openssl_accepts
    assert judged.verdict.status == "up" and "cert_intermediate_expired" not in judged.codes
    [extra] = [w for w in judged.verdict.warnings if w.code == "cert_chain_extra"]
    assert "also sends CN=New Root,O=ronda world (issued by CN=Old Root,O=ronda world)" in extra.detail
    assert f"expired {cross.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}" in extra.detail
    assert "clients build their path to CN=New Root,O=ronda world without it" in extra.detail


def test_the_expired_cross_sign_is_the_fault_for_a_client_that_trusts_only_the_old_root(judge):
    world = World.make()
    cross = world.expired_cross_sign()
    judged = judge(world.leaf(world.intermediate.cert, cross), world.old)
    agrees(judged)
    assert (judged.verdict.status, judged.verdict.cause) == ("down", "cert_intermediate_expired")
    assert (
        f"intermediate CN=New Root,O=ronda world (issued by CN=Old Root,O=ronda world) expired "
        f"{cross.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}, and no path to a trusted root avoids it"
    ) in judged.verdict.summary


def test_a_valid_cross_sign_after_the_old_root_expired_leads_to_the_new_root(judge):
    world = World.make(old_until=NOW - 60 * DAY)  # the old root itself has expired, as DST Root CA X3 did
    cross = world.new.cross_signed_by(world.old, valid_from=NOW - 1500 * DAY, valid_until=NOW + 900 * DAY)
    judged = judge(world.leaf(world.intermediate.cert, cross), world.old, world.new)
    agrees(judged)
    assert judged.verdict.status == "up" and not judged.verdict.warnings  # older clients may still need it


def test_a_client_with_only_the_expired_old_root_is_told_the_root_expired(judge):
    world = World.make(old_until=NOW - 60 * DAY)
    cross = world.new.cross_signed_by(world.old, valid_from=NOW - 1500 * DAY, valid_until=NOW + 900 * DAY)
    judged = judge(world.leaf(world.intermediate.cert, cross), world.old)
    agrees(judged)
    assert (judged.verdict.status, judged.verdict.cause) == ("down", "cert_untrusted")
    assert "the trusted root CN=Old Root,O=ronda world expired" in judged.verdict.summary


def test_a_chain_sent_out_of_order_with_its_root_is_judged_by_its_path(judge):
    world = World.make()
    judged = judge(world.leaf(world.new.cert, world.intermediate.cert), world.new)
    agrees(judged)
    assert judged.verdict.status == "up" and not judged.verdict.warnings


def test_a_stale_certificate_left_in_the_bundle_is_a_warning(judge):
    world = World.make()
    stale = world.leaf(valid_from=NOW - 200 * DAY, valid_until=NOW - 100 * DAY).cert
    judged = judge(world.leaf(world.intermediate.cert, stale), world.new)
    agrees(judged)
    assert judged.verdict.status == "up"
    [extra] = [w for w in judged.verdict.warnings if w.code == "cert_chain_extra"]
    assert "also sends CN=shop.test (issued by CN=Intermediate,O=ronda world), which expired" in extra.detail


def test_an_unrelated_valid_certificate_sent_along_is_a_warning(judge):
    world = World.make()
    stranger = Authority.root("Somebody Else").child("Unrelated")
    judged = judge(world.leaf(world.intermediate.cert, stranger.cert), world.new)
    agrees(judged)
    assert judged.verdict.status == "up"
    [extra] = [w for w in judged.verdict.warnings if w.code == "cert_chain_extra"]
    assert "CN=Unrelated,O=ronda world" in extra.detail and "issued none of the certificates it sends" in extra.detail


def test_a_missing_intermediate_names_the_issuer_nobody_sent(judge):
    world = World.make()
    judged = judge(world.leaf(), world.new)
    agrees(judged)
    assert (judged.verdict.status, judged.verdict.cause) == ("down", "cert_untrusted")
    assert (
        "it is issued by CN=Intermediate,O=ronda world, which is not a trusted authority, and the server does "
        "not send its certificate"
    ) in judged.verdict.summary


def test_an_intermediate_with_the_right_name_but_another_key_did_not_sign_it(judge):
    world = World.make()
    impostor = world.new.child("Intermediate")  # same name, new key: a reissued CA sent by mistake
    judged = judge(world.leaf(impostor.cert), world.new)
    agrees(judged)
    assert (judged.verdict.status, judged.verdict.cause) == ("down", "cert_untrusted")
    assert (
        "the certificate names CN=Intermediate,O=ronda world as its issuer, but the certificate "
        "CN=Intermediate,O=ronda world did not sign it"
    ) in judged.verdict.summary


def test_a_chain_to_a_root_nobody_trusts_names_that_root(judge):
    world = World.make()
    stranger = Authority.root("Stranger Root")
    middle = stranger.child("Stranger Intermediate")
    judged = judge(world.leaf(middle.cert, stranger.cert, issuer=middle), world.new)
    agrees(judged)
    assert (judged.verdict.status, judged.verdict.cause) == ("down", "cert_untrusted")
    assert "the chain ends at CN=Stranger Root,O=ronda world, a root that is not trusted here" in judged.verdict.summary


def test_an_expired_intermediate_with_no_way_around_it_is_down(judge):
    world = World.make()
    old_middle = world.new.child("Old Intermediate", valid_from=NOW - 400 * DAY, valid_until=NOW - 3 * DAY)
    judged = judge(world.leaf(old_middle.cert, issuer=old_middle, valid_from=NOW - 10 * DAY), world.new)
    agrees(judged)
    assert (judged.verdict.status, judged.verdict.cause) == ("down", "cert_intermediate_expired")
    assert "intermediate CN=Old Intermediate,O=ronda world (issued by CN=New Root,O=ronda world) expired" in (
        judged.verdict.summary
    )


def test_two_intermediates_one_expired_the_valid_one_is_used(judge):
    world = World.make()
    # The intermediate's name and key, certified twice: an old certificate that expired and
    # its renewal. The server sends both, the expired one first.
    renewed = world.intermediate.cert
    expired = _recertified(world.intermediate, world.new, NOW - 800 * DAY, NOW - 5 * DAY)
    judged = judge(world.leaf(expired, renewed), world.new)
    agrees(judged)
    assert judged.verdict.status == "up"
    assert [w.code for w in judged.verdict.warnings] == ["cert_chain_extra"]


def test_an_intermediate_not_valid_yet_is_named_with_its_date(judge):
    world = World.make()
    early = world.new.child("Early Intermediate", valid_from=NOW + 5 * DAY, valid_until=NOW + 900 * DAY)
    judged = judge(world.leaf(early.cert, issuer=early), world.new)
    agrees(judged)
    assert (judged.verdict.status, judged.verdict.cause) == ("down", "cert_untrusted")
    assert "intermediate CN=Early Intermediate,O=ronda world is valid only from" in judged.verdict.summary


def test_a_certificate_for_clients_only_is_refused_in_plain_words(judge):
    world = World.make()
    judged = judge(world.leaf(world.intermediate.cert, client=True), world.new)
    agrees(judged)
    assert (judged.verdict.status, judged.verdict.cause) == ("down", "cert_untrusted")
    assert "not meant for TLS servers (its extended key usage lacks serverAuth)" in judged.verdict.summary


def test_a_certificate_without_subject_alt_name_says_so(judge):
    # OpenSSL and curl still fall back to the subject's CN; browsers have refused such
    # certificates since 2017 (Chrome 58), so ronda judges as a browser: no cross-check.
    world = World.make()
    judged = judge(world.leaf(world.intermediate.cert, subject_alt_name=False), world.new)
    assert (judged.verdict.status, judged.verdict.cause) == ("down", "cert_hostname_mismatch")
    assert "has no subjectAltName, only the subject CN=shop.test; browsers ignore the subject's name" in (
        judged.verdict.summary
    )


def test_dates_are_judged_at_the_checks_own_time(web, tmp_path):
    """The clock a check is given decides: at a moment after the intermediate expires, the
    same server is down, as `openssl verify -attime` says of the same chain then."""
    world = World.make()
    ending = world.new.child("Ending Intermediate", valid_from=NOW - 300 * DAY, valid_until=NOW + 20 * DAY)
    leaf = world.leaf(ending.cert, issuer=ending, valid_until=NOW + 60 * DAY)
    bundle = write_bundle(tmp_path, world.new)
    server = web("127.0.0.4", tls=LocalPKI.context_for(leaf))
    options = CheckOptions(ca_file=bundle, resolve={(HOST, server.port): ("127.0.0.4",)})
    later = NOW + 30 * DAY
    verdicts = {
        moment: asyncio.run(
            run_check(parse_target(f"https://{HOST}:{server.port}/"), options, ProbeContext(clock=lambda m=moment: m))
        )
        for moment in (NOW, later)
    }
    assert verdicts[NOW].status == "up"
    assert "cert_intermediate_expiring" in {w.code for w in verdicts[NOW].warnings}
    assert (verdicts[later].status, verdicts[later].cause) == ("down", "cert_intermediate_expired")
    assert "intermediate CN=Ending Intermediate,O=ronda world" in verdicts[later].summary
    (tmp_path / "leaf.pem").write_bytes(leaf.cert_pem)
    (tmp_path / "chain.pem").write_bytes(ending.cert.public_bytes(Encoding.PEM))
    for moment, accepted in ((NOW, True), (later, False)):
        run = subprocess.run(
            [
                "openssl",
                "verify",
                "-attime",
                str(int(moment.timestamp())),
                "-CAfile",
                bundle,
                "-no-CApath",
                "-no-CAstore",
                "-untrusted",
                "chain.pem",
                "leaf.pem",
            ],
            cwd=tmp_path,
            capture_output=True,
            timeout=30,
        )
        assert (run.returncode == 0) is accepted, run.stdout + run.stderr


def _recertified(ca: Authority, issuer: Authority, valid_from: datetime, valid_until: datetime) -> x509.Certificate:
    """Another certificate for the same CA (name and key), as when an intermediate is renewed."""
    return ca.cross_signed_by(issuer, valid_from=valid_from, valid_until=valid_until)


def test_every_mix_of_sent_certificates_and_trusted_roots_agrees_with_openssl_verify(tmp_path):
    """What a server may send beside its leaf (the intermediate, the expired cross-sign, a
    stale certificate, an unrelated one, an impostor of the intermediate), in every
    combination, against clients trusting the new root, the old one, or both: ronda is down
    exactly where `openssl verify -untrusted` refuses, and never for an expired certificate
    that a valid path avoids."""
    world = World.make()
    leaf = world.leaf()
    extras = {
        "intermediate": world.intermediate.cert,
        "expired cross-sign": world.expired_cross_sign(),
        "stale leaf": world.leaf(valid_from=NOW - 200 * DAY, valid_until=NOW - 100 * DAY).cert,
        "unrelated": Authority.root("Somebody Else").child("Unrelated").cert,
        "impostor": world.new.child("Intermediate").cert,
    }
    stores = {"new root": [world.new], "old root": [world.old], "both roots": [world.old, world.new]}
    (tmp_path / "leaf.pem").write_bytes(leaf.cert_pem)
    leaf_der = leaf.cert.public_bytes(Encoding.DER)
    disagreements = []
    for store_name, roots in stores.items():
        bundle = tmp_path / f"{store_name}.pem"
        bundle.write_bytes(b"".join(root.cert.public_bytes(Encoding.PEM) for root in roots))
        for mask in range(2 ** len(extras)):
            sent = [cert for i, cert in enumerate(extras.values()) if mask >> i & 1]
            names = [name for i, name in enumerate(extras) if mask >> i & 1]
            refusal = _openssl_verify(tmp_path, str(bundle), sent)
            session = TlsSession(leaf_der, [c.public_bytes(Encoding.DER) for c in sent], "TLSv1.3", refusal)
            report = analyze(session, HOST, "127.0.0.1", 443, NOW, None, str(bundle))
            codes = [code for code, _ in report.problems]
            if bool(codes) != (refusal is not None) or (refusal is None and "cert_intermediate_expired" in codes):
                disagreements.append(f"{store_name}, sent {names}: OpenSSL {refusal}, ronda {report.problems}")
    assert not disagreements, "\n".join(disagreements)


def _openssl_verify(folder: Path, bundle: str, sent: list[x509.Certificate]) -> tuple[int, str] | None:
    """OpenSSL's verdict on leaf.pem with `sent` as untrusted certificates: None when it
    accepts, else its error code and message."""
    untrusted = folder / "sent.pem"
    untrusted.write_bytes(b"".join(cert.public_bytes(Encoding.PEM) for cert in sent))
    command = ["openssl", "verify", "-purpose", "sslserver", "-verify_hostname", HOST, "-CAfile", bundle]
    command += ["-no-CApath", "-no-CAstore", *(["-untrusted", str(untrusted)] if sent else []), "leaf.pem"]
    run = subprocess.run(
        command,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if run.returncode == 0:
        return None
    found = re.search(r"error (\d+) at \d+ depth lookup: (.+)", run.stdout + run.stderr)
    assert found, run.stdout + run.stderr
    return int(found[1]), found[2].strip()
