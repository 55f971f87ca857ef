"""One HTTP/2 request over an open connection (prior knowledge, RFC 9113 3.3), through the
`h2` library (sans-IO, from the same project as h11), read to its trailers: what a gRPC call
is. Every failure is a CallError carrying a cause code; what a server may send is bounded
(MAX_RECEIVED bytes in all, h2's own limit on a header list), so a hostile peer costs the
check its deadline and no more.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions

from ronda.probes.connect import Connection

MAX_RECEIVED = 1 << 20  # bytes of frames read from the server at most


class CallError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass
class Reply:
    """The answer's headers (and trailers, which gRPC puts its status in) and its body."""

    headers: dict[str, str] = field(default_factory=dict)
    trailers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def status(self) -> int | None:
        text = self.headers.get(":status", "")
        return int(text) if text.isdigit() else None

    def meta(self, name: str) -> str | None:
        """A value from the trailers, or from the headers of a trailers-only answer."""
        return self.trailers.get(name, self.headers.get(name))


async def call(
    conn: Connection, headers: list[tuple[str, str]], body: bytes, deadline: float, limit: int = MAX_RECEIVED
) -> Reply:
    """Send one request (`headers` with its pseudo-headers first, then `body`) and read the
    whole answer before `deadline`."""
    h2conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    h2conn.initiate_connection()
    stream = h2conn.get_next_available_stream_id()
    h2conn.send_headers(stream, headers)
    h2conn.send_data(stream, body, end_stream=True)
    conn.writer.write(h2conn.data_to_send())
    try:
        async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
            return await _read(h2conn, conn, stream, limit)
    except TimeoutError:
        raise CallError("http_timeout", "no complete answer in time") from None
    except h2.exceptions.H2Error as exc:
        raise CallError("protocol_error", f"the answer is not valid HTTP/2 ({_words(exc)})") from None
    except (ConnectionError, OSError) as exc:
        raise CallError(
            "protocol_error", f"the connection broke during the call ({exc or type(exc).__name__})"
        ) from None


async def _read(h2conn: h2.connection.H2Connection, conn: Connection, stream: int, limit: int) -> Reply:
    reply = Reply()
    received = 0
    body = bytearray()
    while True:
        data = await conn.reader.read(65536)
        if not data:
            raise CallError("protocol_error", "the server closed the connection before the answer ended")
        if not received and data.startswith(b"HTTP/"):
            raise CallError("protocol_error", f"answers {_first_line(data)}: HTTP/1, not the HTTP/2 gRPC needs")
        received += len(data)
        if received > limit:
            raise CallError("protocol_error", f"the server sent more than {limit >> 10} KiB without ending the answer")
        for event in h2conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                reply.headers = _texts(event.headers)
            elif isinstance(event, h2.events.TrailersReceived) and event.stream_id == stream:
                reply.trailers = _texts(event.headers)
            elif isinstance(event, h2.events.DataReceived) and event.stream_id == stream:
                body += event.data
                h2conn.acknowledge_received_data(event.flow_controlled_length, stream)
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream:
                reply.body = bytes(body)
                return reply
            elif isinstance(event, h2.events.StreamReset) and event.stream_id == stream:
                raise CallError("protocol_error", f"the server reset the call ({_error_name(event.error_code)})")
            elif isinstance(event, h2.events.ConnectionTerminated):
                raise CallError("protocol_error", f"the server ended the connection ({_error_name(event.error_code)})")
        conn.writer.write(h2conn.data_to_send())  # settings and ping acknowledgements, window updates


def _texts(headers: Sequence[tuple[str | bytes, str | bytes]] | None) -> dict[str, str]:
    return {_text(name).lower(): _text(value) for name, value in headers or ()}


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _error_name(code: object) -> str:
    return getattr(code, "name", None) or str(code)


def _first_line(data: bytes) -> str:
    return data.split(b"\r\n", 1)[0][:80].decode("latin-1")


def _words(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
