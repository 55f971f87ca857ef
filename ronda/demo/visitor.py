"""How the demo's people and jobs reach ronda: one HTTP/1.1 request from a loopback address
of their own, with h11 (ronda's own HTTP library; the standard library's client cannot choose
its source address, and each demo visitor must look like a different person)."""

from __future__ import annotations

import asyncio
import contextlib

import h11


async def post(host: str, port: int, path: str, body: bytes, source: str = "127.0.0.1") -> None:
    """POST `body` (JSON) to `path`; a refused or failed request is the visitor giving up, not
    the demo failing, so errors are swallowed and the answer is not read beyond its arrival."""
    with contextlib.suppress(OSError, h11.ProtocolError, asyncio.TimeoutError):
        await asyncio.wait_for(_send(host, port, path, body, source), 2.0)


async def _send(host: str, port: int, path: str, body: bytes, source: str) -> None:
    reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
    try:
        connection = h11.Connection(h11.CLIENT)
        headers = [
            ("Host", f"{host}:{port}"),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ]
        request = h11.Request(method="POST", target=path, headers=headers)
        writer.write(
            connection.send(request) + connection.send(h11.Data(data=body)) + connection.send(h11.EndOfMessage())
        )
        await writer.drain()
        await reader.read(65536)
    finally:
        writer.close()
