"""http:// and https://: DNS, TCP, TLS at every address, then the HTTP exchange.

The exchange is the probe's hot path, so it speaks HTTP/1.1 through h11 directly over
asyncio's streams instead of a general client. Measured for issue #2 (CPU per fresh
verified check): aiohttp 1.6-1.9 ms, httpx 3.2-3.6 ms, a lean HTTP/1.1 exchange on
asyncio's TLS streams 1.4-1.5 ms; docs/benchmarks.md has ronda's whole check beside
blackbox_exporter. Working on the streams also lets each phase (TCP, TLS, HTTP) name
its own failure. Redirects are followed (up to MAX_REDIRECTS) and a loop is named.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import h11

from ronda import __version__
from ronda.probes.addresses import each_address
from ronda.probes.base import Observation, ProbeContext
from ronda.probes.connect import Connection, Failure, open_tcp
from ronda.probes.resolve import resolve_host
from ronda.probes.tls import secure_connection
from ronda.target import DEFAULT_PORTS, CheckOptions, Target

MAX_REDIRECTS = 10
MAX_BODY = 1 << 20  # read at most this much of a body; a huge one costs no memory
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


def _hop(url: str) -> Hop:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = (parts.hostname or "").lower()
    return Hop(url, scheme, host, parts.port or DEFAULT_PORTS[scheme], path)


async def probe_http(
    target: Target, options: CheckOptions, ctx: ProbeContext, obs: Observation, deadline: float
) -> None:
    answers: dict[str, Answer] = {}

    async def check(address: str) -> None:
        answer = await _follow(obs, ctx, options, _hop(target.url), address, deadline)
        if answer is not None:
            answers[address] = answer

    await each_address(obs, options, deadline, check)
    obs.latency_ms = obs.elapsed_ms()
    for address, answer in answers.items():
        _judge(obs, options, address, answer)
    if answers:
        first = answers[obs.addresses[0]] if obs.addresses[0] in answers else next(iter(answers.values()))
        obs.http = {"status": first.status, "reason": first.reason, "bytes": len(first.body)}
        if first.truncated:
            obs.http["truncated"] = True
        if options.subresources:
            from ronda.probes.subresources import check_subresources  # it builds on this module

            await check_subresources(obs, ctx, options, first, deadline)


async def _follow(
    obs: Observation,
    ctx: ProbeContext,
    options: CheckOptions,
    hop: Hop,
    address: str,
    deadline: float,
    limit: int = MAX_BODY,
) -> Answer | None:
    """Request `hop` at `address`, following redirects; None when a finding was recorded.
    Reads at most `limit` bytes of the final body."""
    seen = {hop.url}
    for _ in range(MAX_REDIRECTS + 1):
        answer = await _request(obs, ctx, options, hop, address, deadline, limit)
        if answer is None:
            return None
        location = answer.headers.get("location")
        if not (300 <= answer.status < 400 and location):
            return dataclasses.replace(answer, url=hop.url)
        next_url = urljoin(hop.url, location)
        if urlsplit(next_url).scheme.lower() not in ("http", "https"):
            return dataclasses.replace(answer, url=hop.url)
        if next_url in seen:
            obs.problem("http_redirect_loop", f"{hop.url} redirects back to {next_url}, a loop", address=address)
            return None
        seen.add(next_url)
        next_hop = _hop(next_url)
        if (next_hop.host, next_hop.port) != (hop.host, hop.port):
            resolved = await resolve_host(next_hop.host, next_hop.port, options, deadline)
            if resolved.error:
                obs.problem(resolved.error, f"redirect to {next_url}: {resolved.detail}", host=next_hop.host)
                return None
            address = resolved.addresses[0]
        hop = next_hop
    obs.problem("http_redirect_loop", f"more than {MAX_REDIRECTS} redirects, the last to {hop.url}", address=address)
    return None


async def _request(
    obs: Observation,
    ctx: ProbeContext,
    options: CheckOptions,
    hop: Hop,
    address: str,
    deadline: float,
    limit: int = MAX_BODY,
) -> Answer | None:
    conn: Connection | Failure | None
    if hop.scheme == "https":
        conn = await secure_connection(obs, ctx, options, hop.host, address, hop.port, deadline)
    else:
        conn = await open_tcp(address, hop.port, deadline)
        if isinstance(conn, Failure):
            obs.problem(conn.code, conn.detail, address=address, host=hop.host, port=hop.port)
            conn = None
    if conn is None:
        return None
    try:
        return await exchange(conn, hop, deadline, limit)
    except ExchangeError as exc:
        obs.problem(exc.code, f"{hop.url} at {address}: {exc.detail}", address=address, host=hop.host, port=hop.port)
        return None
    finally:
        conn.close()


def _host_header(hop: Hop) -> str:
    host = f"[{hop.host}]" if ":" in hop.host else hop.host
    return host if hop.port == DEFAULT_PORTS[hop.scheme] else f"{host}:{hop.port}"


async def exchange(conn: Connection, hop: Hop, deadline: float, limit: int = MAX_BODY) -> Answer:
    """One GET over an open connection, read to the end or to `limit` bytes of body."""
    client = h11.Connection(h11.CLIENT)
    request = h11.Request(
        method="GET",
        target=hop.path,
        headers=[("Host", _host_header(hop)), ("User-Agent", USER_AGENT), ("Accept", "*/*"), ("Connection", "close")],
    )
    conn.writer.write(client.send(request) + client.send(h11.EndOfMessage()))
    try:
        async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
            return await _read_answer(client, conn.reader, limit)
    except TimeoutError:
        raise ExchangeError("http_timeout", "no complete answer in time") from None
    except h11.RemoteProtocolError as exc:
        raise ExchangeError("protocol_error", f"the answer is not valid HTTP ({exc})") from None
    except (ConnectionError, OSError) as exc:
        raise ExchangeError(
            "http_timeout" if isinstance(exc, TimeoutError) else "protocol_error",
            f"the connection broke during the exchange ({exc or type(exc).__name__})",
        ) from None


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


def _judge(obs: Observation, options: CheckOptions, address: str, answer: Answer) -> None:
    """Status, content and latency against what was expected."""
    expect = options.expect
    status = answer.status
    where = f"{obs.target.url} at {address}"
    if expect.status is not None and status != expect.status:
        code = "http_server_error" if status >= 500 else "http_client_error" if status >= 400 else "content_mismatch"
        obs.problem(code, f"{where} answered {status} {answer.reason}, expected {expect.status}", address=address)
    elif expect.status is None and status >= 400:
        code = "http_server_error" if status >= 500 else "http_client_error"
        obs.problem(code, f"{where} answered {status} {answer.reason}".rstrip(), address=address)
    if expect.text is not None and expect.text not in answer.body.decode("utf-8", "replace"):
        scope = "the first MiB of the page" if answer.truncated else "the page"
        obs.problem("content_mismatch", f"{where}: {expect.text!r} is not in {scope}", address=address)
    if expect.max_latency is not None and obs.latency_ms is not None and obs.latency_ms > expect.max_latency * 1000:
        obs.problem(
            "slow_response",
            f"{obs.target.url} took {obs.latency_ms:.0f} ms, more than the allowed {expect.max_latency * 1000:.0f} ms",
        )
