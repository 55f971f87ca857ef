"""Finding ONVIF devices on the local network: WS-Discovery Probes multicast to
239.255.255.250:3702, and the ProbeMatches the devices send back (by unicast, to the port the
probes came from), collected until the time is up.

One Probe per type (dn:NetworkVideoTransmitter, tds:Device): a Probe for both would find only
devices that announce both, and many announce one. Each is sent twice, a moment apart, since
UDP may lose one; a device answering several is one device (its endpoint reference).
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import Any

from ronda import soap
from ronda.discover.messages import ONVIF_TYPES, Match, message_id, probe, read_probe_matches, scope_values
from ronda.errors import RondaError

GROUP, PORT = "239.255.255.250", 3702
REPEAT_AFTER = 0.25  # seconds between a Probe and its repeat
MAX_DEVICES = 1024  # a flood of answers (or of forged ones) stops being read here


class DiscoveryError(RondaError):
    """The probes could not be sent (no route for multicast, an address not on this machine)."""


@dataclass(frozen=True)
class Found:
    """A device that answered: its ProbeMatch, and the address the answer came from."""

    endpoint: str
    types: tuple[str, ...]
    scopes: tuple[str, ...]
    xaddrs: tuple[str, ...]
    answered_from: str

    @property
    def name(self) -> str | None:
        return next(iter(scope_values(self.scopes, "name")), None)

    @property
    def hardware(self) -> str | None:
        return next(iter(scope_values(self.scopes, "hardware")), None)

    @property
    def location(self) -> str | None:
        return next(iter(scope_values(self.scopes, "location")), None)

    def merged(self, match: Match) -> Found:
        """This device with what another of its answers adds."""

        def union(old: tuple[str, ...], new: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(dict.fromkeys((*old, *new)))

        return Found(
            self.endpoint,
            union(self.types, match.types),
            union(self.scopes, match.scopes),
            union(self.xaddrs, match.xaddrs),
            self.answered_from,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "name": self.name,
            "hardware": self.hardware,
            "location": self.location,
            "xaddrs": list(self.xaddrs),
            "scopes": list(self.scopes),
            "types": list(self.types),
            "answered_from": self.answered_from,
        }


class _Collector(asyncio.DatagramProtocol):
    def __init__(self, asked: set[str]) -> None:
        self.asked = asked
        self.found: dict[str, Found] = {}
        self.error: Exception | None = None

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            relates_to, matches = read_probe_matches(data)
        except soap.SoapError:
            return  # not an answer (another protocol on the port, noise): nothing to list
        if relates_to not in self.asked:
            return  # an answer to someone else's probe
        for match in matches:
            known = self.found.get(match.endpoint)
            if known is not None:
                self.found[match.endpoint] = known.merged(match)
            elif len(self.found) < MAX_DEVICES:
                self.found[match.endpoint] = Found(match.endpoint, match.types, match.scopes, match.xaddrs, addr[0])

    def error_received(self, exc: Exception) -> None:
        self.error = self.error or exc


async def discover(timeout: float, interface: str | None = None) -> list[Found]:
    """The devices that answer within `timeout` seconds, by name; `interface`: the address
    of the interface to probe through (else the route for multicast decides)."""
    loop = asyncio.get_running_loop()
    probes = {message_id(): kind for kind in ONVIF_TYPES}
    collector = _Collector(set(probes))
    transport, _ = await loop.create_datagram_endpoint(lambda: collector, sock=_socket(interface))
    gap = min(REPEAT_AFTER, timeout / 4)
    try:
        for repeat in range(2):
            if repeat:
                await asyncio.sleep(gap)
            for message, kind in probes.items():
                transport.sendto(probe(message, [kind]), (GROUP, PORT))
            if collector.error is not None:
                raise DiscoveryError(_cannot_send(collector.error, interface))
        await asyncio.sleep(timeout - gap)
    finally:
        transport.close()
    return sorted(collector.found.values(), key=lambda f: ((f.name or "").lower(), f.endpoint))


def _socket(interface: str | None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    # One hop: the probe is for this network's devices, and must not be routed beyond it.
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    # A device on this very machine (the demo's) hears the probe too.
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    try:
        if interface is not None:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
        sock.bind((interface or "0.0.0.0", 0))
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        raise DiscoveryError(f"--interface {interface}: {reason}: not an address of this machine") from None
    return sock


def _cannot_send(error: Exception, interface: str | None) -> str:
    reason = (error.strerror if isinstance(error, OSError) else None) or str(error)
    if interface is None:
        return (
            f"cannot send the WS-Discovery probe to {GROUP}:{PORT} ({reason}): this machine has no route for "
            "multicast; name the interface that faces the devices with --interface ADDR (one of its addresses)"
        )
    return f"cannot send the WS-Discovery probe through {interface} ({reason})"
