"""Every scheme of the scheme table (ronda/schemes.py) against a hostile server on loopback:
garbage bytes, an answer of its own protocol cut short, one line of 4 MiB, another
protocol's answer. `ronda check --json` must end in a verdict (exit 0-2) whose cause names
the fault in the probe's own words: never a traceback, never exit 3 (that is for bad input),
and never run_check's catch-all (`ronda could not read what ... answered`), which means a
parser met something it did not turn into a finding.

The parametrization reads the scheme table, so a new scheme is covered by its probe's
hostile answers, or fails here asking for them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ronda import cli
from ronda.schemes import SCHEMES
from ronda.world.pki import LocalPKI

HOST = "hostile.test"
HUGE_LINE = b"A" * (4 << 20)  # no line break in 4 MiB
HTTP_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello"
SSH_BANNER = b"SSH-2.0-OpenSSH_9.6\r\n"
CATCH_ALL = "ronda could not read what"  # ronda/check.py's words for an exception no probe named

# Each probe's own protocol, as a server starts to answer and then hangs up mid-way. A scheme
# may have its own line where its probe speaks several protocols (starttls).
TRUNCATED: dict[str, bytes] = {
    "http": b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 4000\r\n\r\n<html><img src='//cdn.",
    "tcp": b"\x00",
    "tls": b"\x16\x03",  # served inside TLS: after the handshake, whatever follows
    "browser": b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 4000\r\n\r\n<html><script>fetch('//cdn.",
    "vendor_page": b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{"status": {"ind',
    "rtsp": b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: DESCRIBE, SETUP\r\nContent-Length: 90\r\n\r\nv=0\r\nm=vid",
    "onvif": b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nContent-Length: 900\r\n\r\n<s:Envelope xmlns=",
    "websocket": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgr",
    "ssh": SSH_BANNER + b"\x00\x00\x01\x0c\x0a\x14",  # a key exchange packet's first bytes
    "smtp": b"220-mail.hostile.test ESMTP\r\n220",
    "smtps": b"220-mail.hostile.test ESMTP\r\n220",
    "imap": b"* OK [CAPABILITY IMAP4rev1 STARTT",
    "imaps": b"* OK [CAPABILITY IMAP4rev1 STARTT",
    "pop3": b"+OK POP3 ready\r\n+O",
    "pop3s": b"+OK POP3 ready\r\n+O",
    "ldap": b"\x30\x84\x00\x00\x10\x00\x02\x01\x01\x78",  # an LDAPMessage promising 4 KiB
    "ldaps": b"\x30\x84\x00\x00\x10\x00\x02\x01\x01\x78",
    "postgres": b"",  # SSLRequest's answer is one byte: none at all is the cut
    "grpc": b"\x00\x00\x12\x04\x00\x00\x00\x00\x00\x00\x03",  # HTTP/2's SETTINGS frame promising 18 bytes
}
# Probes whose target is no server: what stands in for one.
NOT_A_SERVER = {"dns": "a UDP DNS server", "file": "a file on disk"}
# Probes where a hostile peer cannot be staged on loopback, and why.
UNSTAGED = {"icmp": "the kernel answers echo requests on loopback; no stranger's bytes reach ronda's parser"}

MODES = ("garbage", "truncated", "huge line", "wrong protocol")


def payload(scheme: str, mode: str) -> bytes:
    probe = SCHEMES[scheme].probe
    if mode == "garbage":
        return bytes(range(256)) * 4
    if mode == "truncated":
        return TRUNCATED.get(scheme, TRUNCATED.get(probe, b""))
    if mode == "huge line":
        return HUGE_LINE
    return HTTP_ANSWER if probe == "ssh" else SSH_BANNER


def implicit_tls(scheme: str) -> bool:
    """The schemes that speak TLS from the first byte (https, imaps, wss, tls, ...): the
    hostile bytes come inside TLS, where the probe's own parser reads them."""
    return scheme == "tls" or (scheme.endswith("s") and scheme[:-1] in SCHEMES)


@dataclass
class Hostile:
    """A TCP server that says `words` to every client (inside TLS with `tls`), reads what the
    client sends for a moment, and hangs up."""

    words: bytes
    tls: ssl.SSLContext | None = None
    port: int = 0
    _talks: set[asyncio.Task[None]] = field(default_factory=set)
    _talked: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._talk, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        # A client that hangs up at once (tcp://) may end the test before this loop has
        # taken its connection; closing the server then leaves that socket open (asyncio in
        # Python 3.11). Every check here connects at least once: wait for one talk to end.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                await self._talked.wait()
        self._server.close()
        # Each talk ends within its own timeout and closes its connection; cancelling one
        # not yet started would leave its socket open.
        await asyncio.gather(*self._talks, return_exceptions=True)
        await self._server.wait_closed()

    async def _talk(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._talks.add(task)
        try:
            await self._say(reader, writer)
        finally:
            writer.transport.abort()  # no TLS close_notify to wait for: the client may be gone
            self._talks.discard(task)
            self._talked.set()

    async def _say(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Speak first (greeting protocols), then take the client's request (request-first
        # ones), so that closing does not reset a connection with unread bytes in it.
        with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
            writer.write(self.words)
            async with asyncio.timeout(2):
                await writer.drain()
                await reader.read(65536)


class HostileDns(asyncio.DatagramProtocol):
    """A UDP server that answers every query with `words` after the query's id."""

    def __init__(self, words: bytes) -> None:
        self.words = words[:65000]
        self.port = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        self.port = self._transport.get_extra_info("sockname")[1]

    async def stop(self) -> None:
        self._transport.close()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._transport.sendto(data[:2] + self.words, addr)


def file_content(mode: str, pki: LocalPKI) -> bytes:
    pem = pki.leaf("file.test").cert_pem
    return {
        "garbage": bytes(range(256)) * 4,
        "truncated": pem[: len(pem) // 2] + b"\n-----END CERTIFICATE-----\n",
        "huge line": HUGE_LINE,
        "wrong protocol": HTTP_ANSWER,
    }[mode]


@pytest.fixture
def run_ronda(capsys: pytest.CaptureFixture[str], ca_file: str) -> Iterator[object]:
    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main(["check", *args, "--json", "--timeout", "3"])
        out, err = capsys.readouterr()
        return code, out, err

    yield run


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_a_hostile_server_gets_a_verdict_naming_its_fault(scheme, mode, serve, pki, ca_file, tmp_path, run_ronda):
    probe = SCHEMES[scheme].probe
    if probe in UNSTAGED:
        assert SCHEMES[scheme].portless  # the one kind of target without a peer to stage
        return
    assert probe in TRUNCATED or probe in NOT_A_SERVER or scheme in TRUNCATED, (
        f"{scheme}:// (probe {probe}) has no hostile server here: add what its protocol's cut-short "
        "answer looks like to TRUNCATED, or say in UNSTAGED why none can be staged"
    )
    code, out, err = run_ronda(*_target(scheme, mode, serve, pki, tmp_path), "--ca-file", ca_file)
    assert "Traceback" not in err and "Traceback" not in out
    assert code in (0, 1, 2), f"exit {code}: {out}{err}"
    verdict = json.loads(out)
    if verdict["status"] != "up":
        assert verdict["cause"] and verdict["summary"], verdict
    assert CATCH_ALL not in out, f"a parser of {probe} met what it did not name: {verdict['summary']}"


def _target(scheme: str, mode: str, serve: Callable[[Any], Any], pki: LocalPKI, folder: Path) -> list[str]:
    """The command-line arguments that point the check at a hostile peer, served for the test."""
    probe = SCHEMES[scheme].probe
    if probe == "file":
        path = folder / "hostile.pem"
        path.write_bytes(file_content(mode, pki))
        return [f"file://{path}"]
    if probe == "dns":
        dns_server = serve(HostileDns(payload(scheme, mode)))
        return [f"dns://{HOST}?server=127.0.0.1:{dns_server.port}&type=A"]
    tls = pki.server_context(HOST) if implicit_tls(scheme) else None
    if tls is not None and probe == "grpc":
        tls.set_alpn_protocols(["h2"])  # grpcs:// goes on past ALPN only to a server that chose h2
    server = serve(Hostile(payload(scheme, mode), tls))
    return [f"{scheme}://{HOST}:{server.port}/", "--resolve", f"{HOST}:{server.port}:127.0.0.1"]
