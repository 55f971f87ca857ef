"""Facts about host names and addresses that both URL parsing and certificate analysis need.

A base module, importing nothing of ronda's: the certificate rules ask "is this host an IP
address?" without importing URL parsing (ronda/target.py), which would close an import
circle through the probes.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

import idna


# Cached: a name costs ipaddress two ValueErrors built and raised (IPv4, then IPv6), and
# every check asks this of its host several times (1.5% of an HTTPS check's CPU, bench/).
@lru_cache(maxsize=8192)
def is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def ascii_host(host: str) -> str:
    """The host as DNS, TLS (SNI) and certificates spell it: an international name in its
    ASCII form (punycode, by IDNA 2008 with UTS #46 mapping, as browsers do), lower case,
    without a trailing dot. An ASCII name is kept as written (lower-cased): labels with
    `_`, which IDNA refuses, are common on private networks. Raises ValueError, in words,
    for a name IDNA refuses."""
    host = host.rstrip(".")
    if host.isascii():
        return host.lower()
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"{host!r} is not a valid international domain name ({exc})") from None


def readable_host(host: str) -> str:
    """The host as a person reads it: each punycode label (xn--) shown in Unicode where it
    decodes, the rest as it is (a wildcard `*`, an address)."""
    if "xn--" not in host.lower():
        return host
    return ".".join(_readable_label(label) for label in host.split("."))


def both_forms(host: str) -> str:
    """The readable form, with the ASCII one after it where they differ: `bücher.test
    (xn--bcher-kva.test)`. Where names are compared, look-alike letters from other scripts
    must not make two different names read the same."""
    readable = readable_host(host)
    return host if readable == host else f"{readable} ({host})"


def _readable_label(label: str) -> str:
    if not label.lower().startswith("xn--"):
        return label
    try:
        return idna.decode(label)
    except idna.IDNAError:
        return label
