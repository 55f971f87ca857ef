"""DNS answers as a hostile server sends them, through a real UDP server on loopback to the
resolver ronda's probes use (ronda/probes/resolve.py): real answers with bytes replaced,
inserted, deleted or cut, answers of the wrong size, records of every kind. Whatever comes
back, the lookup ends in addresses or records, or in one of the contract's dns_* causes;
never another exception. `HYPOTHESIS_PROFILE=fuzz` runs 20,000 answers each (docs/testing.md)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import dns.flags
import dns.message
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ronda.probes.resolve import Resolution, query
from ronda.world.background import BackgroundLoop

DNS_CAUSES = {"dns_nxdomain", "dns_servfail", "dns_timeout", "dns_no_answer"}

# Records of each kind ronda's dns:// checks ask for, as a real server writes them.
RECORDS = {
    "A": "192.0.2.1",
    "AAAA": "2001:db8::1",
    "TXT": '"v=spf1 -all" "second string"',
    "MX": "10 mail.shop.test.",
    "CNAME": "www.shop.test.",
    "NS": "ns1.shop.test.",
    "SOA": "ns1.shop.test. admin.shop.test. 1 7200 3600 1209600 300",
    "SRV": "0 5 443 api.shop.test.",
    "CAA": '0 issue "ca.test"',
    "PTR": "host.shop.test.",
}


class HostileDns(asyncio.DatagramProtocol):
    """Answers each query with what `reply(query_bytes)` makes of it (None: silence)."""

    def __init__(self) -> None:
        self.reply: Callable[[bytes], bytes | None] = lambda data: None
        self.port = 0
        self._transport: asyncio.DatagramTransport | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]

    async def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        answer = self.reply(data)
        if answer is not None and self._transport is not None:
            self._transport.sendto(answer, addr)


@pytest.fixture(scope="module")
def hostile_dns(world_loop: BackgroundLoop) -> Iterator[HostileDns]:
    server = HostileDns()
    world_loop.run(server.start())
    yield server
    world_loop.run(server.stop())


def answer_to(data: bytes, kinds: list[str]) -> bytes:
    """A real answer to the query in `data`: one record of each kind, at the asked name."""
    asked = dns.message.from_wire(data)
    response = dns.message.make_response(asked)
    response.flags |= dns.flags.AA
    name = asked.question[0].name
    for kind in kinds:
        rrset = dns.rrset.from_text(name, 300, dns.rdataclass.IN, kind, RECORDS[kind])
        response.answer.append(rrset)
    return response.to_wire()


@st.composite
def hostile_answers(draw: st.DrawFn) -> Callable[[bytes], bytes]:
    """How the server turns a query into its answer: a real answer mutated, or anything at
    all behind the query's id (without the id, the resolver rightly waits for another)."""
    kinds = draw(st.lists(st.sampled_from(sorted(RECORDS)), max_size=4))
    edits = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["replace", "insert", "delete", "cut"]),
                st.integers(2, 200),
                st.binary(min_size=1, max_size=6),
            ),
            max_size=5,
        )
    )
    tail = draw(st.one_of(st.none(), st.binary(max_size=300)))

    def reply(data: bytes) -> bytes:
        if tail is not None:
            return data[:2] + tail
        wire = bytearray(answer_to(data, kinds))
        for action, position, blob in edits:
            position = min(position, len(wire))
            if action == "replace":
                wire[position : position + len(blob)] = blob
            elif action == "insert":
                wire[position:position] = blob
            elif action == "delete":
                del wire[position : position + len(blob)]
            else:
                del wire[position:]
        return bytes(wire)

    return reply


# dnspython drops an answer it cannot parse and waits for a better one (a spoofer's reply
# must not win), so a damaged answer ends as dns_timeout once this budget has passed: short,
# to keep the examples quick, and a quarter as many of them as other properties run.
BUDGET = 0.3


def ask(server: HostileDns, rdtype: str) -> Resolution:
    return asyncio.run(query("shop.test", rdtype, ("127.0.0.1", server.port), time.monotonic() + BUDGET))


@settings(max_examples=max(settings.default.max_examples // 4, 1))
@given(hostile_answers(), st.sampled_from(["A", "AAAA", "TXT", "MX", "CAA", "SRV"]))
@example(lambda data: data[:2] + b"\x81\x80", "A")  # a header cut short
@example(lambda data: data[:2] + b"\x83\x80" + b"\x00" * 8, "A")  # TC set: the resolver retries over TCP, refused
def test_any_answer_is_records_or_a_dns_cause(hostile_dns, reply, rdtype):
    hostile_dns.reply = reply
    resolution = ask(hostile_dns, rdtype)
    if resolution.error is None:
        assert resolution.records and all(isinstance(record, str) for record in resolution.records)
    else:
        assert resolution.error in DNS_CAUSES and resolution.detail
