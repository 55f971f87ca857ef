"""Name resolution for every probe: `--resolve` overrides, else dnspython's asynchronous
resolver, through a chosen nameserver or the system's configuration (ronda/probes/system_dns.py:
/etc/hosts first, then the nameservers of /etc/resolv.conf). NXDOMAIN, SERVFAIL, silence and
empty answers are told apart, and every lookup ends by its check's deadline: nothing waits
in a thread another check needs."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.rdatatype
import dns.resolver

from ronda.hosts import ascii_host, is_ip_address
from ronda.probes.dnscache import DnsCache
from ronda.probes.system_dns import SYSTEM
from ronda.target import CheckOptions


@dataclass(frozen=True)
class Resolution:
    addresses: tuple[str, ...] = ()
    error: str | None = None  # a dns_* cause code when no address was found
    detail: str = ""
    records: tuple[str, ...] = ()  # the answer's text, for dns:// checks
    ttl: float = 0.0  # seconds the answer may be kept (the smallest TTL along its CNAME chain)


# When A and AAAA fail differently, the most telling error wins.
_ERROR_ORDER = ("dns_nxdomain", "dns_servfail", "dns_timeout", "dns_no_answer")


async def resolve_host(
    host: str, port: int, options: CheckOptions, deadline: float, cache: DnsCache | None = None
) -> Resolution:
    """The addresses behind host:port, or a dns_* error saying why there are none, or
    target_not_allowed when any of them is one the check may not reach (options.reach):
    after resolution, so a name that points somewhere private is refused at every check.
    (The nameserver is the operator's, from the config's defaults, or the monitor's own,
    judged when the monitor is added.) `cache`: answers kept for their TTL and lookups
    shared (ronda/probes/dnscache.py); None asks every time."""
    resolution = await _resolve(host, port, options, deadline, cache)
    for address in resolution.addresses:
        refused = options.reach.refused_address(address)
        if refused:
            named = "" if address == host else f"{host} resolves to {address}: "
            return Resolution(error=NOT_ALLOWED, detail=f"{named}{refused}")
    return resolution


NOT_ALLOWED = "target_not_allowed"


async def _resolve(host: str, port: int, options: CheckOptions, deadline: float, cache: DnsCache | None) -> Resolution:
    if is_ip_address(host):
        return Resolution((str(ipaddress.ip_address(host)),))
    pinned = _pinned(options.resolve, host, port)
    if pinned:
        return Resolution(pinned)
    try:
        host = ascii_host(host)  # a name found in a page may still be in Unicode
    except ValueError as exc:
        return Resolution(error="dns_nxdomain", detail=str(exc))
    hosts = () if options.nameserver else SYSTEM.hosts(host)
    if hosts:
        return Resolution(hosts)
    answers = await asyncio.gather(*(_kept_lookup(host, rdtype, options, deadline, cache) for rdtype in ("A", "AAAA")))
    addresses = tuple(dict.fromkeys(a for answer in answers for a in answer.records))
    if addresses:
        return Resolution(addresses)
    return min(answers, key=lambda r: _ERROR_ORDER.index(r.error or "dns_no_answer"))


async def _kept_lookup(
    name: str, rdtype: str, options: CheckOptions, deadline: float, cache: DnsCache | None
) -> Resolution:
    """_lookup, through `cache` when there is one: keyed by everything the answer depends on
    (the nameserver, or the system configuration's nameservers and search list)."""
    if cache is None:
        return await _lookup(name, rdtype, options, deadline)
    if options.nameserver:
        key: tuple[object, ...] = ("nameserver", options.nameserver, name, rdtype)
        server = f"{options.nameserver[0]}:{options.nameserver[1]}"
    else:
        resolver = SYSTEM.resolver()
        configuration = (tuple(map(str, resolver.nameservers)), tuple(map(str, resolver.search)), resolver.ndots)
        key = ("system", configuration, name, rdtype)
        server = _system_words(resolver)

    async def ask() -> tuple[Resolution, float]:
        answer = await _lookup(name, rdtype, options, deadline)
        return answer, answer.ttl

    lifetime = max(deadline - time.monotonic(), 0.001)
    try:
        # A lookup under way for another check runs to that check's deadline: wait no longer
        # than this one's (a moment more, so that a query of its own says why it ended).
        async with asyncio.timeout(lifetime + _GRACE):
            return await cache.lookup(key, ask)
    except TimeoutError:
        return Resolution(error="dns_timeout", detail=f"{server} did not answer for {name} within {lifetime:.1f}s")


_GRACE = 0.05


def _system_words(resolver: dns.asyncresolver.Resolver) -> str:
    servers = ", ".join(str(server) for server in resolver.nameservers[:3])
    return f"the system resolver ({servers})"


async def _lookup(name: str, rdtype: str, options: CheckOptions, deadline: float) -> Resolution:
    if options.nameserver:
        return await query(name, rdtype, options.nameserver, deadline)
    resolver = SYSTEM.resolver()
    return await ask(resolver, _system_words(resolver), name, rdtype, deadline, search=True)


def _pinned(resolve: dict[tuple[str, int], tuple[str, ...]], host: str, port: int) -> tuple[str, ...]:
    """`--resolve` pins HOST:PORT; a target without a port (icmp://, port 0) takes its host's
    entry at any port, since ping has none to write. Entries are keyed by the ASCII form of
    their names (ronda/target.py), which a host found in a page may not be in yet."""
    try:
        host = ascii_host(host)
    except ValueError:
        return ()
    if port:
        return resolve.get((host, port), ())
    return next((addresses for (name, _), addresses in resolve.items() if name == host), ())


async def query(name: str, rdtype: str, nameserver: tuple[str, int], deadline: float) -> Resolution:
    """One query to one server, its failure named with the contract's DNS codes."""
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [nameserver[0]]
    resolver.port = nameserver[1]
    return await ask(resolver, f"{nameserver[0]}:{nameserver[1]}", name, rdtype, deadline)


async def ask(
    resolver: dns.asyncresolver.Resolver, server: str, name: str, rdtype: str, deadline: float, search: bool = False
) -> Resolution:
    """`name`'s `rdtype` records from `resolver`, within what is left of `deadline`;
    `search`: the configuration's search list applies, as it does for getaddrinfo."""
    lifetime = max(deadline - time.monotonic(), 0.001)
    try:
        # dnspython keeps the lifetime between attempts but may sleep past it backing off:
        # the deadline is held here too.
        async with asyncio.timeout(lifetime):
            answer = await resolver.resolve(name, rdtype, lifetime=lifetime, raise_on_no_answer=False, search=search)
    except dns.resolver.NXDOMAIN:
        return Resolution(error="dns_nxdomain", detail=f"{name} does not exist (NXDOMAIN from {server})")
    except dns.resolver.NoNameservers as exc:
        return Resolution(error="dns_servfail", detail=f"{server} failed to answer for {name} ({_first_line(exc)})")
    except (dns.exception.Timeout, TimeoutError):
        return Resolution(error="dns_timeout", detail=f"{server} did not answer for {name} within {lifetime:.1f}s")
    except dns.exception.DNSException as exc:
        return Resolution(error="dns_servfail", detail=f"{server} gave no usable answer for {name}: {exc}")
    records = tuple(rdata.to_text() for rdata in answer) if answer.rrset else ()
    if not records:
        no_answer = f"{name} has no {rdtype} records at {server}"
        return Resolution(error="dns_no_answer", detail=no_answer, ttl=_negative_ttl(answer))
    return Resolution(records, records=records, ttl=_ttl(answer))


def _negative_ttl(answer: dns.resolver.Answer) -> float:
    """How long a name's lack of records of a type holds (RFC 2308: the SOA's TTL and
    minimum, the smaller); 0 when the answer carries no SOA, and it is not kept."""
    for rrset in answer.response.authority:
        if rrset.rdtype == dns.rdatatype.SOA and len(rrset):
            return float(min(rrset.ttl, rrset[0].minimum))
    return 0.0


def _ttl(answer: dns.resolver.Answer) -> float:
    """The smallest TTL along the answer's CNAME chain, which is how long it holds."""
    chained = getattr(answer, "chaining_result", None)
    if chained is not None:
        return float(chained.minimum_ttl)
    return float(answer.rrset.ttl) if answer.rrset is not None else 0.0


def _first_line(exc: Exception) -> str:
    text = str(exc)
    return "SERVFAIL" if "SERVFAIL" in text else text.splitlines()[0][:200]
