"""One http(s) check's request over HTTP/2, on a TLS connection whose handshake agreed on h2
(ALPN): exchange.py's HTTP/1.1 exchange made through h2call.py's client. The same request
(ronda's User-Agent and Accept unless the check names its own, then the check's headers and
body), the same limits on the body (kept up to `limit`, counted up to `measure`), and an
Answer and ExchangeErrors with the same cause codes, so redirects, assertions and verdicts
read both alike; the Answer's `version` is "2".

Offered only when a check asks for it (`request: {http2: true}`, `--http2`): HTTP/1.1
through h11 stays the default, the cheaper exchange (docs/http.md, "HTTP/2").
"""

from __future__ import annotations

from http import HTTPStatus

from ronda.probes.connect import Connection
from ronda.probes.exchange import MAX_BODY, USER_AGENT, Answer, ExchangeError, Hop, Outgoing, host_header
from ronda.probes.h2call import MAX_RECEIVED, CallError, Reading, call

# Headers HTTP/2 forbids in a request (RFC 9113 8.2.2, and Host, which :authority replaces):
# they belong to an HTTP/1.1 connection. A check's own (`Keep-Alive: ...`) is left out, as
# curl leaves it out, rather than sent to be refused.
_CONNECTION_SPECIFIC = frozenset(
    {"connection", "host", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}
)
_SPEAKING = "the HTTP/2 its TLS handshake agreed on (ALPN h2)"


async def exchange_h2(
    conn: Connection,
    hop: Hop,
    deadline: float,
    limit: int = MAX_BODY,
    outgoing: Outgoing | None = None,
    measure: int = 0,
) -> Answer:
    """The request (a GET, or `outgoing`) on a stream of its own, its answer read to the end
    or to `limit` bytes of body; past `limit`, bytes are counted, not kept, up to `measure`."""
    outgoing = outgoing or Outgoing()
    reading = Reading(MAX_RECEIVED, keep=limit, measure=measure, encoding="latin-1", speaking=_SPEAKING)
    try:
        reply = await call(conn, request_headers(hop, outgoing), outgoing.body or b"", deadline, reading)
    except CallError as exc:
        raise ExchangeError(exc.code, exc.detail) from None
    status = reply.status
    if status is None:
        raise ExchangeError("protocol_error", "the answer is not valid HTTP/2 (no status)")
    headers = {name: value for name, value in reply.headers.items() if not name.startswith(":")}
    size = reply.size if reply.truncated and measure > limit else -1
    return Answer(status, _phrase(status), headers, reply.body, reply.truncated, size=size, version="2")


def request_headers(hop: Hop, outgoing: Outgoing) -> list[tuple[str, str]]:
    """The request's header list: pseudo-headers first, then ronda's own unless the check
    names them, the check's, and the body's length."""
    given = {name.lower() for name, _ in outgoing.headers}
    headers = [
        (":method", outgoing.method),
        (":scheme", hop.scheme),
        (":authority", host_header(hop)),
        (":path", hop.path),
    ]
    headers += [(name, value) for name, value in (("user-agent", USER_AGENT), ("accept", "*/*")) if name not in given]
    for name, value in outgoing.headers:
        lowered = name.lower()
        if lowered in _CONNECTION_SPECIFIC or (lowered == "te" and value.strip().lower() != "trailers"):
            continue
        headers.append((lowered, value.strip()))
    if outgoing.body is not None:
        headers.append(("content-length", str(len(outgoing.body))))
    return headers


def _phrase(status: int) -> str:
    """HTTP/2 carries no reason phrase: the status's standard one stands in for it."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
