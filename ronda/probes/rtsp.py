"""rtsp://[user:pass@]host[:port]/path[?expect=video,audio] (port 554) and rtsps:// (port 322,
RTSP over TLS, its certificate analysed as tls:// does): is the camera or recorder there,
and does it still describe the streams it should?

At every address behind the name: OPTIONS (an `RTSP/1.0 200` with our CSeq echoed, and a
`Public` header that offers DESCRIBE), then DESCRIBE asking for `application/sdp`, whose
SDP must name at least one media stream (or, with `?expect=`, one of each kind named).

A 401 answers the question "is the device alive" by itself: without credentials in the URL
that is all ronda can learn, and the check is up (the summary says so). With credentials,
ronda answers the strongest challenge it knows (Digest SHA-256, Digest MD5, Basic; see
digest.py) and a second 401 is `auth_failed`. Every read is bounded by size and by the
check's deadline: a server that is not RTSP (an HTTP server, garbage, silence) is
`protocol_error` naming what it said, or that it said nothing in time.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import re
import time
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

from ronda import __version__
from ronda.errors import UsageError
from ronda.probes.addresses import each_address
from ronda.probes.base import Observation, ProbeContext, ProbeScheme
from ronda.probes.connect import Connection, Failure, open_tcp
from ronda.probes.digest import Challenge, authorization, parse_challenges, preferred
from ronda.probes.sdp import MEDIA_TYPES, Stream, is_sdp, media_streams, stream_words
from ronda.probes.tls import secure_connection
from ronda.target import CheckOptions, Target

MAX_HEAD = 1 << 16  # status line and headers: a camera's are a few hundred bytes
MAX_HEADER_LINES = 100
MAX_BODY = 1 << 16  # an SDP with a dozen tracks is a few KiB
QUOTE_CHARS = 120  # how much of a reply a finding quotes
USER_AGENT = f"ronda/{__version__}"
_STATUS_LINE = re.compile(r"RTSP/1\.\d (\d{3})(?: (.*))?")


class NotRtsp(Exception):
    """What the server sent does not have RTSP's shape; the message quotes it."""


class Broken(Exception):
    """The exchange cannot go on: a cause code and the words for it."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: Message
    body: bytes

    @property
    def status_line(self) -> str:
        return f"RTSP/1.0 {self.status} {self.reason}".rstrip()


@dataclass
class Report:
    """What one address answered, as the verdict's `rtsp` object shows it."""

    address: str
    status: int | None = None
    server: str | None = None
    public: list[str] = field(default_factory=list)
    auth: str | None = None  # the scheme ronda answered with: Digest SHA-256, Digest MD5, Basic
    auth_offered: list[str] = field(default_factory=list)  # the challenges of the last 401
    streams: list[Stream] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "status": self.status,
            "server": self.server,
            "public": self.public,
            "auth": self.auth,
            "auth_offered": self.auth_offered,
            "streams": [stream.to_json() for stream in self.streams],
        }


# --- the probe ---------------------------------------------------------------------------------


async def probe_rtsp(
    target: Target, options: CheckOptions, ctx: ProbeContext, obs: Observation, deadline: float
) -> None:
    expected = expected_media(target)
    reports: dict[str, Report] = {}

    async def check(address: str) -> None:
        where = address if target.host == address else f"{target.host} at {address}"
        conn = await _connect(target, options, ctx, obs, address, deadline)
        if conn is None:
            return
        report = reports[address] = Report(address)
        session = RtspSession(conn, target, request_uri(target), report, deadline)
        try:
            await describe(session, expected)
        except Broken as exc:
            obs.problem(exc.code, f"{where}: {exc.detail}", address=address)
        finally:
            conn.close()

    await each_address(obs, options, deadline, check, ctx.dns)
    answered = [reports[a] for a in obs.addresses if a in reports and reports[a].status is not None]
    if answered:  # the first address that spoke RTSP; findings name the others
        obs.facts["rtsp"] = answered[0].to_json()


async def _connect(
    target: Target, options: CheckOptions, ctx: ProbeContext, obs: Observation, address: str, deadline: float
) -> Connection | None:
    if target.scheme == "rtsps":
        return await secure_connection(obs, ctx, options, target.host, address, target.port, deadline)
    conn = await open_tcp(address, target.port, deadline)
    if isinstance(conn, Failure):
        obs.problem(conn.code, conn.detail, address=address)
        return None
    return conn


def expected_media(target: Target) -> frozenset[str]:
    """`?expect=video,audio`: a stream of each kind must be described; none: any one will do."""
    text = target.params.get("expect")
    if text is None:
        return frozenset()
    kinds = frozenset(kind.strip().lower() for kind in text.split(","))
    if not kinds or not kinds <= MEDIA_TYPES:
        known = ", ".join(sorted(MEDIA_TYPES))
        raise UsageError(f"{target.url!r}: expect={text!r}: name media types from {known}, separated by commas")
    return kinds


def request_uri(target: Target) -> str:
    """The URL the camera is asked about: without the credentials, and without ronda's own
    `expect=` (a camera's own query, as in `?channel=1&subtype=0`, stays)."""
    parts = urlsplit(target.url)
    query = "&".join(p for p in parts.query.split("&") if p and not p.startswith("expect="))
    netloc = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{netloc}{parts.path or '/'}" + (f"?{query}" if query else "")


def rtsp_words(rtsp: dict[str, Any]) -> str:
    """The verdict's `rtsp` object in a phrase, for the summary of a device that is up."""
    if rtsp["status"] == 401:
        offered = "/".join(rtsp["auth_offered"])
        return f"RTSP 401, the device answers and asks for {offered} authentication (no credentials given)"
    streams = rtsp["streams"]
    noun = "stream" if len(streams) == 1 else "streams"
    via = f" ({rtsp['auth']})" if rtsp["auth"] else ""
    return f"RTSP {rtsp['status']}{via}, {len(streams)} {noun}: " + ", ".join(stream_words(s) for s in streams)


# --- the exchange ------------------------------------------------------------------------------


async def describe(session: RtspSession, expected: frozenset[str]) -> None:
    """OPTIONS, then DESCRIBE, filling the session's report; Broken when either fails."""
    options = await session.send("OPTIONS")
    if options.status == 401:
        _challenged(session, options)
        return
    _accept(options, "OPTIONS", session)
    public = options.headers.get("Public")
    session.report.public = [m.strip() for m in (public or "").split(",") if m.strip()]
    # A server that lists its methods must list DESCRIBE; one that lists none (old firmware
    # leaves the header out) is asked anyway, and its answer decides.
    if public is not None and "DESCRIBE" not in {m.upper() for m in session.report.public}:
        raise Broken("protocol_error", f"the server does not offer DESCRIBE (Public: {public.strip()})")
    answer = await session.send("DESCRIBE", {"Accept": "application/sdp"})
    if answer.status == 401:
        _challenged(session, answer)
        return
    _accept(answer, "DESCRIBE", session)
    session.report.streams = _streams(answer)
    _check_streams(session.report.streams, expected)


def _challenged(session: RtspSession, answer: Response) -> None:
    """A 401 that survived our credentials is a refusal; without credentials, the device is
    alive and says how it wants to be asked."""
    if not session.report.auth_offered:
        raise Broken("protocol_error", f"the server answered {_quote(answer.status_line)} without a challenge")
    if session.target.username is not None:
        scheme = session.report.auth or "/".join(session.report.auth_offered)
        raise Broken(
            "auth_failed",
            f"the server refused the credentials of {session.target.username!r} ({scheme}): {answer.status_line}",
        )


def _accept(answer: Response, method: str, session: RtspSession) -> None:
    if answer.status == 200:
        return
    what = f"{method} {session.uri} was answered {_quote(answer.status_line)}"
    if answer.status == 404 and method == "DESCRIBE":
        raise Broken("stream_missing", f"no stream at {session.uri}: {answer.status_line}")
    if answer.status == 403:
        raise Broken("auth_failed", f"access refused: {what}")
    raise Broken("protocol_error", what)


def _streams(answer: Response) -> list[Stream]:
    text = answer.body.decode("utf-8", "replace")
    kind = answer.headers.get("Content-Type", "")
    if not is_sdp(text) or (kind and kind.split(";")[0].strip().lower() != "application/sdp"):
        shown = f" (Content-Type {kind})" if kind else ""
        raise Broken("protocol_error", f"the answer to DESCRIBE is not SDP{shown}: {_quote(text)}")
    return media_streams(text)


def _check_streams(streams: list[Stream], expected: frozenset[str]) -> None:
    if not streams:
        raise Broken("stream_missing", "the SDP describes no media stream")
    missing = sorted(expected - {stream.media for stream in streams})
    if missing:
        offered = ", ".join(stream.words for stream in streams)
        noun = "stream" if len(missing) == 1 else "streams"
        raise Broken("stream_missing", f"no {' or '.join(missing)} {noun} in the SDP (it describes {offered})")


# --- the wire ----------------------------------------------------------------------------------


class RtspSession:
    """Requests over one connection: CSeq counted, answers read whole within the deadline,
    401s answered with the target's credentials."""

    def __init__(self, conn: Connection, target: Target, uri: str, report: Report, deadline: float) -> None:
        self.conn = conn
        self.target = target
        self.uri = uri
        self.report = report
        self.deadline = deadline
        self.cseq = 0
        self.challenge: Challenge | None = None  # the one being answered
        self.nc = 0  # requests sent with the challenge's nonce (Digest's nonce count)
        self.offered: list[Challenge] = []  # the challenges of the last 401

    async def send(self, method: str, headers: dict[str, str] | None = None) -> Response:
        """The request; a 401 is answered with the credentials, and once more when the server
        says only the nonce was stale. A 401 that stays is returned as it is."""
        answer = await self.request(method, headers or {})
        for _ in range(2):
            challenge = self._to_answer(answer)
            if challenge is None:
                break
            self.challenge, self.nc = challenge, 0
            self.report.auth = challenge.label
            answer = await self.request(method, headers or {})
        return answer

    def _to_answer(self, answer: Response) -> Challenge | None:
        """The challenge to answer with the credentials; None when there is no 401 to answer,
        no credentials to answer with, or the credentials were just refused."""
        if answer.status != 401 or self.target.username is None:
            return None
        challenge = preferred(self.offered)
        if challenge is None and self.offered:
            offered = "/".join(self.report.auth_offered)
            raise Broken("protocol_error", f"the server asks for {offered} authentication, unknown to ronda")
        if challenge is None or (self.challenge is not None and not challenge.stale):
            return None
        return challenge

    async def request(self, method: str, headers: dict[str, str]) -> Response:
        self.cseq += 1
        lines = [f"{method} {self.uri} RTSP/1.0", f"CSeq: {self.cseq}", f"User-Agent: {USER_AGENT}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if self.challenge is not None and self.target.username is not None:
            self.nc += 1
            # Digest's uri is the request's whole URL, as RTSP clients (live555, FFmpeg) send it.
            auth = authorization(
                self.challenge, self.target.username, self.target.password or "", method, self.uri, nc=self.nc
            )
            lines.append(f"Authorization: {auth}")
        answer = await self._exchange(method, ("\r\n".join(lines) + "\r\n\r\n").encode())
        self._note(answer)
        cseq = (answer.headers.get("CSeq") or "").strip()
        if cseq != str(self.cseq):
            carries = f"CSeq {cseq}" if cseq else "no CSeq"
            raise Broken("protocol_error", f"the answer to {method} carries {carries}, not the request's {self.cseq}")
        return answer

    def _note(self, answer: Response) -> None:
        self.report.status = answer.status
        self.report.server = answer.headers.get("Server", self.report.server)
        if answer.status == 401:
            self.offered = parse_challenges(answer.headers.get_all("WWW-Authenticate") or [])
            self.report.auth_offered = [c.label for c in self.offered]

    async def _exchange(self, method: str, request: bytes) -> Response:
        noun = f"answer to {method}"
        try:
            async with asyncio.timeout(max(self.deadline - time.monotonic(), 0.0)):
                self.conn.writer.write(request)
                await self.conn.writer.drain()
                return await read_response(self.conn.reader)
        except TimeoutError:
            raise Broken("protocol_error", f"the server sent no {noun} in time") from None
        except NotRtsp as exc:
            raise Broken("protocol_error", f"the server does not speak RTSP: its {noun} was {exc}") from None
        except asyncio.IncompleteReadError as exc:
            after = f" (after {_quote(exc.partial.decode('utf-8', 'replace'))})" if exc.partial else ""
            raise Broken("protocol_error", f"the server closed the connection before its {noun}{after}") from None
        except OSError as exc:
            raise Broken("protocol_error", f"the connection broke before the {noun} ({exc.strerror or exc})") from None


async def read_response(reader: asyncio.StreamReader) -> Response:
    """One RTSP response: the status line is checked before anything else is waited for
    (an HTTP server is named at once), then headers and a body of bounded size."""
    first = await _line(reader)
    match = _STATUS_LINE.fullmatch(first.rstrip(b"\r\n").decode("latin-1"))
    if match is None:
        raise NotRtsp(_quote(first))
    head = b""
    while (line := await _line(reader)) not in (b"\r\n", b"\n"):
        head += line
        if len(head) > MAX_HEAD or head.count(b"\n") > MAX_HEADER_LINES:
            raise NotRtsp(f"{_quote(first)} followed by more headers than an RTSP answer has")
    try:
        headers = http.client.parse_headers(io.BytesIO(head + b"\r\n"))
    except http.client.HTTPException as exc:
        raise NotRtsp(f"{_quote(first)} with headers that do not parse ({exc})") from None
    length = (headers.get("Content-Length") or "0").strip()
    if not length.isdigit():
        raise NotRtsp(f"{_quote(first)} with Content-Length {length!r}")
    if int(length) > MAX_BODY:
        raise NotRtsp(f"{_quote(first)} with a body of {length} bytes, more than ronda reads")
    body = await reader.readexactly(int(length))
    return Response(int(match.group(1)), (match.group(2) or "").strip(), headers, body)


async def _line(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise NotRtsp("(a line of more than 64 KiB)") from None


def _quote(text: str | bytes) -> str:
    """A reply as a finding quotes it: lines joined, cut short; bytes that are not text (a
    status line of garbage) escaped one by one, as they came."""
    shown = text.decode("latin-1") if isinstance(text, bytes) else text
    shown = " | ".join(line.strip() for line in shown.splitlines() if line.strip())
    shown = shown if len(shown) <= QUOTE_CHARS else shown[:QUOTE_CHARS] + "..."
    return ascii(shown) if isinstance(text, bytes) else repr(shown)


def _perfdata(rtsp: dict[str, Any]) -> list[str]:
    return [f"streams={len(rtsp['streams'])};;;0"] if rtsp["status"] == 200 else []  # what DESCRIBE described


def _detail(rtsp: dict[str, Any]) -> list[str]:
    auth = rtsp["auth"] or "none"
    offered = f" (offered: {', '.join(rtsp['auth_offered'])})" if rtsp["auth_offered"] else ""
    lines = [
        f"rtsp: {rtsp['address']} answered {rtsp['status']}, server {rtsp['server'] or 'unnamed'}, "
        f"authentication {auth}{offered}"
    ]
    if rtsp["public"]:
        lines.append(f"  methods: {', '.join(rtsp['public'])}")
    for stream in rtsp["streams"]:
        lines.append(f"  - {stream_words(stream)}, {stream['proto']}, track {stream['track'] or '-'}")
    return lines


SCHEME = ProbeScheme(probe_rtsp, facts="rtsp", words=rtsp_words, perfdata=_perfdata, detail=_detail)
