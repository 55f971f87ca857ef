"""ws:// and wss://: the WebSocket handshake at every address behind the name, then proof that
the persistent connection carries messages.

The connection is ronda's own (TCP, TLS with the full certificate analysis, the check's one
deadline); the protocol is wsproto's, a sans-IO implementation from h11's family: it writes the
upgrade request, checks the answer (101, `Upgrade: websocket`, `Connection: Upgrade`, the
Sec-WebSocket-Accept derived from our key, the subprotocol) and frames and unmasks messages.
ronda adds the reads, each bounded by size and by the deadline, and the findings.

The outage this catches is a chat-style service that still answers HTTP but no longer holds
its persistent connections (a proxy that answers the upgrade with a page, or accepts it and
drops it because the backend behind it is gone). So after the handshake the connection must
carry something:
- with `send`, that message goes out and the first message back is its reply, which must
  contain `expect.text` when one is given (else `content_mismatch`);
- with `expect.text` alone, the first message the server sends (a greeting) must contain it;
- with neither, a Ping must come back as a Pong (RFC 6455 5.5.2: every endpoint answers one).
A server that closes instead (a Close frame, or the connection cut) has dropped the persistent
connection: `protocol_error`, with its close code. Silence until the deadline is
`http_timeout`. Then our Close (1000) ends it, and the server's answer is the close code kept.

An answer to the handshake other than 101 reads as a person would read it:
- 5xx is `http_server_error`: the service is failing, as its pages would say;
- 4xx other than 426 is `http_client_error`: a 404 means the endpoint is not at that path, a
  401 or 403 that the server refuses this client; the status says it all, as for https://;
- 2xx, 3xx and 426 are `protocol_error`, "answers HTTP 200 but does not accept WebSocket
  connections": the server is there and speaks HTTP, the WebSocket service is what is missing.
  A 3xx names its Location (WebSocket clients, browsers included, do not follow redirects); a
  426 Upgrade Required to a request that asked for the upgrade means something in between
  strips it, or the server wants another WebSocket version.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Event,
    Message,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from ronda.probes.addresses import each_address
from ronda.probes.base import Observation, ProbeContext, ProbeScheme
from ronda.probes.connect import Connection, client_certificate_refusal
from ronda.probes.exchange import MAX_BODY, USER_AGENT, Hop, hop_for, host_header
from ronda.probes.tls import open_connection
from ronda.target import CheckOptions, Target

MAX_MESSAGE = MAX_BODY  # read at most this much of a reply, as of a page
EXCERPT = 200  # characters of a reply kept in the verdict and quoted in findings
CLOSE_WAIT = 1.0  # seconds to wait for the server's answer to our Close: a courtesy, not a verdict
PING = b"ronda"
READ_SIZE = 65536
NORMAL_CLOSURE = 1000
NO_CLOSE_FRAME = 1006  # RFC 6455 7.1.5: the code of a connection that ended without a Close frame


class _Problem(Exception):
    """What went wrong at one address: a cause code and words for the finding."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass
class _Outcome:
    """What one address gave, as far as it got: the verdict's `websocket` object."""

    status: int | None = None  # the HTTP status of the answer to the handshake (101: accepted)
    subprotocol: str | None = None
    handshake_ms: float | None = None  # from the check's start, as latency is for http://
    reply: str | None = None  # the reply's text (bytes decoded), up to MAX_MESSAGE
    reply_bytes: int = 0
    truncated: bool = False
    round_trip_ms: float | None = None  # from the message (or Ping) sent to its reply (or Pong)
    close_code: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "subprotocol": self.subprotocol}
        if self.reply is not None:
            out |= {"reply": self.reply[:EXCERPT], "reply_bytes": self.reply_bytes}
            if self.truncated:
                out["truncated"] = True
        if self.round_trip_ms is not None:
            out["round_trip_ms"] = round(self.round_trip_ms, 3)
        return out | {"close_code": self.close_code}


async def probe_websocket(
    target: Target, options: CheckOptions, ctx: ProbeContext, obs: Observation, deadline: float
) -> None:
    hop = hop_for(target.url)
    outcomes: dict[str, _Outcome] = {}

    async def check(address: str) -> None:
        conn = await open_connection(
            obs, ctx, options, hop.host, address, hop.port, deadline, secure=hop.scheme == "wss"
        )
        if conn is None:
            return
        outcomes[address] = outcome = _Outcome()
        try:
            await _converse(_Peer(conn), obs, options, hop, outcome, deadline)
        except _Problem as problem:
            obs.problem(problem.code, f"{target.url} at {address}: {problem.detail}", address=address)
        finally:
            conn.close()

    await each_address(obs, options, deadline, check, ctx.dns)
    handshakes = [o.handshake_ms for o in outcomes.values() if o.handshake_ms is not None]
    # The slowest address's handshake: the figure --max-latency and perfdata's time= judge.
    obs.latency_ms = max(handshakes) if handshakes else None
    if outcomes:
        first = outcomes[obs.addresses[0]] if obs.addresses[0] in outcomes else next(iter(outcomes.values()))
        obs.facts["websocket"] = first.to_json()
    limit = options.expect.max_latency
    if limit is not None and obs.latency_ms is not None and obs.latency_ms > limit * 1000:
        obs.problem(
            "slow_response",
            f"{target.url}: the WebSocket handshake took {obs.latency_ms:.0f} ms, "
            f"more than the allowed {limit * 1000:.0f} ms",
        )


async def _converse(
    peer: _Peer, obs: Observation, options: CheckOptions, hop: Hop, outcome: _Outcome, deadline: float
) -> None:
    """Handshake, one exchange that proves the connection carries messages, Close."""
    await _handshake(peer, options, hop, outcome, deadline)
    outcome.handshake_ms = obs.elapsed_ms()
    try:
        await _exchange(peer, options, outcome, deadline)
    finally:
        await _close(peer, outcome, deadline)  # after a wrong reply or a timeout too: the Close is still owed


class _Peer:
    """wsproto over one of ronda's connections: events in, bytes out, each wait bounded by a
    deadline and each read by READ_SIZE (wsproto hands a long frame over in pieces)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.ws = WSConnection(ConnectionType.CLIENT)
        self._pending: deque[Event] = deque()
        self._ended = False

    async def send(self, event: Event, deadline: float) -> None:
        self.conn.writer.write(self.ws.send(event))
        await self._io(self.conn.writer.drain(), deadline, "the server to read what ronda sent")

    async def next_event(self, deadline: float, awaited: str) -> Event:
        """The next event, or a _Problem naming `awaited` (what the server owes us, as in
        "waiting for the reply") when time runs out, the connection breaks, or it ends."""
        while not self._pending:
            if self._ended:
                raise _Problem("protocol_error", f"the connection ended before {awaited}")
            data = await self._io(self.conn.reader.read(READ_SIZE), deadline, awaited, reading=True)
            state = self.ws.state
            if not data and state is ConnectionState.CONNECTING:
                raise _Problem("protocol_error", f"the server closed the connection before {awaited}")
            if state is ConnectionState.CLOSED:
                raise _Problem("protocol_error", f"the connection ended before {awaited}")
            self._ended = not data
            # b"" ended the stream: wsproto takes None for that, and reports it as Close 1006.
            self.ws.receive_data(data or None)
            self._pending.extend(self.ws.events())
        return self._pending.popleft()

    async def _io(self, step: Any, deadline: float, awaited: str, reading: bool = False) -> Any:
        try:
            async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
                return await step
        except ConnectionResetError:
            if self.ws.state is not ConnectionState.OPEN:
                raise _Problem("protocol_error", f"the connection was reset while waiting for {awaited}") from None
            # A server that cuts an open connection is an end of stream (Close 1006), whether
            # the kernel says EOF or reset, and whether the reset meets our write or our read
            # (a matter of timing): a write lets the read that follows find the end.
            return b"" if reading else None
        except TimeoutError:
            raise _Problem("http_timeout", f"timed out waiting for {awaited}") from None
        except ssl.SSLError as exc:
            refusal = client_certificate_refusal(exc)
            if refusal:
                raise _Problem("auth_failed", refusal) from None
            raise _Problem("protocol_error", f"TLS failed while waiting for {awaited} ({exc.reason or exc})") from None
        except OSError as exc:
            raise _Problem(
                "protocol_error", f"the connection broke while waiting for {awaited} ({exc or type(exc).__name__})"
            ) from None


async def _handshake(peer: _Peer, options: CheckOptions, hop: Hop, outcome: _Outcome, deadline: float) -> None:
    # No extensions offered: with permessage-deflate a bounded read would no longer bound
    # what the reply inflates to, and a monitor gains nothing from compression.
    request = Request(
        host=host_header(hop),
        target=hop.path,
        subprotocols=[options.subprotocol] if options.subprotocol else [],
        extra_headers=[(b"User-Agent", USER_AGENT.encode())],
    )
    await peer.send(request, deadline)
    try:
        event = await peer.next_event(deadline, "the answer to the WebSocket handshake")
    except RemoteProtocolError as exc:
        words, outcome.status = _bad_handshake(str(exc))
        raise _Problem("protocol_error", words) from None
    if isinstance(event, RejectConnection):
        outcome.status = event.status_code
        raise _refusal(event.status_code, dict(event.headers))
    assert isinstance(event, AcceptConnection), event  # the handshake yields nothing else
    outcome.status, outcome.subprotocol = 101, event.subprotocol
    if options.subprotocol and event.subprotocol is None:
        # As browsers do: a client that asked for a subprotocol cannot talk without one.
        raise _Problem(
            "protocol_error",
            f"accepted the WebSocket connection without the subprotocol {options.subprotocol!r} "
            "(its answer has no Sec-WebSocket-Protocol)",
        )


def _bad_handshake(message: str) -> tuple[str, int | None]:
    """wsproto's reason for refusing an answer, in words, and the status that answer had."""
    if message == "Bad accept token":
        return (
            "answers 101 Switching Protocols, but its Sec-WebSocket-Accept does not match the key sent: "
            "not a WebSocket handshake",
            101,
        )
    if message.startswith("Missing header, "):
        header = message.removeprefix("Missing header, ").strip("'")
        return f"answers 101 Switching Protocols without {header!r}: not a WebSocket handshake", 101
    if message.startswith("unrecognized subprotocol "):
        chosen = message.removeprefix("unrecognized subprotocol ")
        return f"accepted the WebSocket connection with the subprotocol {chosen!r}, which was not asked for", 101
    return f"the answer to the WebSocket handshake is not valid HTTP ({message})", None


def _refusal(status: int, headers: dict[bytes, bytes]) -> _Problem:
    """A finding for an HTTP answer other than 101 (the module's docstring says why which)."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    answers = f"answers HTTP {status} {phrase}".rstrip()
    if status >= 500:
        return _Problem("http_server_error", f"{answers} to the WebSocket handshake")
    if 400 <= status < 500 and status != HTTPStatus.UPGRADE_REQUIRED:
        return _Problem("http_client_error", f"{answers} to the WebSocket handshake")
    detail = f"{answers} but does not accept WebSocket connections"
    location = headers.get(b"location", b"").decode("latin-1")
    if 300 <= status < 400 and location:
        detail = f"{answers} (to {location}) but does not accept WebSocket connections: clients do not follow redirects"
    elif status == HTTPStatus.UPGRADE_REQUIRED:
        versions = headers.get(b"sec-websocket-version", b"").decode("latin-1")
        why = f"it speaks WebSocket version {versions}, ronda 13" if versions else "something in between strips it"
        detail = f"{answers} to a request that asked for the WebSocket upgrade: {why}"
    return _Problem("protocol_error", detail)


async def _exchange(peer: _Peer, options: CheckOptions, outcome: _Outcome, deadline: float) -> None:
    """Send the message (or a Ping) and read its answer: proof the connection is held."""
    started = time.monotonic()
    pinging = options.send is None and options.expect.text is None
    opening: Event | None = None
    if options.send is not None:
        opening, awaited = TextMessage(data=options.send), "the reply to the message sent"
    elif pinging:
        opening, awaited = Ping(payload=PING), "the Pong in answer to a Ping"
    else:
        awaited = "the server's first message"
    if opening is not None and peer.ws.state is ConnectionState.OPEN:  # a Close may have come with the 101
        await peer.send(opening, deadline)
    pieces: list[bytes] = []
    while True:
        event = await peer.next_event(deadline, awaited)
        if isinstance(event, Ping) and peer.ws.state is ConnectionState.OPEN:
            await peer.send(event.response(), deadline)  # a server may ping first; it must hear back
        elif isinstance(event, CloseConnection):
            outcome.close_code = int(event.code)
            raise _dropped(peer, event, awaited)
        elif isinstance(event, Pong) and pinging:
            break
        elif isinstance(event, Message) and not pinging:
            pieces.append(event.data.encode() if isinstance(event, TextMessage) else bytes(event.data))
            outcome.reply_bytes += len(pieces[-1])
            if event.message_finished or outcome.reply_bytes >= MAX_MESSAGE:
                outcome.truncated = outcome.reply_bytes > MAX_MESSAGE or not event.message_finished
                break
    outcome.round_trip_ms = (time.monotonic() - started) * 1000
    if not pieces:
        return
    reply = b"".join(pieces)[:MAX_MESSAGE].decode("utf-8", "replace")
    outcome.reply, outcome.reply_bytes = reply, min(outcome.reply_bytes, MAX_MESSAGE)
    text = options.expect.text
    if text is not None and text not in reply:
        scope = "the first MiB of the reply" if outcome.truncated else "the reply"
        raise _Problem("content_mismatch", f"{text!r} is not in {scope} {_quote(reply)}")


def _dropped(peer: _Peer, event: CloseConnection, awaited: str) -> _Problem:
    if peer.ws.state is ConnectionState.OPEN:
        # wsproto reports bytes that are not WebSocket frames as a Close it would send; a
        # Close the server sent moves the state on.
        return _Problem("protocol_error", f"sent data that breaks the WebSocket protocol ({event.reason})")
    if event.code == NO_CLOSE_FRAME:
        how = "cut the connection (no Close frame)"
    else:
        how = f"closed it (close code {event.code}{': ' + event.reason if event.reason else ''})"
    return _Problem(
        "protocol_error",
        f"accepted the WebSocket connection, then {how} before {awaited}: the persistent connection was dropped",
    )


async def _close(peer: _Peer, outcome: _Outcome, deadline: float) -> None:
    """Our Close, and the server's answer to it as the close code; a server that does not
    answer costs at most CLOSE_WAIT and no finding (the connection worked)."""
    state = peer.ws.state
    if state not in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
        return
    until = min(deadline, time.monotonic() + CLOSE_WAIT)
    try:
        await peer.send(CloseConnection(code=NORMAL_CLOSURE), until)
        if state is ConnectionState.REMOTE_CLOSING:
            return  # ours answers the server's Close: the closing handshake is complete
        while True:
            event = await peer.next_event(until, "the answer to the Close")
            if isinstance(event, CloseConnection):
                outcome.close_code = int(event.code)
                return
    except (_Problem, LocalProtocolError):
        return


def _quote(reply: str) -> str:
    return repr(reply[:EXCERPT]) + ("..." if len(reply) > EXCERPT else "")


def _words(websocket: dict[str, Any]) -> str:
    subprotocol = websocket["subprotocol"]
    return "WebSocket open" + (f" with subprotocol {subprotocol}" if subprotocol else "")


def _perfdata(websocket: dict[str, Any]) -> list[str]:
    """time= is the handshake; reply_time the round trip of the message (or Ping) after it."""
    items = []
    if "round_trip_ms" in websocket:
        items.append(f"reply_time={websocket['round_trip_ms'] / 1000:.6f}s;;;0")
    if "reply_bytes" in websocket:
        items.append(f"size={websocket['reply_bytes']}B;;;0")
    return items


def _detail(websocket: dict[str, Any]) -> list[str]:
    words = [f"HTTP {websocket['status']}" if websocket["status"] else "no answer to the handshake"]
    if websocket["subprotocol"]:
        words.append(f"subprotocol {websocket['subprotocol']}")
    if "reply" in websocket:
        more = ", truncated" if websocket.get("truncated") else ""
        words.append(f"reply {websocket['reply']!r} ({websocket['reply_bytes']} B{more})")
    elif "round_trip_ms" in websocket:
        words.append("Pong")
    if "round_trip_ms" in websocket:
        words[-1] += f" in {websocket['round_trip_ms']:.3f} ms"
    if websocket["close_code"] is not None:
        words.append(f"close code {websocket['close_code']}")
    return [f"websocket: {', '.join(words)}"]


SCHEME = ProbeScheme(
    probe_websocket,
    timeout="http_timeout",
    options=("send", "subprotocol"),  # --send, --subprotocol; the config's send, subprotocol
    facts="websocket",
    words=_words,
    perfdata=_perfdata,
    detail=_detail,
)
