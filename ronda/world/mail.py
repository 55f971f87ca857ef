"""Loopback servers that speak just enough SMTP, IMAP, POP3, LDAP and PostgreSQL to reach
TLS: by STARTTLS (SMTP's STARTTLS, IMAP's STARTTLS, POP3's STLS, LDAP's StartTLS extended
operation, PostgreSQL's SSLRequest) or, with `implicit=True`, with TLS from the first byte.

They break on command, like the world's web server: `mode` may make one not offer STARTTLS,
refuse it, answer with bytes that are not its protocol, say nothing, stall just before TLS,
or hang up at once. Written on asyncio streams for the same reason as `web.py`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from typing import Literal

from ronda.world.background import StreamServer

Protocol = Literal["smtp", "imap", "pop3", "ldap", "postgres"]
Mode = Literal[
    "serve",  # a healthy server
    "no_starttls",  # STARTTLS not offered (SMTP leaves it out of EHLO; the others reject the command)
    "refuse_starttls",  # offered, then refused (SMTP 454, LDAP unavailable)
    "garbage",  # greets (or answers) with an HTTP error: not the protocol at all
    "silent",  # accepts and never says a word
    "stall",  # talks until the client asks for TLS, then never answers
    "close",  # hangs up as soon as the connection opens
]

GARBAGE = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
LDAP_START_TLS_OID = b"1.3.6.1.4.1.1466.20037"
POSTGRES_SSL_REQUEST = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")


class Stream:
    """One client connection, its reader and writer, upgraded to TLS in place."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def say(self, *lines: str) -> None:
        self.writer.write("".join(f"{line}\r\n" for line in lines).encode())
        await self.writer.drain()

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def line(self) -> str:
        raw = await self.reader.readuntil(b"\n")
        return raw.decode("utf-8", "replace").rstrip("\r\n")


class ServiceServer(StreamServer):
    """server = ServiceServer("smtp", pki.server_context("mail.test")); await server.start()."""

    def __init__(
        self,
        protocol: Protocol,
        tls: ssl.SSLContext,
        *,
        implicit: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        mode: Mode = "serve",
    ) -> None:
        super().__init__(host, port)
        self.protocol = protocol
        self.mode = mode
        self.implicit = implicit
        self.starttls_agreed = 0  # STARTTLS requests answered with a go-ahead
        self._tls = tls
        self._speak: dict[Protocol, Callable[[Stream], Awaitable[None]]] = {
            "smtp": self._smtp,
            "imap": self._imap,
            "pop3": self._pop3,
            "ldap": self._ldap,
            "postgres": self._postgres,
        }

    @property
    def scheme(self) -> str:
        return self.protocol + ("s" if self.implicit else "")

    def url(self, host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.host}:{self.port}"

    async def start(self) -> None:
        await self.listen(self._tls if self.implicit else None)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._session(Stream(reader, writer))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ssl.SSLError, OSError):
            pass  # the client left, or failed its handshake: a monitor does both
        except asyncio.CancelledError:
            pass
        finally:
            self._tasks.discard(task)
            writer.transport.abort()

    async def _session(self, stream: Stream) -> None:
        if self.mode == "close":
            return
        if self.mode == "silent":
            await asyncio.sleep(3600)
        await self._speak[self.protocol](stream)

    async def _upgrade(self, stream: Stream) -> None:
        # Counted before the handshake: a monitor that has read the certificate hangs up at
        # once, and the handshake's last message may then never reach this side.
        self.starttls_agreed += 1
        await stream.writer.start_tls(self._tls)  # server side: the stream came from start_server

    async def _stall(self) -> None:
        await asyncio.sleep(3600)

    # --- SMTP ----------------------------------------------------------------------------------

    async def _smtp(self, stream: Stream) -> None:
        if self.mode == "garbage":
            return await stream.send(GARBAGE)
        await stream.say("220-mail.test ESMTP ronda world", "220 mail.test ready")
        while True:
            verb = (await stream.line()).split(" ")[0].upper()
            if verb == "EHLO":
                offers = (
                    [] if self.mode == "no_starttls" or stream.writer.get_extra_info("ssl_object") else ["STARTTLS"]
                )
                extensions = ["mail.test greets you", "PIPELINING", "SIZE 10240000", *offers, "8BITMIME"]
                await stream.say(*(f"250-{e}" for e in extensions[:-1]), f"250 {extensions[-1]}")
            elif verb == "STARTTLS" and self.mode == "stall":
                await self._stall()
            elif verb == "STARTTLS" and self.mode == "serve":
                await stream.say("220 2.0.0 go ahead")
                await self._upgrade(stream)
            elif verb == "STARTTLS":
                await stream.say("454 4.7.0 TLS not available due to temporary reason")
            elif verb == "QUIT":
                return await stream.say("221 2.0.0 bye")
            else:
                await stream.say("502 5.5.2 command not recognized")

    # --- IMAP ----------------------------------------------------------------------------------

    async def _imap(self, stream: Stream) -> None:
        if self.mode == "garbage":
            return await stream.send(GARBAGE)
        await stream.say("* OK [CAPABILITY IMAP4rev1 STARTTLS] mail.test ready")
        while True:
            tag, _, command = (await stream.line()).partition(" ")
            verb = command.split(" ")[0].upper()
            if verb == "STARTTLS" and self.mode == "stall":
                await self._stall()
            elif verb == "STARTTLS" and self.mode == "serve":
                await stream.say(f"{tag} OK Begin TLS negotiation now")
                await self._upgrade(stream)
            elif verb == "STARTTLS" and self.mode == "refuse_starttls":
                await stream.say(f"{tag} NO TLS is not available now")
            elif verb == "CAPABILITY":
                await stream.say("* CAPABILITY IMAP4rev1", f"{tag} OK CAPABILITY completed")
            elif verb == "LOGOUT":
                return await stream.say("* BYE", f"{tag} OK LOGOUT completed")
            else:
                await stream.say(f"{tag} BAD unknown command")

    # --- POP3 ----------------------------------------------------------------------------------

    async def _pop3(self, stream: Stream) -> None:
        if self.mode == "garbage":
            return await stream.send(GARBAGE)
        await stream.say("+OK mail.test POP3 ready")
        while True:
            verb = (await stream.line()).split(" ")[0].upper()
            if verb == "STLS" and self.mode == "stall":
                await self._stall()
            elif verb == "STLS" and self.mode == "serve":
                await stream.say("+OK begin TLS negotiation")
                await self._upgrade(stream)
            elif verb == "QUIT":
                return await stream.say("+OK bye")
            else:
                await stream.say("-ERR unknown command")

    # --- LDAP: BER messages, the few bytes a StartTLS and a Who am I? need ------------------

    async def _ldap(self, stream: Stream) -> None:
        while True:
            head = await stream.reader.readexactly(2)
            body = await stream.reader.readexactly(head[1])  # a client's short requests: short-form lengths
            if self.mode == "garbage":
                return await stream.send(GARBAGE)
            message_id = body[2] if body[:2] == b"\x02\x01" else 0
            starttls = LDAP_START_TLS_OID in body
            if starttls and self.mode == "stall":
                await self._stall()
            code = {"serve": 0, "no_starttls": 2, "refuse_starttls": 52}.get(self.mode, 0) if starttls else 0
            if starttls and stream.writer.get_extra_info("ssl_object"):
                code = 1  # operationsError: TLS is already on
            await stream.send(ldap_extended_response(message_id, code))
            if starttls and code == 0:
                await self._upgrade(stream)

    # --- PostgreSQL ----------------------------------------------------------------------------

    async def _postgres(self, stream: Stream) -> None:
        request = await stream.reader.readexactly(8)
        if self.mode == "garbage":
            return await stream.send(GARBAGE)
        if request != POSTGRES_SSL_REQUEST:
            return
        if self.mode == "stall":
            await self._stall()
        if self.mode != "serve":
            return await stream.send(b"N")
        await stream.send(b"S")
        await self._upgrade(stream)
        await stream.reader.read(1)  # the startup message that would follow; a monitor hangs up


def ldap_extended_response(message_id: int, code: int, *, long_lengths: bool = True) -> bytes:
    """LDAPMessage { messageID, ExtendedResponse [APPLICATION 24] { resultCode, matchedDN "", diagnosticMessage } }.

    With `long_lengths` the two outer lengths take BER's 4-byte long form, as Active Directory
    writes them, so clients that only read short lengths fail here as they would there."""
    words = {0: b"", 1: b"TLS already started", 2: b"unsupported extended operation", 52: b"TLS not available"}
    message = words.get(code, b"")
    result = bytes([0x0A, 1, code, 0x04, 0, 0x04, len(message)]) + message
    op = bytes([0x78]) + _ber_length(len(result), long_lengths) + result
    body = bytes([0x02, 1, message_id]) + op
    return bytes([0x30]) + _ber_length(len(body), long_lengths) + body


def _ber_length(length: int, long_form: bool) -> bytes:
    return b"\x84" + length.to_bytes(4, "big") if long_form else bytes([length])
