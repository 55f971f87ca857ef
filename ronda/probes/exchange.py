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


async def exchange(
    conn: Connection, hop: Hop, deadline: float, limit: int = MAX_BODY, posting: Posting | None = None
) -> Answer:
    """One GET (or POST of `posting`) over an open connection, read to the end or to `limit`
    bytes of body."""
    client = h11.Connection(h11.CLIENT)
    headers = [("Host", host_header(hop)), ("User-Agent", USER_AGENT), ("Accept", "*/*"), ("Connection", "close")]
    if posting is not None:
        headers += [("Content-Type", posting.content_type), ("Content-Length", str(len(posting.body)))]
    request = h11.Request(method="GET" if posting is None else "POST", target=hop.path, headers=headers)
    data = client.send(request) or b""
    if posting is not None:
        data += client.send(h11.Data(data=posting.body)) or b""
    conn.writer.write(data + (client.send(h11.EndOfMessage()) or b""))
    try:
        async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
            return await _read_answer(client, conn.reader, limit)
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


async def _read_answer(client: h11.Connection, reader: asyncio.StreamReader, limit: int) -> Answer:
    response: h11.Response | None = None
    body = bytearray()
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
            body += event.data
            if len(body) > limit:
                return _answer(response, body[:limit], truncated=True)
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            return _answer(response, body, truncated=False)
        elif event is h11.PAUSED:
            raise ExchangeError("protocol_error", "the server sent more than one answer")


def _answer(response: h11.Response | None, body: bytearray, truncated: bool) -> Answer:
    if response is None:  # h11 yields no body events before a response; kept for the type checker
        raise ExchangeError("protocol_error", "no status line before the body")
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in response.headers}
    return Answer(response.status_code, response.reason.decode("latin-1"), headers, bytes(body), truncated)
