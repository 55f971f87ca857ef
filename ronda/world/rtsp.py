"""A loopback RTSP camera: OPTIONS and DESCRIBE (RFC 2326) with an SDP of its tracks, behind
Digest (MD5 or SHA-256, with `qop=auth` or without), Basic, or no authentication.

It breaks on command, like the world's web server, and the way cameras do: `tracks` may lose
the video (a camera whose sensor died still describes its audio), `mode` may make it answer
like an HTTP server, send garbage, say nothing, or turn every client away as busy; `stale`
makes it expire the nonce once, as cameras rotate theirs. Written on asyncio streams for the
same reason as `web.py`: a camera's misbehaviours are what servers are built not to do.

    camera = RtspServer(auth="digest", algorithms=("SHA-256",), users={"admin": "secret"})
    await camera.start()       # camera.url("admin:secret@") -> rtsp://admin:secret@127.0.0.1:PORT/stream1
    camera.tracks = [AUDIO]    # the camera lost its video track
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.request import parse_http_list, parse_keqv_list

from ronda.world.background import StreamServer, serve_connection

Auth = Literal["digest", "basic", "none"]
Mode = Literal[
    "serve",  # a healthy camera
    "busy",  # every request answered 503 Service Unavailable (too many clients)
    "http",  # an HTTP server on the port: it answers RTSP requests with HTTP's 400
    "garbage",  # bytes that are no protocol at all
    "silent",  # accepts and never says a word
]
SERVER = "ronda world camera/1.0"
METHODS = ("OPTIONS", "DESCRIBE", "SETUP", "PLAY", "PAUSE", "TEARDOWN", "GET_PARAMETER")
MAX_REQUEST = 1 << 14
_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}
_STALE = "\0stale"  # no user name: a right answer to a nonce the camera expires


@dataclass(frozen=True)
class Track:
    media: str  # video, audio, application
    codec: str
    clock_rate: int
    payload: int
    control: str
    channels: int | None = None

    def sdp(self) -> str:
        channels = f"/{self.channels}" if self.channels else ""
        return (
            f"m={self.media} 0 RTP/AVP {self.payload}\r\n"
            f"a=rtpmap:{self.payload} {self.codec}/{self.clock_rate}{channels}\r\n"
            f"a=control:{self.control}\r\n"
        )


VIDEO = Track("video", "H264", 90000, 96, "trackID=1")
AUDIO = Track("audio", "MPEG4-GENERIC", 16000, 97, "trackID=2", channels=1)
METADATA = Track("application", "vnd.onvif.metadata", 90000, 107, "trackID=3")  # ONVIF event and analytics data


def describe_sdp(tracks: Sequence[Track], address: str) -> str:
    """The session description of `tracks`, as a camera's DESCRIBE answers it."""
    session = [
        "v=0",
        f"o=- 1 1 IN IP4 {address}",
        "s=ronda world camera",
        f"c=IN IP4 {address}",
        "t=0 0",
        "a=control:*",
    ]
    return "".join(f"{line}\r\n" for line in session) + "".join(track.sdp() for track in tracks)


@dataclass(frozen=True)
class Request:
    method: str
    uri: str
    headers: dict[str, str]  # names lower-case


class RtspServer(StreamServer):
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls: ssl.SSLContext | None = None,
        auth: Auth = "none",
        algorithms: Sequence[str] = ("MD5",),  # Digest: one challenge each, in this order
        qop: bool = True,  # Digest: offer qop="auth" (else the RFC 2069 form)
        users: dict[str, str] | None = None,
        path: str = "/stream1",
        tracks: Sequence[Track] = (VIDEO, AUDIO),
        mode: Mode = "serve",
        realm: str = "ronda world camera",
    ) -> None:
        super().__init__(host, port)
        self.auth = auth
        self.algorithms = tuple(algorithms)
        self.qop = qop
        self.users = users if users is not None else {"admin": "secret"}
        self.path = path
        self.tracks = list(tracks)
        self.mode = mode
        self.realm = realm
        self.auth_options = False  # challenge OPTIONS too (some recorders do), not only DESCRIBE
        self.stale = False  # expire the next nonce that is answered correctly, once
        self.public: tuple[str, ...] = METHODS
        self.logins: list[tuple[str, str]] = []  # (user, scheme) of each request let in: "Digest SHA-256"
        self._tls = tls

    @property
    def scheme(self) -> str:
        return "rtsps" if self._tls else "rtsp"

    def url(self, userinfo: str = "", host: str | None = None, query: str = "") -> str:
        """`url("admin:secret@")`, `url(query="?expect=video")`."""
        return f"{self.scheme}://{userinfo}{host or self.host}:{self.port}{self.path}{query}"

    async def start(self) -> None:
        await self.listen(self._tls, limit=MAX_REQUEST)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_connection(self._tasks, writer, self._session(reader, writer))

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "silent":
            await asyncio.sleep(3600)
        nonce = secrets.token_hex(16)  # one per connection, as cameras do
        while True:
            request = await _read_request(reader)
            if self.mode in ("http", "garbage"):
                writer.write(_NOT_RTSP[self.mode])
                return await writer.drain()
            status, headers, body, nonce = self._answer(request, nonce)
            writer.write(_response(status, request.headers.get("cseq", "0"), headers, body))
            await writer.drain()

    def _answer(self, request: Request, nonce: str) -> tuple[int, list[tuple[str, str]], bytes, str]:
        """(status, headers, body, the connection's nonce from now on) for one request."""
        if self.mode == "busy":
            return 503, [], b"", nonce
        if request.method not in self.public or request.method not in ("OPTIONS", "DESCRIBE"):
            return 501, [], b"", nonce  # it describes its streams; it sends none
        guarded = request.method == "DESCRIBE" or (request.method == "OPTIONS" and self.auth_options)
        if guarded and self.auth != "none":
            login = self._login(request, nonce)
            if login is None or login == _STALE:
                stale = login == _STALE
                nonce = secrets.token_hex(16) if stale else nonce
                return 401, self._challenges(nonce, stale), b"", nonce
        if request.method == "OPTIONS":
            return 200, [("Public", ", ".join(self.public))], b"", nonce
        if request.uri.split("?")[0].split("://", 1)[-1].partition("/")[2] != self.path.lstrip("/"):
            return 404, [], b"", nonce
        sdp = describe_sdp(self.tracks, self.host).encode()
        return 200, [("Content-Type", "application/sdp"), ("Content-Base", request.uri + "/")], sdp, nonce

    def _challenges(self, nonce: str, stale: bool) -> list[tuple[str, str]]:
        if self.auth == "basic":
            return [("WWW-Authenticate", f'Basic realm="{self.realm}"')]
        qop = ', qop="auth"' if self.qop else ""
        extra = ", stale=TRUE" if stale else ""
        return [
            ("WWW-Authenticate", f'Digest realm="{self.realm}", nonce="{nonce}", algorithm={algorithm}{qop}{extra}')
            for algorithm in self.algorithms
        ]

    def _login(self, request: Request, nonce: str) -> str | None:
        """The user let in, _STALE for a right answer to a nonce to expire, or None."""
        given = request.headers.get("authorization", "")
        scheme, _, credentials = given.partition(" ")
        if self.auth == "basic" and scheme.lower() == "basic":
            user, _, password = base64.b64decode(credentials).decode().partition(":")
            return self._let_in(user, "Basic") if self.users.get(user) == password else None
        if self.auth != "digest" or scheme.lower() != "digest":
            return None
        fields = parse_keqv_list(parse_http_list(credentials))
        algorithm = fields.get("algorithm", "MD5")
        user = fields.get("username", "")
        if fields.get("nonce") != nonce or algorithm not in self.algorithms or user not in self.users:
            return None
        if fields.get("response") != self._expected(fields, request.method, self.users[user]):
            return None
        if self.stale:
            self.stale = False
            return _STALE
        return self._let_in(user, f"Digest {algorithm}")

    def _let_in(self, user: str, scheme: str) -> str:
        self.logins.append((user, scheme))
        return user

    def _expected(self, fields: dict[str, str], method: str, password: str) -> str:
        def h(text: str) -> str:
            return _HASHES[fields.get("algorithm", "MD5")](text.encode()).hexdigest()

        secret = h(f"{fields['username']}:{self.realm}:{password}")
        digest = h(f"{method}:{fields.get('uri', '')}")
        if self.qop:
            if fields.get("qop") != "auth":
                return ""  # qop was offered: a client that leaves it out does not get in
            return h(f"{secret}:{fields['nonce']}:{fields.get('nc')}:{fields.get('cnonce')}:auth:{digest}")
        return h(f"{secret}:{fields['nonce']}:{digest}")


_NOT_RTSP = {
    "http": b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    "garbage": b"\x00\xff\xfe garbage \x13\x37\r\n\r\n",
}
_REASONS = {200: "OK", 401: "Unauthorized", 404: "Not Found", 501: "Not Implemented", 503: "Service Unavailable"}


async def _read_request(reader: asyncio.StreamReader) -> Request:
    head = await reader.readuntil(b"\r\n\r\n")
    first, *lines = head.decode("utf-8", "replace").split("\r\n")
    method, uri, _ = [*first.split(" "), "", ""][:3]
    headers = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return Request(method.upper(), uri, headers)


def _response(status: int, cseq: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    lines = [f"RTSP/1.0 {status} {_REASONS.get(status, 'Status')}", f"CSeq: {cseq}", f"Server: {SERVER}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
