"""A small HTTP(S) server whose behaviour and certificate can change while it runs.

It answers like a real site, or breaks like one: a status storm, a hang, a slow drip,
an endless body, bytes that are not HTTP, a redirect loop, a certificate swapped for
an expired one, or no listener at all. Written on asyncio streams rather than a web
framework because the misbehaviours (a drip, garbage on the wire) are exactly what
frameworks are built to prevent.
"""

from __future__ import annotations

import asyncio
import ssl
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ronda.world.background import StreamServer

Mode = Literal["answer", "hang", "drip", "endless", "garbage", "empty"]


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"<html><body><h1>Welcome</h1></body></html>"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/html; charset=utf-8"})
    mode: Mode = "answer"
    delay: float = 0.0  # seconds before answering


_REASONS = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    403: "Forbidden",
    404: "Not Found",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class WebServer(StreamServer):
    def __init__(self, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(host, port)
        self.default = Reply()
        self.routes: dict[str, Reply] = {}
        # path prefix -> a reply computed for each request (an OCSP responder reads the path)
        self.handlers: dict[str, Callable[[str], Reply]] = {}
        self.requests = 0
        self.banner: bytes | None = None  # sent on connect, before any request: not HTTP
        self._tls = tls

    @property
    def scheme(self) -> str:
        return "https" if self._tls else "http"

    def url(self, path: str = "/", host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"

    def set_certificate(self, tls: ssl.SSLContext) -> None:
        """Serve another certificate from the next handshake on, as a renewal (or a
        botched one) does on a live server."""
        self._tls = tls

    def reply(self, path: str) -> Reply:
        for prefix, handler in self.handlers.items():
            if path.startswith(prefix):
                return handler(path)
        return self.routes.get(path.split("?")[0], self.default)

    async def start(self) -> None:
        ssl_ctx = None
        if self._tls is not None:
            # The listening context only routes each handshake to the current certificate.
            ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ssl_ctx.sni_callback = self._pick_certificate
            # Versions are agreed before the certificate is picked: take them from the
            # serving context, and allow whatever it allows (old servers are test cases).
            ssl_ctx.set_ciphers("ALL:@SECLEVEL=0")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # setting TLS 1.0 on purpose is allowed here
                ssl_ctx.minimum_version = self._tls.minimum_version
                ssl_ctx.maximum_version = self._tls.maximum_version
        await self.listen(ssl_ctx)

    def _pick_certificate(self, sslobj: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        assert self._tls is not None
        sslobj.context = self._tls

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self.banner is not None:
                writer.write(self.banner)
                await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            path = head.split(b" ", 2)[1].decode("latin-1") if head.count(b" ") >= 2 else "/"
            self.requests += 1
            await self._answer(writer, self.reply(path))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._tasks.discard(task)
            writer.transport.abort()

    async def _answer(self, writer: asyncio.StreamWriter, reply: Reply) -> None:
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.mode == "hang":
            await asyncio.sleep(3600)
        if reply.mode == "empty":
            return  # close without a word, like a crashed worker behind a proxy
        if reply.mode == "garbage":
            writer.write(b"\x16\x03\x01 this is not HTTP at all \x00\xff\r\n\r\n")
            await writer.drain()
            return
        reason = _REASONS.get(reply.status, "Status")
        headers = dict(reply.headers)
        if reply.mode == "answer":
            headers["Content-Length"] = str(len(reply.body))
        head = f"HTTP/1.1 {reply.status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if reply.mode == "drip":
            for byte in head.encode():
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.2)
            return
        writer.write(head.encode() + b"Connection: close\r\n\r\n")
        if reply.mode == "endless":
            chunk = b"x" * 65536
            while True:
                writer.write(chunk)
                await writer.drain()
        writer.write(reply.body)
        await writer.drain()
