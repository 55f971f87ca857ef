"""Name resolution for every probe: `--resolve` overrides, a chosen nameserver through
dnspython (so NXDOMAIN, SERVFAIL, silence and empty answers are told apart), or the
system resolver (which honours /etc/hosts) when none is chosen."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.rdatatype
import dns.resolver

from ronda.hosts import is_ip_address
from ronda.target import CheckOptions


@dataclass(frozen=True)
class Resolution:
    addresses: tuple[str, ...] = ()
    error: str | None = None  # a dns_* cause code when no address was found
    detail: str = ""
    records: tuple[str, ...] = ()  # the answer's text, for dns:// checks


# When A and AAAA fail differently, the most telling error wins.
_ERROR_ORDER = ("dns_nxdomain", "dns_servfail", "dns_timeout", "dns_no_answer")


async def resolve_host(host: str, port: int, options: CheckOptions, deadline: float) -> Resolution:
    """The addresses behind host:port, or a dns_* error saying why there are none, or
    target_not_allowed when any of them is one the check may not reach (options.reach):
    after resolution, so a name that points somewhere private is refused at every check.
    (The nameserver is the operator's, from the config's defaults, or the monitor's own,
    judged when the monitor is added.)"""
    resolution = await _resolve(host, port, options, deadline)
    for address in resolution.addresses:
        refused = options.reach.refused_address(address)
        if refused:
            named = "" if address == host else f"{host} resolves to {address}: "
            return Resolution(error=NOT_ALLOWED, detail=f"{named}{refused}")
    return resolution


NOT_ALLOWED = "target_not_allowed"


async def _resolve(host: str, port: int, options: CheckOptions, deadline: float) -> Resolution:
    if is_ip_address(host):
        return Resolution((str(ipaddress.ip_address(host)),))
    pinned = _pinned(options.resolve, host, port)
    if pinned:
        return Resolution(pinned)
    if options.nameserver:
        answers = await asyncio.gather(
            query(host, "A", options.nameserver, deadline), query(host, "AAAA", options.nameserver, deadline)
        )
        addresses = tuple(a for answer in answers for a in answer.records)
        if addresses:
            return Resolution(addresses)
        return min(answers, key=lambda r: _ERROR_ORDER.index(r.error or "dns_no_answer"))
    return await _system_resolve(host, port, deadline)


def _pinned(resolve: dict[tuple[str, int], tuple[str, ...]], host: str, port: int) -> tuple[str, ...]:
    """`--resolve` pins HOST:PORT; a target without a port (icmp://, port 0) takes its host's
    entry at any port, since ping has none to write."""
    if port:
        return resolve.get((host, port), ())
    return next((addresses for (name, _), addresses in resolve.items() if name == host), ())


async def query(name: str, rdtype: str, nameserver: tuple[str, int], deadline: float) -> Resolution:
    """One query to one server, its failure named with the contract's DNS codes."""
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [nameserver[0]]
    resolver.port = nameserver[1]
    lifetime = max(deadline - time.monotonic(), 0.001)
    server = f"{nameserver[0]}:{nameserver[1]}"
    try:
        answer = await resolver.resolve(name, rdtype, lifetime=lifetime, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return Resolution(error="dns_nxdomain", detail=f"{name} does not exist (NXDOMAIN from {server})")
    except dns.resolver.NoNameservers as exc:
        return Resolution(error="dns_servfail", detail=f"{server} failed to answer for {name} ({_first_line(exc)})")
    except dns.exception.Timeout:
        return Resolution(error="dns_timeout", detail=f"{server} did not answer for {name} within {lifetime:.1f}s")
    except dns.exception.DNSException as exc:
        return Resolution(error="dns_servfail", detail=f"{server} gave no usable answer for {name}: {exc}")
    records = tuple(rdata.to_text() for rdata in answer) if answer.rrset else ()
    if not records:
        return Resolution(error="dns_no_answer", detail=f"{name} has no {rdtype} records at {server}")
    return Resolution(records, records=records)


def _first_line(exc: Exception) -> str:
    text = str(exc)
    return "SERVFAIL" if "SERVFAIL" in text else text.splitlines()[0][:200]


async def _system_resolve(host: str, port: int, deadline: float) -> Resolution:
    loop = asyncio.get_running_loop()
    budget = max(deadline - time.monotonic(), 0.001)
    try:
        async with asyncio.timeout(budget):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        return Resolution(
            error="dns_timeout", detail=f"the system resolver did not answer for {host} within {budget:.1f}s"
        )
    except socket.gaierror as exc:
        return Resolution(error=_GAI_ERRORS.get(exc.errno or 0, "dns_servfail"), detail=f"{host}: {exc.strerror}")
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    return Resolution(addresses) if addresses else Resolution(error="dns_no_answer", detail=f"{host} has no addresses")


_GAI_ERRORS = {
    socket.EAI_NONAME: "dns_nxdomain",
    socket.EAI_AGAIN: "dns_timeout",
    socket.EAI_FAIL: "dns_servfail",
}
if hasattr(socket, "EAI_NODATA"):
    _GAI_ERRORS[socket.EAI_NODATA] = "dns_no_answer"
