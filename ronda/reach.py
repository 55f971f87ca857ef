"""Where a check may go: for monitors that people add through the API or the dashboard,
the config can keep checks off the machine's own network (`server.allow_private_targets`)
and its files (`server.file_roots`), so adding a monitor cannot probe internal ports, read
a cloud's metadata service, or list the service's home folder.

Addresses are judged after name resolution, at each check, so a name that points at
169.254.169.254 today is refused however it looked when the monitor was added. `ronda
check` and the config file's monitors are the operator's own: `Reach()` lets them go
anywhere.

A base module (the standard library only): the probes ask it, the service sets it.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Named here because they are where a cloud's instance keeps its credentials; every other
# refused address is refused by its kind (ipaddress's properties), not by a list.
METADATA = {
    ipaddress.ip_address("169.254.169.254"): "a cloud metadata service",
    ipaddress.ip_address("fd00:ec2::254"): "a cloud metadata service",
}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class Reach:
    private: bool = True  # may checks connect to loopback, private, link-local ... addresses
    file_roots: tuple[str, ...] | None = None  # folders file:// may read; None: any, (): none
    # Networks allowed all the same when `private` is False (server.allowed_private_networks):
    # an office LAN that added monitors may watch, while loopback and metadata stay refused.
    allowed: tuple[str, ...] = ()

    def refused_address(self, address: str) -> str | None:
        """Why a check may not connect to `address` (in words), or None when it may."""
        if self.private:
            return None
        kind = non_public(address)
        if kind is None or self._excepted(address):
            return None
        return f"{address} is {kind}, and server.allow_private_targets is false"

    def refused_path(self, path: str) -> str | None:
        """Why a check may not read `path`, or None when it may."""
        if self.file_roots is None:
            return None
        if not self.file_roots:
            return f"{path}: monitors added through the API may use no files (server.file_roots is empty)"
        real = os.path.realpath(path)
        if any(_inside(real, os.path.realpath(root)) for root in self.file_roots):
            return None
        where = "" if real == path.rstrip(os.sep) else f" (it leads to {real})"
        return f"{path}{where} is outside server.file_roots ({', '.join(self.file_roots)})"

    def _excepted(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        return any(ip in ipaddress.ip_network(network) for network in self.allowed)


ANYWHERE = Reach()


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def non_public(address: str) -> str | None:
    """What kind of address that is not on the public internet `address` is, or None for a
    public one (or for something that is not an address at all)."""
    try:
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])  # a zone (fe80::1%eth0) is not the address
    except ValueError:
        return None
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        kind = non_public(str(embedded))
        return f"{kind} (inside the IPv6 address)" if kind else None
    if ip in METADATA:
        return METADATA[ip]
    for test, words in _KINDS:
        if test(ip):
            return words
    return None if ip.is_global else "not a public address"


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, 6to4 or NAT64 address, which reaches it."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
# Most specific first: 127.0.0.1 is said to be loopback, though Python calls it private too.
_KINDS: tuple[tuple[Callable[[IPAddress], bool], str], ...] = (
    (lambda ip: ip.is_loopback, "a loopback address"),
    (lambda ip: ip.is_unspecified, "the unspecified address"),
    (lambda ip: ip.is_link_local, "a link-local address"),
    (lambda ip: ip.is_multicast, "a multicast address"),
    (lambda ip: isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT, "a carrier-grade NAT (shared) address"),
    (lambda ip: isinstance(ip, ipaddress.IPv6Address) and ip in _UNIQUE_LOCAL, "a unique-local address"),
    (lambda ip: ip.is_private, "a private address"),
    (lambda ip: ip.is_reserved, "a reserved address"),
)
