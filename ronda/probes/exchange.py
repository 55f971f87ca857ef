"""One HTTP/1.1 exchange over an open connection, through h11 on asyncio's streams.

This is the probe's hot path, so it is not a general client: measured for issue #2 (CPU
per fresh verified check), aiohttp took 1.6-1.9 ms, httpx 3.2-3.6 ms, and a lean HTTP/1.1
exchange on asyncio's TLS streams 1.4-1.5 ms; docs/benchmarks.md has ronda's whole check
beside blackbox_exporter. Bodies are read up to a limit, so a huge one costs no memory,
and every failure is an ExchangeError carrying a cause code.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11

from ronda import __version__
from ronda.hosts import ascii_host
from ronda.probes.connect import Connection, client_certificate_refusal
from ronda.schemes import DEFAULT_PORTS

MAX_BODY = 1 << 20  # read at most this much of a body
USER_AGENT = f"ronda/{__version__} (+monitoring)"


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    truncated: bool
    url: str = ""  # where it came from, after redirects
    size: int = -1  # bytes of body counted, past `body`, when a size limit asked for more; -1: len(body)
    version: str = "1.1"  # the HTTP version it came in: "1.1", "1.0", or "2" (h2exchange.py)

    @property
    def seen_size(self) -> int:
        return len(self.body) if self.size < 0 else self.size


@dataclass(frozen=True)
class Hop:
    url: str
    scheme: str
    host: str
    port: int
    path: str


class ExchangeError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def hop_for(url: str) -> Hop:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Hop(url, scheme, _ascii_host(parts.hostname or ""), parts.port or DEFAULT_PORTS[scheme], path)


def _ascii_host(host: str) -> str:
    """The host as DNS, SNI and the Host header need it (an international name as punycode).
    A name IDNA refuses is kept as written: resolving it then fails in words."""
    try:
        return ascii_host(host)
    except ValueError:
        return host.lower()


def host_header(hop: Hop) -> str:
    host = f"[{hop.host}]" if ":" in hop.host else hop.host
    return host if hop.port == DEFAULT_PORTS[hop.scheme] else f"{host}:{hop.port}"


@dataclass(frozen=True)
class Posting:
    """A body to POST instead of a GET (a SOAP call), with its content type."""

    body: bytes
    content_type: str


@dataclass(frozen=True)
class Outgoing:
    """A request other than a plain GET: its method, headers besides ronda's own (a header
    named here replaces ronda's User-Agent or Accept), and body."""

    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None


async def exchange(
    conn: Connection,
    hop: Hop,
    deadline: float,
    limit: int = MAX_BODY,
    posting: Posting | None = None,
    outgoing: Outgoing | None = None,
    measure: int = 0,
) -> Answer:
    """One GET (or POST of `posting`, or `outgoing`) over an open connection, read to the
    end or to `limit` bytes of body; past `limit`, bytes are counted, not kept, up to
    `measure` (a size limit larger than what is kept)."""
    if posting is not None:
        outgoing = Outgoing("POST", (("Content-Type", posting.content_type),), posting.body)
    outgoing = outgoing or Outgoing()
    client = h11.Connection(h11.CLIENT)
    conn.writer.write(_request_bytes(client, hop, outgoing))
    try:
        async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
            return await _read_answer(client, conn.reader, limit, measure)
    except TimeoutError:
        raise ExchangeError("http_timeout", "no complete answer in time") from None
    except h11.RemoteProtocolError as exc:
        raise ExchangeError("protocol_error", f"the answer is not valid HTTP ({exc})") from None
    except ssl.SSLError as exc:
        refusal = client_certificate_refusal(exc)
        if refusal:
            raise ExchangeError("auth_failed", refusal) from None
        raise ExchangeError("protocol_error", f"TLS failed during the exchange ({exc.reason or exc})") from None
    except (ConnectionError, OSError) as exc:
        detail = f"the connection broke during the exchange ({exc or type(exc).__name__})"
        if conn.tls is not None and client.their_state is h11.SEND_RESPONSE:
            # A server that demands a client certificate often hangs up right after the
            # handshake, before its alert can be read: say what the likely cause is.
            detail += "; if the server requires a client certificate, give one (--cert, client_cert)"
        raise ExchangeError("http_timeout" if isinstance(exc, TimeoutError) else "protocol_error", detail) from None


def _request_bytes(client: h11.Connection, hop: Hop, outgoing: Outgoing) -> bytes:
    given = {name.lower() for name, _ in outgoing.headers}
    ours = [("User-Agent", USER_AGENT), ("Accept", "*/*")]
    headers = [("Host", host_header(hop)), *[(n, v) for n, v in ours if n.lower() not in given], *outgoing.headers]
    headers.append(("Connection", "close"))
    if outgoing.body is not None:
        headers.append(("Content-Length", str(len(outgoing.body))))
    data = client.send(h11.Request(method=outgoing.method, target=hop.path, headers=headers)) or b""
    if outgoing.body:
        data += client.send(h11.Data(data=outgoing.body)) or b""
    return data + (client.send(h11.EndOfMessage()) or b"")


async def _read_answer(client: h11.Connection, reader: asyncio.StreamReader, limit: int, measure: int = 0) -> Answer:
    response: h11.Response | None = None
    body = bytearray()
    seen = 0
    while True:
        event = client.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(65536)
            if not data and response is None:
                raise ExchangeError("protocol_error", "the server closed the connection without answering")
            client.receive_data(data)  # b"" tells h11 the peer closed
            continue
        if isinstance(event, h11.InformationalResponse):
            continue
        if isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            seen += len(event.data)
            if len(body) <= limit:
                body += event.data
            if seen > max(limit, measure):
                return _answer(response, body[:limit], truncated=True, size=seen if measure > limit else -1)
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            return _answer(response, body[:limit], truncated=seen > limit, size=seen if measure > limit else -1)
        elif event is h11.PAUSED:
            raise ExchangeError("protocol_error", "the server sent more than one answer")


def _answer(response: h11.Response | None, body: bytearray, truncated: bool, size: int) -> Answer:
    if response is None:  # h11 yields no body events before a response; kept for the type checker
        raise ExchangeError("protocol_error", "no status line before the body")
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in response.headers}
    reason = response.reason.decode("latin-1")
    size = size if truncated else -1
    version = response.http_version.decode("ascii")
    return Answer(response.status_code, reason, headers, bytes(body), truncated, size=size, version=version)
