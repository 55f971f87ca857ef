"""An authoritative DNS server on loopback (UDP, dnspython's message codec) whose names
can resolve, vanish (NXDOMAIN), exist with no addresses, fail (SERVFAIL), go silent, or be
answered late, as behind an overloaded or distant authority."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


@dataclass
class Zone:
    records: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (name, type) -> values
    servfail: set[str] = field(default_factory=set)
    silent: set[str] = field(default_factory=set)
    late: dict[str, float] = field(default_factory=dict)  # name -> seconds before its answer leaves
    ttl: int = 60  # of every record served
    # With a number, answers without records (NXDOMAIN, no data) carry the zone's SOA, whose
    # minimum (RFC 2308) says how long a resolver may keep the negative answer; None: no SOA.
    negative_ttl: int | None = None

    def set(self, name: str, rdtype: str, *values: str) -> None:
        self.records[(_norm(name), rdtype.upper())] = list(values)

    def slow(self, name: str, seconds: float) -> None:
        """Answer questions about `name` only after `seconds`."""
        self.late[_norm(name)] = seconds

    def remove(self, name: str) -> None:
        """The name stops existing: NXDOMAIN from now on."""
        name = _norm(name)
        for key in [k for k in self.records if k[0] == name]:
            del self.records[key]

    def exists(self, name: str) -> bool:
        return any(key[0] == name for key in self.records)


def _norm(name: str) -> str:
    return name.lower().rstrip(".") + "."


class DnsServer(asyncio.DatagramProtocol):
    def __init__(self, host: str = "127.0.0.1", port: int = 0, zone: Zone | None = None) -> None:
        self.host = host
        self.port = port
        self.zone = zone or Zone()
        self.queries = 0
        self._transport: asyncio.DatagramTransport | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(self.host, self.port))
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]

    async def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queries += 1
        try:
            query = dns.message.from_wire(data)
        except Exception:
            return  # not DNS: a real server drops it too
        answer = self.answer(query)
        if answer is None:
            return
        delay = self.zone.late.get(query.question[0].name.to_text().lower(), 0.0)
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self._send, answer.to_wire(), addr)
        else:
            self._send(answer.to_wire(), addr)

    def _send(self, wire: bytes, addr: tuple[str, int]) -> None:
        if self._transport is not None:
            self._transport.sendto(wire, addr)

    def answer(self, query: dns.message.Message) -> dns.message.Message | None:
        question = query.question[0]
        name = question.name.to_text().lower()
        if name in self.zone.silent:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if name in self.zone.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response
        if not self.zone.exists(name):
            response.set_rcode(dns.rcode.NXDOMAIN)
            return self._negative(response, name)
        rdtype = dns.rdatatype.to_text(question.rdtype)
        values = self.zone.records.get((name, rdtype))
        if values:
            response.answer.append(dns.rrset.from_text_list(name, self.zone.ttl, dns.rdataclass.IN, rdtype, values))
            return response
        return self._negative(response, name)

    def _negative(self, response: dns.message.Message, name: str) -> dns.message.Message:
        ttl = self.zone.negative_ttl
        if ttl is not None:
            apex = name.split(".", 1)[1] or "."
            soa = f"ns.{apex} hostmaster.{apex} 1 3600 600 86400 {ttl}"
            response.authority.append(dns.rrset.from_text(apex, ttl, dns.rdataclass.IN, "SOA", soa))
        return response
