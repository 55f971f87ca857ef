"""One HTTP/2 request over an open connection, through the `h2` library (sans-IO, from the
same project as h11): a gRPC call in clear text (prior knowledge, RFC 9113 3.3), read to its
trailers, or an http(s) check's request on a TLS connection whose handshake agreed on h2
(ALPN; h2exchange.py), its body kept up to a limit. Every failure is a CallError carrying a
cause code; what a server may send is bounded (MAX_RECEIVED bytes of frames besides the body
asked for, h2's own limit on a header list), so a hostile peer costs the check its deadline
and no more.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

from ronda.probes.connect import Connection, client_certificate_refusal

MAX_RECEIVED = 1 << 20  # bytes of frames read from the server at most, besides a body kept or counted


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
    size: int = 0  # bytes of body received: past `body` when the answer was cut short
    truncated: bool = False  # the body went on past what was asked to be read

    @property
    def status(self) -> int | None:
        text = self.headers.get(":status", "")
        return int(text) if text.isascii() and text.isdigit() else None

    def meta(self, name: str) -> str | None:
        """A value from the trailers, or from the headers of a trailers-only answer."""
        return self.trailers.get(name, self.headers.get(name))


@dataclass(frozen=True)
class Reading:
    """How much of an answer to read. `keep=None`: all of it, its frames bounded by `limit`
    (a gRPC call); else at most `keep` bytes of body are kept and `measure` counted, and an
    answer whose body goes on past both is returned cut short (`Reply.truncated`), the
    frames besides that body bounded by `limit`. `encoding` decodes header bytes (HTTP's
    are Latin-1, as h11 reads them; gRPC's metadata UTF-8); `speaking` is what the server
    was expected to speak, for the words about one that answers in HTTP/1."""

    limit: int = MAX_RECEIVED
    keep: int | None = None
    measure: int = 0
    encoding: str = "utf-8"
    speaking: str = "the HTTP/2 gRPC needs"

    @property
    def stop(self) -> int | None:
        return None if self.keep is None else max(self.keep, self.measure)


async def call(
    conn: Connection,
    headers: list[tuple[str, str]],
    body: bytes,
    deadline: float,
    reading: Reading | None = None,
) -> Reply:
    """Send one request (`headers` with its pseudo-headers first, then `body`, if any) and
    read the answer before `deadline`, as much of it as `reading` says (by default all of
    it, in at most MAX_RECEIVED bytes of frames)."""
    reading = reading or Reading()
    h2conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    # No server push: pushed streams would take the connection's flow control window (and
    # the frames' budget) from the one answer read. A PUSH_PROMISE is then a protocol error.
    h2conn.local_settings = h2.settings.Settings(client=True, initial_values={h2.settings.SettingCodes.ENABLE_PUSH: 0})
    try:
        async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
            h2conn.initiate_connection()
            stream = h2conn.get_next_available_stream_id()
            h2conn.send_headers(stream, headers, end_stream=not body)
            pending = _send_body(h2conn, stream, memoryview(body))
            conn.writer.write(h2conn.data_to_send())
            return await _read(h2conn, conn, stream, reading, pending)
    except TimeoutError:
        raise CallError("http_timeout", "no complete answer in time") from None
    except h2.exceptions.H2Error as exc:
        raise CallError("protocol_error", f"the answer is not valid HTTP/2 ({_words(exc)})") from None
    except ssl.SSLError as exc:
        refusal = client_certificate_refusal(exc)
        if refusal:
            raise CallError("auth_failed", refusal) from None
        raise CallError("protocol_error", f"TLS failed during the exchange ({exc.reason or exc})") from None
    except (ConnectionError, OSError) as exc:
        raise CallError(
            "protocol_error", f"the connection broke during the call ({exc or type(exc).__name__})"
        ) from None


def _send_body(h2conn: h2.connection.H2Connection, stream: int, pending: memoryview) -> memoryview:
    """As much of the body as the server's flow control windows and frame size let through
    now; the rest, sent as the server opens its windows."""
    while pending:
        size = min(len(pending), h2conn.local_flow_control_window(stream), h2conn.max_outbound_frame_size)
        if size <= 0:
            break
        h2conn.send_data(stream, pending[:size].tobytes(), end_stream=size == len(pending))
        pending = pending[size:]
    return pending


async def _read(
    h2conn: h2.connection.H2Connection, conn: Connection, stream: int, reading: Reading, pending: memoryview
) -> Reply:
    reply = Reply()
    received = 0
    stop = reading.stop
    limit = reading.limit + (stop or 0)
    body = bytearray()
    while True:
        data = await conn.reader.read(65536)
        if not data:
            detail = "the server closed the connection before the answer ended"
            if not received and conn.tls is not None:
                # A server that demands a client certificate often hangs up right after the
                # handshake, before its alert can be read (as exchange.py says too).
                detail += "; if the server requires a client certificate, give one (--cert, client_cert)"
            raise CallError("protocol_error", detail)
        if not received and data.startswith(b"HTTP/"):
            raise CallError("protocol_error", f"answers {_first_line(data)}: HTTP/1, not {reading.speaking}")
        received += len(data)
        if received > limit:
            raise CallError("protocol_error", f"the server sent more than {limit >> 10} KiB without ending the answer")
        for event in h2conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                reply.headers = _texts(event.headers, reading.encoding)
            elif isinstance(event, h2.events.TrailersReceived) and event.stream_id == stream:
                reply.trailers = _texts(event.headers, reading.encoding)
            elif isinstance(event, h2.events.DataReceived) and event.stream_id == stream:
                reply.size += len(event.data)
                if reading.keep is None or len(body) < reading.keep:
                    body += event.data
                h2conn.acknowledge_received_data(event.flow_controlled_length, stream)
                if stop is not None and reply.size > stop:
                    return _done(reply, body, reading, truncated=True)
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream:
                return _done(reply, body, reading, truncated=False)
            elif isinstance(event, h2.events.StreamReset) and event.stream_id == stream:
                raise CallError("protocol_error", f"the server reset the stream ({_error_name(event.error_code)})")
            elif isinstance(event, h2.events.ConnectionTerminated):
                raise CallError("protocol_error", f"the server ended the connection ({_error_name(event.error_code)})")
        if pending:
            pending = _send_body(h2conn, stream, pending)
        conn.writer.write(h2conn.data_to_send())  # settings and ping acknowledgements, window updates


def _done(reply: Reply, body: bytearray, reading: Reading, *, truncated: bool) -> Reply:
    reply.body = bytes(body if reading.keep is None else body[: reading.keep])
    reply.truncated = truncated or (reading.keep is not None and reply.size > reading.keep)
    return reply


def _texts(headers: Sequence[tuple[str | bytes, str | bytes]] | None, encoding: str) -> dict[str, str]:
    return {_text(name, encoding).lower(): _text(value, encoding) for name, value in headers or ()}


def _text(value: str | bytes, encoding: str) -> str:
    return value.decode(encoding, "replace") if isinstance(value, bytes) else value


def _error_name(code: object) -> str:
    return getattr(code, "name", None) or str(code)


def _first_line(data: bytes) -> str:
    return data.split(b"\r\n", 1)[0][:80].decode("latin-1")


def _words(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
