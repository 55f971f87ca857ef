"""CPU cost of ronda's certificate analysis, per certificate: in process, no network.

Every HTTPS, TLS and STARTTLS check ends in `ronda.certs.analysis.analyze`: read the leaf
and its chain with `cryptography`, apply the rules (dates, names, keys, chain), and build
the CertificateInfo of the verdict. This times it on distinct leaves from a local PKI:

- first sight: nothing cached, the leaf and its intermediate are both parsed;
- new leaf, known intermediate: what a monitor meets most (many sites, few CAs);
- seen again: both parses come from `read_certificate`'s cache, as on every later check;
- chain verification: the failure path of a server that left out its intermediate
  (OpenSSL's error 20), where `cryptography`'s verifier looks for a path with what was sent,
  then with the fetched intermediate (`ronda.certs.paths.build_path`, its answer cached by
  the hour), to tell an incomplete chain from an untrusted one. A chain OpenSSL verified is judged on the path it built,
  with no verifier call.

The peer is the bare parse of the same certificates with `cryptography`
(`x509.load_der_x509_certificate`), the least any analysis must pay; `openssl x509 -text`
is no peer, its process start alone costs a thousand times more.

Run from the repository root:

    python3 -m bench.cert_analysis [--certs 200] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import ssl
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from statistics import median

import cryptography
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from bench.probers import machine
from ronda.certs.analysis import CertReport, analyze
from ronda.certs.inspect import read_certificate
from ronda.certs.paths import forget_paths
from ronda.certs.session import TlsSession
from ronda.world.pki import LocalPKI

# What OpenSSL reports for a leaf sent without its intermediate.
ISSUER_NOT_FOUND = (20, "unable to get local issuer certificate")
ADDRESS, PORT = "127.0.0.1", 443  # only written into the report: nothing connects


@dataclass(frozen=True)
class Site:
    """One certificate as a handshake would have shown it."""

    host: str
    leaf_der: bytes
    chain_ders: list[bytes]  # what the server sent after the leaf: the intermediate
    path_ders: list[bytes]  # the path OpenSSL built: leaf, intermediate, root


@dataclass(frozen=True)
class Case:
    """One thing timed: `one(site)` for every site, after `prepare()` (not timed)."""

    name: str
    one: Callable[[Site], object]
    prepare: Callable[[], object]
    parses: str  # which bare parse it is compared with: "leaf" or "leaf+chain"
    ronda: bool = True


@dataclass(frozen=True)
class Timing:
    case: Case
    samples: list[float]  # CPU µs per certificate, one per pass

    @property
    def median(self) -> float:
        return median(self.samples)


# ---------------------------------------------------------------------------- the certificates


def make_sites(pki: LocalPKI, count: int, prefix: str = "host") -> list[Site]:
    """`count` distinct leaves, issued by the PKI's intermediate and sent with it."""
    sites = []
    for i in range(count):
        host = f"{prefix}-{i}.test"
        leaf = pki.leaf(host)
        chain = [c.public_bytes(Encoding.DER) for c in leaf.chain]
        leaf_der = leaf.cert.public_bytes(Encoding.DER)
        sites.append(Site(host, leaf_der, chain, [leaf_der, *chain, pki.root.cert.public_bytes(Encoding.DER)]))
    return sites


# ---------------------------------------------------------------------------- what is timed


def analyze_served(site: Site, now: datetime) -> CertReport:
    """The analysis of a verified handshake that sent the leaf and its chain."""
    session = TlsSession(site.leaf_der, site.chain_ders, "TLSv1.3", None, verified_ders=site.path_ders)
    return analyze(session, site.host, ADDRESS, PORT, now, None)


def analyze_incomplete(site: Site, now: datetime, ca_file: str) -> CertReport:
    """The analysis of a handshake OpenSSL refused because the server left out its
    intermediate, with the intermediate fetched (from AIA, in a real check)."""
    session = TlsSession(site.leaf_der, [], "TLSv1.3", ISSUER_NOT_FOUND)
    return analyze(session, site.host, ADDRESS, PORT, now, None, ca_file, fetched=site.chain_ders)


def first_sight(site: Site, now: datetime) -> CertReport:
    # Clearing an LRU of two entries costs well under a microsecond, against the
    # hundreds the analysis takes: timed along, rather than timing each call apart.
    read_certificate.cache_clear()
    return analyze_served(site, now)


def parse_leaf(site: Site) -> x509.Certificate:
    return x509.load_der_x509_certificate(site.leaf_der)


def parse_all(site: Site) -> list[x509.Certificate]:
    return [x509.load_der_x509_certificate(der) for der in (site.leaf_der, *site.chain_ders)]


def read_all(site: Site) -> None:
    for der in (site.leaf_der, *site.chain_ders):
        read_certificate(der)


def cases(sites: list[Site], now: datetime, ca_file: str) -> list[Case]:
    def nothing() -> None:
        pass

    def only_chains_known() -> None:
        read_certificate.cache_clear()
        for der in {der for site in sites for der in site.chain_ders}:
            read_certificate(der)

    def all_known() -> None:
        for site in sites:
            read_all(site)

    def all_known_unverified() -> None:
        all_known()
        forget_paths()

    def read_cold(site: Site) -> None:
        read_certificate.cache_clear()
        read_all(site)

    return [
        Case("analyze, first sight (leaf + intermediate parsed)", lambda s: first_sight(s, now), nothing, "leaf+chain"),
        Case("analyze, new leaf, intermediate known", lambda s: analyze_served(s, now), only_chains_known, "leaf"),
        Case("analyze, seen again (parse cached)", lambda s: analyze_served(s, now), all_known, "leaf"),
        Case(
            "analyze + chain verifier (intermediate left out)",
            lambda s: analyze_incomplete(s, now, ca_file),
            all_known_unverified,
            "leaf+chain",
        ),
        Case(
            "  the same, verified before (answer cached)",
            lambda s: analyze_incomplete(s, now, ca_file),
            all_known,
            "leaf+chain",
        ),
        Case("  of which read_certificate, first sight", read_cold, nothing, "leaf+chain"),
        Case("cryptography parse: leaf", parse_leaf, nothing, "leaf", ronda=False),
        Case("cryptography parse: leaf + intermediate", parse_all, nothing, "leaf+chain", ronda=False),
    ]


def time_case(case: Case, sites: list[Site], repeat: int) -> Timing:
    """CPU µs per certificate over `repeat` passes over all sites. CPU rather than wall
    time: the work is single-threaded, and CPU time ignores whatever else the machine does."""
    samples = []
    for _ in range(repeat):
        case.prepare()
        one = case.one
        start = time.process_time()
        for site in sites:
            one(site)
        samples.append((time.process_time() - start) * 1e6 / len(sites))
    return Timing(case, samples)


# ---------------------------------------------------------------------------- checks on the outcome


def require_outcomes(site: Site, now: datetime, ca_file: str) -> None:
    """A benchmark of the wrong path measures nothing: the sent chain must analyse
    clean, and the chain left out must be found completable (not untrusted)."""
    served = analyze_served(site, now)
    if served.certificate is None or served.problems or served.warnings:
        raise SystemExit(f"{site.host}: expected a clean analysis, got {served.problems + served.warnings}")
    incomplete = analyze_incomplete(site, now, ca_file)
    codes = [code for code, _ in incomplete.problems]
    if codes != ["cert_chain_incomplete"]:
        raise SystemExit(f"{site.host} without its intermediate: expected cert_chain_incomplete, got {codes}")


def warm_up(pki: LocalPKI, now: datetime, ca_file: str) -> None:
    """Fill the per-process caches that are no per-certificate cost (the system's roots,
    read once for `publicly_trusted` and the verifier's store) and import lazy code, on a
    leaf of its own so the measured ones stay unseen."""
    for site in make_sites(pki, 2, prefix="warm-up"):
        require_outcomes(site, now, ca_file)


# ---------------------------------------------------------------------------- report


def print_timings(timings: list[Timing]) -> None:
    bare = {t.case.parses: t.median for t in timings if not t.case.ronda}
    header = f"{'':<52}{'µs/cert':>9}{'min–max':>15}{'× bare parse':>14}"
    print(header)
    print("-" * len(header))
    for t in timings:
        spread = f"{short(min(t.samples))}–{short(max(t.samples))}"
        ratio = f"{t.median / bare[t.case.parses]:.1f}× ({t.case.parses})" if t.case.ronda else ""
        print(f"{t.case.name:<52}{t.median:>9.1f}{spread:>15}  {ratio}")
    verifier = median_of(timings, "analyze + chain verifier") - median_of(timings, "analyze, seen again")
    print(f"(the chain verifier's share: about {verifier:.0f} µs per certificate, the difference of the two)")
    # cryptography decodes names, extensions and the key only when asked: the bare parse is a floor.
    print("(× bare parse: against load_der_x509_certificate of the certificates the case reads, which defers")
    print(" decoding names, extensions and the key until they are asked for)")


def short(us: float) -> str:
    return f"{us:.1f}" if us < 10 else f"{us:.0f}"


def median_of(timings: list[Timing], prefix: str) -> float:
    return next(t.median for t in timings if t.case.name.startswith(prefix))


# ---------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--certs", type=int, default=200, help="distinct leaf certificates (default 200)")
    parser.add_argument("--repeat", type=int, default=7, help="passes per case, the median reported (default 7)")
    args = parser.parse_args(argv)
    if min(args.certs, args.repeat) < 1:
        parser.error("--certs and --repeat must be at least 1")
    return args


def print_cache_note(certs: int) -> None:
    """Past the cache's size, "seen again" finds nothing cached: an LRU read in a cycle
    longer than itself evicts each entry just before it is needed again."""
    size = read_certificate.cache_info().maxsize
    if size is not None and certs + 1 > size:
        print(
            f"note: {certs} leaves and their intermediate are more than read_certificate's cache holds ({size}); "
            "'seen again' re-parses every leaf, as a monitor cycling through that many certificates would"
        )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(f"machine: {machine()}; Python {platform.python_version()}, {ssl.OPENSSL_VERSION}")
    print(f"cryptography {cryptography.__version__}", flush=True)
    pki = LocalPKI()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="ronda-bench-") as tmp:
        ca_file = pki.write_ca(os.path.join(tmp, "ca.pem"))
        sites = make_sites(pki, args.certs)
        print(f"{len(sites)} distinct ECDSA P-256 leaves (90 days, SAN host-N.test) under one intermediate")
        warm_up(pki, now, ca_file)
        require_outcomes(sites[0], now, ca_file)
        print_cache_note(args.certs)
        print(f"CPU µs per certificate, median of {args.repeat} passes over all of them\n", flush=True)
        timings = [time_case(case, sites, args.repeat) for case in cases(sites, now, ca_file)]
    print_timings(timings)


if __name__ == "__main__":
    main()
