"""A WS-Discovery responder, for the tests and the demo: it joins 239.255.255.250 on one
interface, listens on port 3702, and answers every Probe that asks for types it offers with
ProbeMatches sent back to the prober, as an ONVIF camera does. It counts the probes it heard.

`python -m ronda.world.onvif --discoverable` runs one beside a device service.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Sequence
from typing import Any, cast

from ronda.discover.messages import ONVIF_TYPES, Match, probe_matches, read_probe
from ronda.discover.probe import GROUP, PORT


class DiscoveryResponder(asyncio.DatagramProtocol):
    def __init__(
        self,
        xaddrs: Sequence[str],
        scopes: Sequence[str],
        *,
        interface: str = "127.0.0.1",
        endpoint: str | None = None,
        types: Sequence[str] = ONVIF_TYPES,
    ) -> None:
        self.match = Match(endpoint or f"urn:uuid:{uuid.uuid4()}", tuple(types), tuple(scopes), tuple(xaddrs))
        self.interface = interface  # an address of the interface that joins the group
        self.probes = 0
        self._transport: asyncio.DatagramTransport | None = None

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setblocking(False)
        sock.bind(("0.0.0.0", PORT))  # the group's traffic and probes sent to us directly
        membership = socket.inet_aton(GROUP) + socket.inet_aton(self.interface)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, sock=sock)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A datagram endpoint's transport (in Python 3.11 it does not subclass DatagramTransport).
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        probe = read_probe(data)
        if probe is None or self._transport is None:
            return
        self.probes += 1
        if probe.wants(self.match.types):
            self._transport.sendto(probe_matches(probe.message, [self.match]), addr)

    def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
