"""Every address behind a name, checked separately: one stale backend among healthy
ones is a finding that names its address, not a coin toss on which one we reached.

At most `ADDRESSES_PER_NAME` of them: a name with a thousand addresses would otherwise cost a
thousand connections every check, and the skipped ones are a warning, not a silent pass."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable

from ronda.defaults import ADDRESSES_PER_NAME
from ronda.probes.base import Observation
from ronda.probes.connect import Connection, Failure, open_tcp
from ronda.probes.dnscache import DnsCache
from ronda.probes.resolve import resolve_host
from ronda.target import CheckOptions


async def each_address(
    obs: Observation,
    options: CheckOptions,
    deadline: float,
    check: Callable[[str], Awaitable[None]],
    cache: DnsCache | None = None,
) -> None:
    """Resolve the target's host (through `cache`, when given: ronda/probes/dnscache.py),
    record its addresses, and run `check` on all of them at once."""
    target = obs.target
    resolution = await resolve_host(target.host, target.port, options, deadline, cache)
    if resolution.error:
        obs.problem(resolution.error, resolution.detail)
        return
    addresses = first_addresses(resolution.addresses, ADDRESSES_PER_NAME)
    skipped = len(resolution.addresses) - len(addresses)
    if skipped:
        examples = ", ".join(_not_in(resolution.addresses, addresses)[:3])
        obs.warn(
            "addresses_skipped",
            f"{target.host} has {len(resolution.addresses)} addresses; the first {len(addresses)} were checked "
            f"and {skipped} were not (the first not checked: {examples})",
        )
    obs.addresses = list(addresses)
    await asyncio.gather(*(check(address) for address in addresses))


async def tcp_at(
    obs: Observation, address: str, port: int, deadline: float, host: str | None = None
) -> Connection | None:
    """TCP to one address behind the name: the connection, or None with the failure recorded
    on `obs` as a finding naming the address (that of `host`, the target's when not given)."""
    conn = await open_tcp(address, port, deadline)
    if isinstance(conn, Failure):
        obs.problem(conn.code, conn.detail, address=address, host=host, port=port)
        return None
    return conn


def first_addresses(addresses: tuple[str, ...], limit: int) -> tuple[str, ...]:
    """At most `limit` addresses, IPv4 and IPv6 taken in turn (each in the resolver's order), so
    a name with many IPv4 addresses still has its IPv6 side checked. Unchanged when within it."""
    if len(addresses) <= limit:
        return addresses
    families: dict[int, list[str]] = {}
    for address in addresses:
        families.setdefault(_family(address), []).append(address)
    chosen: list[str] = []
    queues = [iter(families[version]) for version in sorted(families)]
    while len(chosen) < limit:
        for queue in queues:
            following = next(queue, None)
            if following is not None and len(chosen) < limit:
                chosen.append(following)
    return tuple(chosen)


def _family(address: str) -> int:
    try:
        return ipaddress.ip_address(address).version
    except ValueError:
        return 0  # not an address (no resolver gives one): its own group, still counted


def _not_in(addresses: tuple[str, ...], chosen: tuple[str, ...]) -> list[str]:
    picked = set(chosen)
    return [address for address in addresses if address not in picked]
